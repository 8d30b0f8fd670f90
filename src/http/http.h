/* http.h: parley's HTTP/1.1 server on the libuv loop (connections from net.c, request parsing with
 * llhttp built from Debian's /usr/share/llhttp sources). It owns request parsing with limits (header
 * size -> 431, body size -> 413, slow requests -> 408, malformed -> 400), keep-alive, routing by method
 * and path prefix, responses with the security headers, JSON errors, static files from the web root
 * (MIME types, ETag/304, precompressed .gz, no path traversal), trusted-proxy handling of
 * X-Forwarded-For/-Proto, CORS, and the hand-over of a connection to an upgraded protocol (WebSocket).
 * Handlers may answer later (BOSH long polling): the request stays alive until answered or until the
 * connection goes, which the handler learns through its abort callback.
 *
 * It knows nothing of XMPP: /xmpp-websocket, /http-bind, /.well-known/host-meta, /healthz and /metrics are
 * routes registered by other modules (or by http_routes.c for the generic ones). */
#ifndef PL_HTTP_HTTP_H
#define PL_HTTP_HTTP_H
#include <stddef.h>
#include <uv.h>
#include "core/net.h"

typedef struct pl_http pl_http;
typedef struct pl_http_req pl_http_req;

typedef struct pl_http_limits {
	size_t max_header_bytes;   /* request line + headers; over -> 431 */
	size_t max_body_bytes;     /* over -> 413 */
	int request_timeout_ms;    /* a request not complete in time -> 408 and close */
	int keepalive_timeout_ms;  /* idle keep-alive connection closed after this */
	int max_requests_per_conn; /* keep-alive requests before Connection: close; 0 = unlimited */
} pl_http_limits;

typedef struct pl_http_opts {
	const char *web_root;                 /* static files; NULL = none */
	const char *const *trusted_proxies;   /* IPs whose X-Forwarded-For/-Proto are honoured */
	size_t ntrusted_proxies;
	const char *const *cors_origins;      /* allowed Origin values ("*" = any) */
	size_t ncors_origins;
	pl_http_limits limits;
} pl_http_opts;

/* A parsed request. Strings are NUL-terminated and valid until the response is sent (or the request is
 * aborted). path is percent-decoded and normalized (no "." / ".." segments: a path that would leave the
 * root is answered 404 before any handler sees it). */
struct pl_http_req {
	const char *method;    /* "GET", "POST", ... */
	const char *path;      /* decoded, e.g. "/http-bind" */
	const char *raw_path;  /* as received, without the query */
	const char *query;     /* after '?', or "" */
	const char *body;      /* NUL-terminated for convenience */
	size_t body_len;
	const char *client_ip; /* peer address, or the X-Forwarded-For client behind a trusted proxy */
	int secure;            /* TLS on this connection, or X-Forwarded-Proto: https from a trusted proxy */
	pl_conn *conn;
	void *ud;              /* for the handler (e.g. the BOSH session waiting on this request) */
};

/* Returns the value of header name (case-insensitive), or NULL. Repeated headers are joined by ", ". */
const char *pl_http_header(const pl_http_req *req, const char *name);

/* A route handler. It either answers now (pl_http_respond*) or keeps req to answer later; in the latter
 * case it may set an abort callback, called once if the connection closes before the answer (req is
 * freed right after it; the handler must drop its pointer). */
typedef void (*pl_http_handler)(pl_http_req *req, void *ud);
typedef void (*pl_http_abort_cb)(pl_http_req *req, void *ud);
void pl_http_set_abort(pl_http_req *req, pl_http_abort_cb cb, void *ud);

/* Creates the server; it listens on each address of addrs at port (tls != NULL: HTTPS). */
int pl_http_new(uv_loop_t *loop, pl_net *net, const pl_http_opts *opts, pl_http **out);
int pl_http_listen(pl_http *h, const char *addr, int port, pl_tls_ctx *tls);
/* Switches the HTTPS listeners (those given a tls context) to tls (certificate reload). */
void pl_http_set_tls(pl_http *h, pl_tls_ctx *tls);
/* Applies new options (SIGHUP); strings are copied. */
void pl_http_set_opts(pl_http *h, const pl_http_opts *opts);
/* Closes listeners and every connection (pending requests are aborted). */
void pl_http_free(pl_http *h);

/* Routes: method NULL = any; prefix matches the whole path or a path below it ("/http-bind" matches
 * "/http-bind" and "/http-bind/x"); the longest matching prefix wins; unmatched GET/HEAD go to the static
 * files, the rest get 404. OPTIONS preflight for CORS is answered by the server itself. */
void pl_http_route(pl_http *h, const char *method, const char *prefix, pl_http_handler fn, void *ud);

/* Answers req and frees it (the connection stays for the next keep-alive request). extra_headers is NULL
 * or "Name: value\r\n" lines. Status 101 is the exception: req stays valid and the caller must call
 * pl_http_take_conn next. Returns 0 or PL_ESTATE if req was already answered. */
int pl_http_respond(pl_http_req *req, int status, const char *content_type, const void *body, size_t len,
	const char *extra_headers);
/* {"error": code, "message": message} with the status. */
int pl_http_respond_error(pl_http_req *req, int status, const char *code, const char *message);

/* Takes the connection away from HTTP for an upgraded protocol: after the handler has written its 101
 * response with pl_http_respond(req, 101, ...), this returns the connection (its handler and ud are the
 * caller's to set) and any bytes already received after the request (the caller frees *leftover;
 * NULL when none). req is freed. The connection comes back paused with handler and ud NULL: set them,
 * then call pl_conn_resume. Returns 0 or PL_ESTATE. */
int pl_http_take_conn(pl_http_req *req, pl_conn **conn, char **leftover, size_t *leftover_len);

/* Adds a source of /metrics lines: fn appends complete Prometheus text-format lines (0.0.4, with their
 * # HELP and # TYPE) to out each time /metrics is served. At most 8 sources. */
void pl_http_add_metrics_source(pl_http *h, void (*fn)(pl_buf *out, void *ud), void *ud);

/* Counters for /metrics. */
typedef struct pl_http_stats {
	unsigned long long requests, responses_4xx, responses_5xx;
	int connections;
} pl_http_stats;
void pl_http_get_stats(const pl_http *h, pl_http_stats *out);

#endif
