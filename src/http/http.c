/* http.c: the HTTP/1.1 server core (see http.h). It owns the listeners, one hconn per accepted
 * connection with its llhttp parser, the limits enforced while parsing (header bytes -> 431, body bytes
 * -> 413 from Content-Length before the body or while a chunked body arrives, malformed -> 400, a
 * request not complete within request_timeout -> 408; each of these closes the connection), keep-alive
 * and pipelining (a parsed request pauses reading and parsing until it is answered, so responses go out
 * in request order; bytes already received wait in hconn.in), dispatch by method and longest path
 * prefix, the CORS preflight, trusted-proxy handling, and writing responses with the common headers.
 * Static files are http_static.c's, the generic routes http_routes.c's.
 *
 * Lifetime: an hconn is referenced by its connection (dropped in on_close) and by each asynchronous
 * file operation in flight; the pl_http lives until pl_http_free and its last hconn. */
#include "http/http_internal.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_IN_HIGH_WATER 65536 /* input buffered while a request is handled before reading pauses */

static const char CSP[] =
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'self'";

static void process_input(hconn *hc);
static void hconn_close(hconn *hc, int status);

/* ---- small helpers ---- */

const char *http_status_text(int s)
{
	switch (s) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return s < 300 ? "OK" : s < 400 ? "Redirect" : s < 500 ? "Client Error" : "Server Error";
	}
}

static const char *error_code(int s)
{
	switch (s) {
	case 400:
		return "bad-request";
	case 404:
		return "not-found";
	case 405:
		return "method-not-allowed";
	case 408:
		return "request-timeout";
	case 413:
		return "body-too-large";
	case 431:
		return "headers-too-large";
	default:
		return "error";
	}
}

static void http_date(char out[40])
{
	static time_t cached_t;
	static char cached[40];
	time_t now = time(NULL);
	if (now != cached_t || !cached[0]) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cached_t = now;
	}
	memcpy(out, cached, sizeof cached);
}

static char **copy_list(const char *const *items, size_t n)
{
	char **l = pl_calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		l[i] = pl_strdup(items[i]);
	return l;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

/* Binary form of an IP address for comparisons; 0 when text is not one. */
static int ip_parse(const char *text, unsigned char out[16], int *family)
{
	if (inet_pton(AF_INET, text, out) == 1) return *family = AF_INET, 1;
	if (inet_pton(AF_INET6, text, out) == 1) return *family = AF_INET6, 1;
	return 0;
}

static int ip_trusted(const pl_http *h, const char *ip)
{
	unsigned char a[16], b[16];
	int fa, fb;
	if (!ip_parse(ip, a, &fa)) return 0;
	for (size_t i = 0; i < h->ntrusted; i++)
		if (ip_parse(h->trusted[i], b, &fb) && fa == fb && !memcmp(a, b, fa == AF_INET ? 4 : 16))
			return 1;
	return 0;
}

static int origin_allowed(const pl_http *h, const char *origin)
{
	if (!origin) return 0;
	for (size_t i = 0; i < h->ncors; i++)
		if (!strcmp(h->cors[i], "*") || !strcasecmp(h->cors[i], origin)) return 1;
	return 0;
}

/* Host header: hostname or [IPv6] with an optional :port. */
static int host_valid(const char *host)
{
	const char *p = host;
	if (!*p || strlen(host) > 255) return 0;
	if (*p == '[') {
		p++;
		while (*p && (strchr("0123456789abcdefABCDEF:.", *p)))
			p++;
		if (*p != ']') return 0;
		p++;
	} else {
		const char *start = p;
		while (*p && (((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (*p >= '0' && *p <= '9') ||
		              *p == '.' || *p == '-' || *p == '_'))
			p++;
		if (p == start) return 0;
	}
	if (*p == ':') {
		p++;
		int digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 6)
			p++, digits++;
		if (!digits) return 0;
	}
	return *p == 0;
}

/* ---- requests ---- */

static hreq *req_new(hconn *hc)
{
	hreq *r = PL_NEW(hreq);
	r->hc = hc;
	pl_buf_init(&r->body);
	return r;
}

static void req_free(hreq *r)
{
	if (!r) return;
	for (int i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->method_s);
	free(r->path_s);
	free(r->raw_path_s);
	free(r->query_s);
	pl_buf_free(&r->body);
	free(r);
}

const char *pl_http_header(const pl_http_req *req, const char *name)
{
	const hreq *r = (const hreq *)req;
	for (int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
	return NULL;
}

void pl_http_set_abort(pl_http_req *req, pl_http_abort_cb cb, void *ud)
{
	hreq *r = (hreq *)req;
	r->abort_cb = cb;
	r->abort_ud = ud;
}

/* ---- writing ---- */

int http_write(hconn *hc, const void *data, size_t len)
{
	if (!hc->conn) return PL_ECLOSED;
	int rc = pl_conn_write_data(hc->conn, data, len);
	if (rc == PL_ELIMIT) {
		PL_WARN(hc->conn->id, "http: output queue over its limit: closing");
		pl_conn_abort(hc->conn);
	}
	return rc;
}

void http_head_start(hreq *r, pl_buf *out, int status)
{
	hconn *hc = r->hc;
	pl_http *h = hc->h;
	char date[40];
	http_date(date);
	if (status >= 500)
		h->stats.responses_5xx++;
	else if (status >= 400)
		h->stats.responses_4xx++;
	PL_INFO(hc->conn ? hc->conn->id : 0, "http: %s %s %d from %s", r->pub.method ? r->pub.method : "-",
	        r->pub.raw_path ? r->pub.raw_path : "-", status, r->pub.client_ip ? r->pub.client_ip : "-");
	pl_buf_printf(out,
	              "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: parley\r\nContent-Security-Policy: %s\r\n"
	              "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
	              "X-Frame-Options: SAMEORIGIN\r\n",
	              status, http_status_text(status), date, CSP);
	const char *origin = r->nheaders ? pl_http_header(&r->pub, "Origin") : NULL;
	if (origin && origin_allowed(h, origin))
		pl_buf_printf(out, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
	if (status != 101)
		pl_buf_appends(out, r->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
}

int pl_http_respond(pl_http_req *req, int status, const char *content_type, const void *body, size_t len,
                    const char *extra_headers)
{
	hreq *r = (hreq *)req;
	if (r->answered) return PL_ESTATE;
	r->answered = 1;
	pl_buf out = PL_BUF_INIT;
	int has_body = status != 101 && status != 204 && status != 304 && status >= 200;
	http_head_start(r, &out, status);
	if (has_body) {
		if (content_type) pl_buf_printf(&out, "Content-Type: %s\r\n", content_type);
		pl_buf_printf(&out, "Content-Length: %zu\r\n", len);
	}
	if (extra_headers) pl_buf_appends(&out, extra_headers);
	pl_buf_appends(&out, "\r\n");
	if (has_body && !r->head && len) pl_buf_append(&out, body, len);
	http_write(r->hc, out.data, out.len);
	pl_buf_free(&out);
	if (status == 101) return 0;
	http_response_done(r);
	return 0;
}

int pl_http_respond_error(pl_http_req *req, int status, const char *code, const char *message)
{
	pl_buf b = PL_BUF_INIT;
	pl_buf_appends(&b, "{\"error\": \"");
	for (const char *s = code; s && *s; s++)
		if (*s >= 0x20 && *s != '"' && *s != '\\') pl_buf_appendc(&b, *s);
	pl_buf_appends(&b, "\", \"message\": \"");
	for (const unsigned char *s = (const unsigned char *)message; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			pl_buf_printf(&b, "\\%c", *s);
		else if (*s < 0x20)
			pl_buf_printf(&b, "\\u%04x", *s);
		else
			pl_buf_appendc(&b, (char)*s);
	}
	pl_buf_appends(&b, "\"}");
	int rc = pl_http_respond(req, status, "application/json", b.data, b.len, NULL);
	pl_buf_free(&b);
	return rc;
}

static void timer_start(hconn *hc, int ms);

void http_response_done(hreq *r)
{
	hconn *hc = r->hc;
	int keep = r->keep_alive;
	if (hc->active == r) hc->active = NULL;
	req_free(r);
	if (!hc->conn || hc->state == HC_CLOSING) return;
	if (!keep) {
		hc->state = HC_CLOSING;
		uv_timer_stop(hc->timer);
		pl_conn_close(hc->conn);
		return;
	}
	hc->state = HC_READING;
	timer_start(hc, hc->h->limits.keepalive_timeout_ms);
	pl_conn_resume(hc->conn);
	process_input(hc);
}

/* An error found while parsing: answer without a handler and close. */
static void hconn_close(hconn *hc, int status)
{
	if (!hc->conn || hc->state == HC_CLOSING) return;
	hc->state = HC_CLOSING;
	uv_timer_stop(hc->timer);
	if (status) {
		hreq *r = hc->cur ? hc->cur : req_new(hc);
		r->keep_alive = 0;
		r->answered = 1;
		if (!r->pub.client_ip) r->pub.client_ip = hc->conn->peer_ip;
		char body[128];
		int n = snprintf(body, sizeof body, "{\"error\": \"%s\", \"message\": \"%s\"}",
		                 error_code(status), http_status_text(status));
		pl_buf out = PL_BUF_INIT;
		http_head_start(r, &out, status);
		pl_buf_printf(&out, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", n,
		              body);
		http_write(hc, out.data, out.len);
		pl_buf_free(&out);
		if (r != hc->cur) req_free(r);
	}
	if (hc->conn) pl_conn_close(hc->conn);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t)
{
	hconn *hc = t->data;
	if (!hc->conn || hc->state != HC_READING) return;
	if (hc->in_message || hc->in.len) {
		PL_DEBUG(hc->conn->id, "http: request not complete in time");
		hconn_close(hc, 408);
	} else {
		PL_DEBUG(hc->conn->id, "http: idle connection closed");
		hc->state = HC_CLOSING;
		pl_conn_close(hc->conn);
	}
}

static void timer_start(hconn *hc, int ms)
{
	uv_timer_start(hc->timer, on_timer, (uint64_t)(ms > 0 ? ms : 1), 0);
}

/* ---- llhttp callbacks ---- */

static int over_headers(hconn *hc, size_t more)
{
	hc->header_bytes += more;
	if (hc->header_bytes > hc->h->limits.max_header_bytes) {
		hc->error_status = 431;
		return -1;
	}
	return 0;
}

static int cb_message_begin(llhttp_t *p)
{
	hconn *hc = p->data;
	req_free(hc->cur);
	hc->cur = req_new(hc);
	hc->in_message = 1;
	hc->header_bytes = 0;
	hc->requests++;
	pl_buf_reset(&hc->url);
	pl_buf_reset(&hc->field);
	pl_buf_reset(&hc->value);
	if (hc->conn) timer_start(hc, hc->h->limits.request_timeout_ms);
	return 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t len)
{
	hconn *hc = p->data;
	if (over_headers(hc, len)) return -1;
	pl_buf_append(&hc->url, at, len);
	return 0;
}

static int cb_header_field(llhttp_t *p, const char *at, size_t len)
{
	hconn *hc = p->data;
	if (over_headers(hc, len)) return -1;
	pl_buf_append(&hc->field, at, len);
	return 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t len)
{
	hconn *hc = p->data;
	if (over_headers(hc, len)) return -1;
	pl_buf_append(&hc->value, at, len);
	return 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
	hconn *hc = p->data;
	hreq *r = hc->cur;
	if (over_headers(hc, 4)) return -1; /* ": " and CRLF */
	const char *name = hc->field.len ? hc->field.data : "";
	const char *value = hc->value.len ? hc->value.data : "";
	size_t vlen = hc->value.len;
	while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;
	if (memchr(value, 0, vlen) || memchr(name, 0, hc->field.len)) {
		hc->error_status = 400;
		return -1;
	}
	int i;
	for (i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name)) break;
	if (i < r->nheaders) { /* repeated: joined by ", " */
		size_t old = strlen(r->headers[i].value);
		r->headers[i].value = pl_realloc(r->headers[i].value, old + 2 + vlen + 1);
		memcpy(r->headers[i].value + old, ", ", 2);
		memcpy(r->headers[i].value + old + 2, value, vlen);
		r->headers[i].value[old + 2 + vlen] = 0;
	} else {
		if (r->nheaders >= HTTP_MAX_HEADERS) {
			hc->error_status = 431;
			return -1;
		}
		r->headers[r->nheaders].name = pl_strdup(name);
		r->headers[r->nheaders].value = pl_strndup(value, vlen);
		r->nheaders++;
	}
	pl_buf_reset(&hc->field);
	pl_buf_reset(&hc->value);
	return 0;
}

static int cb_headers_complete(llhttp_t *p)
{
	hconn *hc = p->data;
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > hc->h->limits.max_body_bytes) {
		hc->error_status = 413;
		return -1;
	}
	const char *expect = hc->cur ? pl_http_header(&hc->cur->pub, "Expect") : NULL;
	if (expect && !strcasecmp(expect, "100-continue") && hc->conn && p->http_minor >= 1)
		http_write(hc, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len)
{
	hconn *hc = p->data;
	hreq *r = hc->cur;
	if (r->body.len + len > hc->h->limits.max_body_bytes) {
		hc->error_status = 413;
		return -1;
	}
	pl_buf_append(&r->body, at, len);
	return 0;
}

static int cb_message_complete(llhttp_t *p)
{
	hconn *hc = p->data;
	hreq *r = hc->cur;
	r->method_s = pl_strdup(llhttp_method_name((llhttp_method_t)p->method));
	r->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
	r->pub.method = r->method_s;
	hc->active = r;
	hc->cur = NULL;
	hc->in_message = 0;
	return HPE_PAUSED;
}

/* ---- dispatch ---- */

/* Fills the public fields of r from what was parsed. Returns 0 or the status of an error response. */
static int prepare_request(hconn *hc, hreq *r)
{
	pl_http *h = hc->h;
	const char *url = hc->url.len ? hc->url.data : "";
	size_t ulen = hc->url.len;
	const char *q = memchr(url, '?', ulen);
	size_t plen = q ? (size_t)(q - url) : ulen;
	r->query_s = q ? pl_strndup(q + 1, ulen - plen - 1) : pl_strdup("");
	const char *path = url;
	if (plen >= 7 &&
	    (!strncasecmp(url, "http://", 7) || (plen >= 8 && !strncasecmp(url, "https://", 8)))) {
		const char *auth = strstr(url, "//") + 2;
		const char *slash = memchr(auth, '/', plen - (size_t)(auth - url));
		path = slash ? slash : url + plen;
	}
	size_t rawlen = plen - (size_t)(path - url);
	r->raw_path_s = rawlen ? pl_strndup(path, rawlen) : pl_strdup("/");
	r->pub.raw_path = r->raw_path_s;
	r->pub.query = r->query_s;
	r->pub.body = r->body.len ? r->body.data : "";
	r->pub.body_len = r->body.len;
	r->pub.conn = hc->conn;
	r->head = !strcmp(r->method_s, "HEAD");
	/* client address and scheme */
	snprintf(r->client_ip, sizeof r->client_ip, "%s", hc->conn ? hc->conn->peer_ip : "?");
	r->pub.secure = hc->conn ? hc->conn->tls : 0;
	if (hc->conn && ip_trusted(h, hc->conn->peer_ip)) {
		const char *xff = pl_http_header(&r->pub, "X-Forwarded-For");
		if (xff) {
			/* rightmost address that is not a trusted proxy */
			char *copy = pl_strdup(xff);
			char *end = copy + strlen(copy);
			for (;;) {
				char *comma = end;
				while (comma > copy && comma[-1] != ',')
					comma--;
				char *a = comma, *b = end;
				while (a < b && (*a == ' ' || *a == '\t'))
					a++;
				while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
					b--;
				*b = 0;
				unsigned char bin[16];
				int fam;
				if (!ip_parse(a, bin, &fam)) break;
				snprintf(r->client_ip, sizeof r->client_ip, "%s", a);
				if (!ip_trusted(h, a) || comma == copy) break;
				end = comma - 1;
			}
			free(copy);
		}
		const char *proto = pl_http_header(&r->pub, "X-Forwarded-Proto");
		if (proto) r->pub.secure = !strcasecmp(proto, "https");
	}
	r->pub.client_ip = r->client_ip;
	/* Host: required by HTTP/1.1, validated when present */
	const char *host = pl_http_header(&r->pub, "Host");
	if (host ? !host_valid(host) : (hc->parser.http_major == 1 && hc->parser.http_minor >= 1)) return 400;
	if (!strcmp(r->method_s, "OPTIONS") && plen == 1 && url[0] == '*') {
		r->path_s = pl_strdup("*");
	} else {
		if (r->raw_path_s[0] != '/') return 400;
		int rc = http_normalize_path(r->raw_path_s, strlen(r->raw_path_s), &r->path_s);
		if (rc == PL_EPARSE) return 400;
		if (rc != 0) return 404;
	}
	r->pub.path = r->path_s;
	return 0;
}

static int method_matches(const http_route *rt, const char *method)
{
	if (!rt->method) return 1;
	if (!strcmp(rt->method, method)) return 1;
	return !strcmp(method, "HEAD") && !strcmp(rt->method, "GET");
}

static int prefix_matches(const http_route *rt, const char *path)
{
	if (strncmp(path, rt->prefix, rt->prefix_len)) return 0;
	char next = path[rt->prefix_len];
	return next == 0 || next == '/' || (rt->prefix_len && rt->prefix[rt->prefix_len - 1] == '/');
}

static void answer_preflight(hreq *r)
{
	pl_http *h = r->hc->h;
	const char *origin = pl_http_header(&r->pub, "Origin");
	if (!origin_allowed(h, origin)) {
		pl_http_respond_error(&r->pub, 403, "cors-denied", "origin not allowed");
		return;
	}
	const char *want = pl_http_header(&r->pub, "Access-Control-Request-Headers");
	char extra[512];
	int ok = want && strlen(want) < 200;
	for (const char *s = want; ok && *s; s++)
		if (!((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z') && !(*s >= '0' && *s <= '9') &&
		    !strchr("-_, ", *s))
			ok = 0;
	snprintf(extra, sizeof extra,
	         "Access-Control-Allow-Methods: GET, HEAD, POST, OPTIONS\r\n"
	         "Access-Control-Allow-Headers: %s\r\nAccess-Control-Max-Age: 86400\r\n",
	         ok ? want : "Content-Type");
	pl_http_respond(&r->pub, 204, NULL, NULL, 0, extra);
}

static void dispatch(hconn *hc, hreq *r)
{
	pl_http *h = hc->h;
	h->stats.requests++;
	hc->state = HC_HANDLING;
	uv_timer_stop(hc->timer);
	if (hc->h->limits.max_requests_per_conn > 0 && hc->requests >= hc->h->limits.max_requests_per_conn)
		r->keep_alive = 0;
	int status = prepare_request(hc, r);
	if (status) {
		if (status == 400) r->keep_alive = 0;
		pl_http_respond_error(&r->pub, status, error_code(status), http_status_text(status));
		return;
	}
	const char *m = r->method_s;
	if (!strcmp(m, "OPTIONS") && pl_http_header(&r->pub, "Origin") &&
	    pl_http_header(&r->pub, "Access-Control-Request-Method")) {
		answer_preflight(r);
		return;
	}
	const http_route *best = NULL;
	int path_known = 0;
	for (int i = 0; i < h->nroutes; i++) {
		const http_route *rt = &h->routes[i];
		if (!prefix_matches(rt, r->pub.path)) continue;
		path_known = 1;
		if (method_matches(rt, m) && (!best || rt->prefix_len > best->prefix_len)) best = rt;
	}
	if (best) {
		best->fn(&r->pub, best->ud);
		return;
	}
	if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
		http_serve_static(r);
		return;
	}
	if (!strcmp(m, "OPTIONS")) {
		pl_http_respond(&r->pub, 204, NULL, NULL, 0, "Allow: GET, HEAD, POST, OPTIONS\r\n");
		return;
	}
	if (path_known)
		pl_http_respond_error(&r->pub, 405, "method-not-allowed", "method not allowed here");
	else
		pl_http_respond_error(&r->pub, 404, "not-found", "no such resource");
}

/* Parses what hconn.in holds while the connection reads requests; each complete request is handed out
 * before the next is parsed. */
static void process_input(hconn *hc)
{
	if (hc->in_process) return;
	hc->in_process = 1;
	hconn_ref(hc);
	while (hc->conn && hc->state == HC_READING && hc->in.len > 0) {
		llhttp_errno_t e = llhttp_execute(&hc->parser, hc->in.data, hc->in.len);
		size_t used = hc->in.len;
		if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
			used = (size_t)(llhttp_get_error_pos(&hc->parser) - hc->in.data);
			if (e == HPE_PAUSED_UPGRADE)
				llhttp_resume_after_upgrade(&hc->parser);
			else
				llhttp_resume(&hc->parser);
		} else if (e != HPE_OK) {
			int status = hc->error_status ? hc->error_status : 400;
			PL_DEBUG(hc->conn->id, "http: bad request (%s: %s)", llhttp_errno_name(e),
			         llhttp_get_error_reason(&hc->parser) ? llhttp_get_error_reason(&hc->parser)
			                                              : "");
			hconn_close(hc, status);
			break;
		}
		pl_buf_consume(&hc->in, used);
		if (e != HPE_OK && hc->active) dispatch(hc, hc->active);
	}
	if (hc->conn && hc->state == HC_HANDLING && hc->in.len > HTTP_IN_HIGH_WATER) pl_conn_pause(hc->conn);
	hc->in_process = 0;
	hconn_unref(hc);
}

/* ---- connections ---- */

static void on_data(pl_conn *c, const char *data, size_t len)
{
	hconn *hc = c->ud;
	if (hc->state == HC_CLOSING) return;
	pl_buf_append(&hc->in, data, len);
	if (hc->state == HC_HANDLING) {
		pl_conn_pause(c);
		return;
	}
	process_input(hc);
}

static void timer_closed(uv_handle_t *hd)
{
	free(hd);
}

static void http_free_now(pl_http *h);

void hconn_ref(hconn *hc)
{
	hc->refs++;
}

void hconn_unref(hconn *hc)
{
	if (--hc->refs > 0) return;
	pl_http *h = hc->h;
	uv_close((uv_handle_t *)hc->timer, timer_closed);
	req_free(hc->cur);
	req_free(hc->active);
	pl_buf_free(&hc->in);
	pl_buf_free(&hc->url);
	pl_buf_free(&hc->field);
	pl_buf_free(&hc->value);
	free(hc);
	h->stats.connections--;
	if (h->freeing && h->stats.connections == 0) http_free_now(h);
}

static void unlink_conn(hconn *hc)
{
	pl_http *h = hc->h;
	if (hc->prev)
		hc->prev->next = hc->next;
	else if (h->conns == hc)
		h->conns = hc->next;
	if (hc->next) hc->next->prev = hc->prev;
	hc->prev = hc->next = NULL;
}

static void on_close(pl_conn *c, int reason)
{
	hconn *hc = c->ud;
	hc->conn = NULL;
	hc->state = HC_CLOSING;
	uv_timer_stop(hc->timer);
	hreq *r = hc->active;
	if (r) {
		hc->active = NULL;
		r->answered = 1;
		if (r->sj) http_static_abort(r);
		if (r->abort_cb) r->abort_cb(&r->pub, r->abort_ud);
		req_free(r);
	}
	unlink_conn(hc);
	hconn_unref(hc);
}

static const pl_conn_handler http_handler = {on_data, NULL, on_close};

static void on_accept(void *ud, pl_conn *c)
{
	pl_http *h = ud;
	hconn *hc = PL_NEW(hconn);
	hc->h = h;
	hc->conn = c;
	hc->refs = 1;
	hc->state = HC_READING;
	llhttp_init(&hc->parser, HTTP_REQUEST, &h->settings);
	hc->parser.data = hc;
	hc->timer = PL_NEW(uv_timer_t);
	uv_timer_init(h->loop, hc->timer);
	hc->timer->data = hc;
	hc->next = h->conns;
	if (h->conns) h->conns->prev = hc;
	h->conns = hc;
	h->stats.connections++;
	c->handler = &http_handler;
	c->ud = hc;
	timer_start(hc, h->limits.request_timeout_ms);
}

int pl_http_take_conn(pl_http_req *req, pl_conn **conn, char **leftover, size_t *leftover_len)
{
	hreq *r = (hreq *)req;
	hconn *hc = r->hc;
	if (!r->answered || !hc->conn || hc->active != r) return PL_ESTATE;
	*conn = hc->conn;
	*leftover_len = hc->in.len;
	*leftover = hc->in.len ? pl_buf_steal(&hc->in) : NULL;
	hc->conn->handler = NULL;
	hc->conn->ud = NULL;
	hc->conn = NULL;
	hc->state = HC_CLOSING;
	hc->active = NULL;
	uv_timer_stop(hc->timer);
	req_free(r);
	unlink_conn(hc);
	hconn_unref(hc);
	return 0;
}

/* ---- the server ---- */

void pl_http_set_opts(pl_http *h, const pl_http_opts *o)
{
	free(h->web_root);
	free(h->web_root_real);
	h->web_root = pl_strdup(o->web_root && *o->web_root ? o->web_root : NULL);
	h->web_root_real = NULL;
	if (h->web_root) {
		/* once per start or reload, not per request */
		char *real = realpath(h->web_root, NULL);
		if (real) {
			h->web_root_real = pl_strdup(real);
			free(real);
		} else {
			PL_WARN(0, "http: web root %s does not exist: static files answer 404", h->web_root);
		}
	}
	free_list(h->trusted, h->ntrusted);
	free_list(h->cors, h->ncors);
	h->trusted = copy_list(o->trusted_proxies, o->ntrusted_proxies);
	h->ntrusted = o->ntrusted_proxies;
	h->cors = copy_list(o->cors_origins, o->ncors_origins);
	h->ncors = o->ncors_origins;
	h->limits = o->limits;
	if (h->limits.max_header_bytes == 0) h->limits.max_header_bytes = 16384;
	if (h->limits.request_timeout_ms <= 0) h->limits.request_timeout_ms = 30000;
	if (h->limits.keepalive_timeout_ms <= 0) h->limits.keepalive_timeout_ms = 60000;
}

static void init_settings(llhttp_settings_t *s)
{
	llhttp_settings_init(s);
	s->on_message_begin = cb_message_begin;
	s->on_url = cb_url;
	s->on_header_field = cb_header_field;
	s->on_header_value = cb_header_value;
	s->on_header_value_complete = cb_header_value_complete;
	s->on_headers_complete = cb_headers_complete;
	s->on_body = cb_body;
	s->on_message_complete = cb_message_complete;
}

int pl_http_new(uv_loop_t *loop, pl_net *net, const pl_http_opts *opts, pl_http **out)
{
	pl_http *h = PL_NEW(pl_http);
	h->loop = loop;
	h->net = net;
	init_settings(&h->settings);
	pl_http_set_opts(h, opts);
	if (loop) http_routes_init(h);
	*out = h;
	return 0;
}

int pl_http_listen(pl_http *h, const char *addr, int port, pl_tls_ctx *tls)
{
	if (h->nlisteners >= (int)(sizeof h->listeners / sizeof h->listeners[0])) return PL_ELIMIT;
	pl_listener *l = NULL;
	int rc = pl_listen(h->net, addr, port, tls, on_accept, h, &l);
	if (rc != 0) return rc;
	h->listener_tls[h->nlisteners] = tls != NULL;
	h->listeners[h->nlisteners++] = l;
	PL_INFO(0, "listening for HTTP%s on %s port %d", tls ? "S" : "", addr, pl_listener_port(l));
	return 0;
}

void pl_http_set_tls(pl_http *h, pl_tls_ctx *tls)
{
	for (int i = 0; i < h->nlisteners; i++)
		if (h->listener_tls[i]) pl_listener_set_tls(h->listeners[i], tls);
}

void pl_http_route(pl_http *h, const char *method, const char *prefix, pl_http_handler fn, void *ud)
{
	if (h->nroutes >= HTTP_MAX_ROUTES) {
		PL_ERROR(0, "http: too many routes, %s not registered", prefix);
		return;
	}
	http_route *rt = &h->routes[h->nroutes++];
	rt->method = pl_strdup(method);
	rt->prefix = pl_strdup(prefix);
	rt->prefix_len = strlen(prefix);
	rt->fn = fn;
	rt->ud = ud;
}

void pl_http_get_stats(const pl_http *h, pl_http_stats *out)
{
	*out = h->stats;
}

static void http_free_now(pl_http *h)
{
	for (int i = 0; i < h->nroutes; i++) {
		free(h->routes[i].method);
		free(h->routes[i].prefix);
	}
	free(h->web_root);
	free(h->web_root_real);
	free_list(h->trusted, h->ntrusted);
	free_list(h->cors, h->ncors);
	free(h);
}

void pl_http_free(pl_http *h)
{
	if (!h || h->freeing) return;
	h->freeing = 1;
	for (int i = 0; i < h->nlisteners; i++)
		pl_listener_close(h->listeners[i]);
	h->nlisteners = 0;
	http_routes_free(h);
	for (hconn *hc = h->conns; hc; hc = hc->next) {
		if (hc->conn && hc->state != HC_CLOSING) {
			hc->state = HC_CLOSING;
			uv_timer_stop(hc->timer);
			pl_conn_close(hc->conn);
		}
	}
	if (h->stats.connections == 0) http_free_now(h);
}

/* ---- fuzzing ---- */

int pl_http_parse_for_fuzz(const char *data, size_t len)
{
	pl_http_opts o = {0};
	o.limits.max_header_bytes = 4096;
	o.limits.max_body_bytes = 8192;
	const char *proxies[] = {"127.0.0.1", "::1"};
	const char *origins[] = {"https://a.example"};
	o.trusted_proxies = proxies;
	o.ntrusted_proxies = 2;
	o.cors_origins = origins;
	o.ncors_origins = 1;
	pl_http *h = NULL;
	pl_http_new(NULL, NULL, &o, &h);
	hconn *hc = PL_NEW(hconn);
	hc->h = h;
	hc->refs = 1;
	llhttp_init(&hc->parser, HTTP_REQUEST, &h->settings);
	hc->parser.data = hc;
	/* the first byte chooses where the input is split, to exercise incremental parsing */
	size_t split = len ? (unsigned char)data[0] % (len + 1) : 0;
	int requests = 0;
	size_t pos = 0;
	const size_t ends[2] = {split, len};
	for (int part = 0; part < 2 && !hc->error_status; part++) {
		while (pos < ends[part]) {
			llhttp_errno_t e = llhttp_execute(&hc->parser, data + pos, ends[part] - pos);
			if (e == HPE_OK) {
				pos = ends[part];
				break;
			}
			if (e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) {
				pos = len;
				part = 2;
				break;
			}
			pos = (size_t)(llhttp_get_error_pos(&hc->parser) - data);
			if (e == HPE_PAUSED_UPGRADE)
				llhttp_resume_after_upgrade(&hc->parser);
			else
				llhttp_resume(&hc->parser);
			hreq *r = hc->active;
			hc->active = NULL;
			if (r) {
				(void)prepare_request(hc, r);
				(void)pl_http_header(&r->pub, "Origin");
				req_free(r);
				requests++;
			}
		}
	}
	req_free(hc->cur);
	pl_buf_free(&hc->url);
	pl_buf_free(&hc->field);
	pl_buf_free(&hc->value);
	free(hc);
	http_free_now(h);
	return requests;
}
