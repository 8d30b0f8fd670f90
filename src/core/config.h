/* config.h: parley's configuration. It owns the INI loader (inih), the table of known sections and keys
 * with their types, ranges and defaults (STYLE.md rule 8), command-line overrides (--section.key=value,
 * applied after the file), and error messages that name the file and line. Later features add rows to
 * the table in config.c and fields here. Relative paths are kept as written (relative to the working
 * directory of the process). */
#ifndef PL_CORE_CONFIG_H
#define PL_CORE_CONFIG_H
#include <stddef.h>

typedef struct pl_strlist {
	char **items;
	size_t n;
} pl_strlist;

typedef struct pl_config {
	char *path; /* file it was loaded from */

	/* [daemon] */
	pl_strlist listen;   /* listen = 127.0.0.1, ::1   (addresses for every listener; default "0.0.0.0") */
	int c2s_port;        /* c2s_port = 5222 (0 disables) */
	int c2s_tls_port;    /* c2s_tls_port = 5223 (Direct TLS, XEP-0368; 0 disables) */
	char *log_level;     /* log_level = info  (debug|info|warn|error) */
	char *pid_file;      /* pid_file = (empty = none) */
	char *admin_socket;  /* admin_socket = ./var/parley.sock (unix socket for parleyctl status) */
	char *data_dir;      /* data_dir = ./var */

	/* [hosts] */
	pl_strlist hosts;           /* hosts = localhost   (virtual hosts with accounts) */
	pl_strlist anonymous_hosts; /* anonymous = anon.localhost  (hosts that accept SASL ANONYMOUS
	                               only; also served as virtual hosts) */

	/* [tls] */
	char *cert;             /* cert = ./var/tls/cert.pem */
	char *key;              /* key = ./var/tls/key.pem */
	int self_signed;        /* self_signed = true: generate cert/key when missing */
	int starttls_required;  /* starttls_required = true */
	int channel_binding;    /* channel_binding = true: offer SCRAM-*-PLUS (tls-exporter, TLS 1.3) */

	/* [limits] */
	int max_connections;        /* max_connections = 20000 */
	int max_connections_per_ip; /* max_connections_per_ip = 0 (0 = unlimited) */
	int c2s_rate;               /* c2s_rate = 10240  bytes/s per connection, 0 = unlimited */
	int c2s_burst;              /* c2s_burst = 2     seconds of rate */
	int max_stanza_size;        /* max_stanza_size = 262144 */
	int max_output_queue;       /* max_output_queue = 1048576 bytes per connection */
	int auth_timeout;           /* auth_timeout = 30   seconds to authenticate */
	int idle_timeout;           /* idle_timeout = 600  seconds without input before a ping/close */
	int max_offline;            /* max_offline = 500   offline messages kept per user */
	int max_resources;          /* max_resources = 10  sessions per account */
	int sm_resume_timeout;      /* sm_resume_timeout = 300 seconds a detached XEP-0198 session waits */
	int sm_max_unacked;         /* sm_max_unacked = 500 stanzas unacked before the stream is closed */
	int scram_iterations;       /* scram_iterations = 10000 */

	/* [store] */
	char *store_backend; /* backend = sqlite  (sqlite; postgresql later) */
	char *store_path;    /* path = ./var/parley.db */
	char *store_dsn;     /* dsn = (for postgresql) */

	/* [http] */
	int http_port;               /* port = 8080 (HTTP for the web client, WebSocket, BOSH; 0 disables) */
	pl_strlist http_listen;      /* listen = 0.0.0.0  (addresses of the HTTP listener) */
	int http_tls;                /* tls = false: HTTPS on that port with the [tls] certificate */
	char *web_root;              /* web_root = ./web/dist  (static files; empty = none) */
	pl_strlist trusted_proxies;  /* trusted_proxies =  (IPs whose X-Forwarded-For/-Proto count) */
	pl_strlist cors_origins;     /* cors_origins =  (allowed Origin values, "*" = any) */
	int http_max_header_size;    /* max_header_size = 16384 bytes (request line + headers) */
	int http_max_body_size;      /* max_body_size = 1048576 bytes */
	int http_request_timeout;    /* request_timeout = 30 seconds to send a whole request */
	int http_keepalive_timeout;  /* keepalive_timeout = 60 seconds an idle keep-alive connection stays */

	/* [bosh] (XEP-0124/0206 at /http-bind) */
	int bosh_max_wait;     /* max_wait = 60     longest a BOSH request is held, seconds */
	int bosh_inactivity;   /* inactivity = 60   seconds without a request before the session ends */
	int bosh_max_requests; /* max_requests = 2  simultaneous requests per session (hold = this - 1) */

	/* [muc] (XEP-0045 multi-user chat, src/muc) */
	pl_strlist muc_domains;  /* domains = room.localhost  (MUC service domains; not virtual hosts) */
	int muc_max_occupants;   /* max_occupants = 10000  per room */
	int muc_history_length;  /* history_length = 20  messages kept in memory per room for newcomers */
} pl_config;

/* Loads path (NULL = defaults only), then applies overrides ("section.key=value", each without the
 * leading "--"). On success returns 0 and *out (free with pl_config_free). On error returns PL_EINVAL or
 * PL_EIO and writes a message of the form "parley.ini:12: [limits] c2s_rate: not an integer" (or
 * "command line: --limits.c2s_rate: ...") into err. Unknown sections and keys are errors. */
int pl_config_load(const char *path, const char *const *overrides, size_t noverrides, pl_config **out,
	char *err, size_t errlen);
/* Same as pl_config_load with the file content given in memory (data, len; need not be NUL-terminated);
 * name is used in messages and stored as path (NULL shows "(config)"). Used by tests and the fuzzer. */
int pl_config_load_buffer(const char *name, const char *data, size_t len, const char *const *overrides,
	size_t noverrides, pl_config **out, char *err, size_t errlen);
void pl_config_free(pl_config *c);
/* 1 if host is a configured virtual host (normal or anonymous). */
int pl_config_is_host(const pl_config *c, const char *host);
/* 1 if host is an anonymous host. */
int pl_config_is_anonymous_host(const pl_config *c, const char *host);

#endif
