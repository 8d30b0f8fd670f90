/* http_internal.h: what the files of the HTTP server share and nobody else sees: the server, the
 * per-connection state, the request behind a pl_http_req, and the functions one file of src/http offers
 * the others (http.c: connections, parsing, responses; http_static.c: files from the web root and path
 * normalization; http_routes.c: /healthz, /metrics, host-meta, the loop-lag timer). */
#ifndef PL_HTTP_INTERNAL_H
#define PL_HTTP_INTERNAL_H
#include "core/buf.h"
#include "http/http.h"
#include <llhttp.h>
#include <stdint.h>

#define HTTP_MAX_ROUTES 32
#define HTTP_MAX_HEADERS 100 /* header lines per request; more -> 431 */
#define HTTP_MAX_METRICS_SOURCES 8

typedef struct hconn hconn;
typedef struct static_job static_job;

typedef struct http_route {
	char *method; /* NULL = any */
	char *prefix;
	size_t prefix_len;
	pl_http_handler fn;
	void *ud;
} http_route;

typedef struct metrics_source {
	void (*fn)(pl_buf *out, void *ud);
	void *ud;
} metrics_source;

struct pl_http {
	uv_loop_t *loop;
	pl_net *net;
	pl_listener *listeners[16];
	int listener_tls[16]; /* 1 for an HTTPS listener */
	int nlisteners;
	/* options (owned copies) */
	char *web_root;      /* as configured */
	char *web_root_real; /* realpath() of it, NULL when missing */
	char **trusted;
	size_t ntrusted;
	char **cors;
	size_t ncors;
	pl_http_limits limits;
	http_route routes[HTTP_MAX_ROUTES];
	int nroutes;
	metrics_source msources[HTTP_MAX_METRICS_SOURCES];
	int nmsources;
	hconn *conns; /* every HTTP connection (for pl_http_free) */
	pl_http_stats stats;
	llhttp_settings_t settings;
	uv_timer_t *lag_timer;
	uint64_t lag_expected_ns; /* when the lag timer should fire next (uv_hrtime) */
	double loop_lag;          /* seconds, last measurement */
	int freeing;              /* pl_http_free called: freed when the last connection goes */
};

typedef struct http_header {
	char *name;
	char *value;
} http_header;

/* The request behind a pl_http_req (pub first, so the pointers convert both ways). */
typedef struct hreq {
	pl_http_req pub;
	hconn *hc;
	http_header headers[HTTP_MAX_HEADERS];
	int nheaders;
	char *method_s, *path_s, *raw_path_s, *query_s;
	pl_buf body;
	char client_ip[64];
	int head;       /* HEAD: headers only */
	int keep_alive; /* the connection may carry another request after this one */
	int answered;   /* a response was started */
	pl_http_abort_cb abort_cb;
	void *abort_ud;
	static_job *sj; /* static file transfer in progress */
} hreq;

enum hconn_state {
	HC_READING,  /* parsing a request */
	HC_HANDLING, /* a request is with a handler (or a static transfer); input waits */
	HC_CLOSING,  /* a final response was sent or the connection is going */
};

struct hconn {
	pl_http *h;
	pl_conn *conn; /* NULL once the connection is gone */
	hconn *prev, *next;
	int refs; /* the connection + asynchronous operations in flight */
	enum hconn_state state;
	llhttp_t parser;
	uv_timer_t *timer; /* request / keep-alive timeout */
	pl_buf in;      /* received bytes not yet parsed (input that arrived while a request was handled) */
	int in_process; /* process_input is on the stack */
	int requests;   /* requests started on this connection */
	int in_message; /* bytes of a request arrived and it is not complete yet */
	/* the request being parsed */
	hreq *cur;
	pl_buf url, field, value;
	int last_was_value;
	size_t header_bytes;
	int error_status; /* set by a callback that stops parsing (413, 431, 400) */
	/* the request answered or being answered (== cur until the next one starts) */
	hreq *active;
};

/* ---- http.c ---- */
/* Writes the status line and the common headers (Date, Server, security headers, CORS, Connection)
 * into out; the caller adds its own headers and the blank line. */
void http_head_start(hreq *r, pl_buf *out, int status);
/* Ends the response of r (static transfers): the connection goes on with the next request or closes. */
void http_response_done(hreq *r);
/* Writes to the connection; returns 0 or an error (then the connection is being closed). */
int http_write(hconn *hc, const void *data, size_t len);
void hconn_ref(hconn *hc);
void hconn_unref(hconn *hc);
const char *http_status_text(int status);

/* Fuzzing entry point: runs data (split in two parts at a point chosen by its first byte) through the
 * request parser, the limits and the request preparation (URL, path normalization, Host, proxies),
 * without sockets. Returns the number of complete requests. */
int pl_http_parse_for_fuzz(const char *data, size_t len);

/* ---- http_static.c ---- */
/* Percent-decodes raw (once) and normalizes "." and ".." segments into a new string. Returns 0,
 * PL_EPARSE for a bad escape (400) or PL_ENOTFOUND for a path leaving the root or holding NUL or a
 * backslash (404). A trailing '/' is kept. */
int http_normalize_path(const char *raw, size_t len, char **out);
/* Serves req->path from the web root (GET/HEAD), answering 404 when there is nothing. */
void http_serve_static(hreq *r);
/* Drops a transfer in progress (the connection went). */
void http_static_abort(hreq *r);

/* ---- http_routes.c ---- */
void http_routes_init(pl_http *h);
void http_routes_free(pl_http *h);

#endif
