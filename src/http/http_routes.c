/* http_routes.c: the generic routes every parley HTTP server has: GET /healthz (liveness, JSON),
 * GET /metrics (Prometheus text format 0.0.4: HTTP counters, the event-loop lag, then the lines of each
 * registered metrics source, e.g. the XMPP server's), and XEP-0156 discovery at
 * /.well-known/host-meta (XRD) and /.well-known/host-meta.json naming the WebSocket (/xmpp-websocket) and
 * BOSH (/http-bind) endpoints on the host and scheme the client used. It also owns the loop-lag probe: a
 * 1 s repeating timer that records how late it fires. */
#include "http/http_internal.h"
#include "core/alloc.h"
#include "core/log.h"
#include <string.h>

#define LAG_INTERVAL_MS 1000

static void on_lag(uv_timer_t *t)
{
	pl_http *h = t->data;
	uint64_t now = uv_hrtime();
	h->loop_lag = now > h->lag_expected_ns ? (double)(now - h->lag_expected_ns) / 1e9 : 0.0;
	h->lag_expected_ns = now + (uint64_t)LAG_INTERVAL_MS * 1000000u;
}

static void healthz(pl_http_req *req, void *ud)
{
	pl_http_respond(req, 200, "application/json", "{\"status\":\"ok\"}", 15,
	                "Cache-Control: no-store\r\n");
}

static void metric(pl_buf *b, const char *name, const char *type, const char *help)
{
	pl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics(pl_http_req *req, void *ud)
{
	pl_http *h = ud;
	pl_buf b = PL_BUF_INIT;
	metric(&b, "parley_http_requests_total", "counter", "HTTP requests received.");
	pl_buf_printf(&b, "parley_http_requests_total %llu\n", h->stats.requests);
	metric(&b, "parley_http_responses_errors_total", "counter", "HTTP error responses by class.");
	pl_buf_printf(&b, "parley_http_responses_errors_total{class=\"4xx\"} %llu\n", h->stats.responses_4xx);
	pl_buf_printf(&b, "parley_http_responses_errors_total{class=\"5xx\"} %llu\n", h->stats.responses_5xx);
	metric(&b, "parley_http_connections", "gauge", "Open HTTP connections.");
	pl_buf_printf(&b, "parley_http_connections %d\n", h->stats.connections);
	metric(&b, "parley_loop_lag_seconds", "gauge",
	       "How late the event loop ran a 1 s timer, last sample.");
	pl_buf_printf(&b, "parley_loop_lag_seconds %.6f\n", h->loop_lag);
	for (int i = 0; i < h->nmsources; i++)
		h->msources[i].fn(&b, h->msources[i].ud);
	pl_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len,
	                "Cache-Control: no-store\r\n");
	pl_buf_free(&b);
}

/* The two endpoints for the Host the client named (validated by http.c: host[:port] characters only). */
static int endpoints(pl_http_req *req, char *ws, char *bosh, size_t n)
{
	const char *host = pl_http_header(req, "Host");
	if (!host || !*host) {
		pl_http_respond_error(req, 400, "bad-request", "a Host header is needed");
		return -1;
	}
	snprintf(ws, n, "%s://%s/xmpp-websocket", req->secure ? "wss" : "ws", host);
	snprintf(bosh, n, "%s://%s/http-bind", req->secure ? "https" : "http", host);
	return 0;
}

static void host_meta(pl_http_req *req, void *ud)
{
	char ws[512], bosh[512];
	if (endpoints(req, ws, bosh, sizeof ws) != 0) return;
	pl_buf b = PL_BUF_INIT;
	pl_buf_appends(&b, "<?xml version='1.0' encoding='utf-8'?>\n"
	                   "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n");
	pl_buf_appends(&b, "  <Link rel='urn:xmpp:alt-connections:websocket' href='");
	pl_buf_append_xml_escaped(&b, ws, strlen(ws), 1);
	pl_buf_appends(&b, "'/>\n  <Link rel='urn:xmpp:alt-connections:xbosh' href='");
	pl_buf_append_xml_escaped(&b, bosh, strlen(bosh), 1);
	pl_buf_appends(&b, "'/>\n</XRD>\n");
	pl_http_respond(req, 200, "application/xrd+xml; charset=utf-8", b.data, b.len, NULL);
	pl_buf_free(&b);
}

static void host_meta_json(pl_http_req *req, void *ud)
{
	char ws[512], bosh[512];
	if (endpoints(req, ws, bosh, sizeof ws) != 0) return;
	pl_buf b = PL_BUF_INIT;
	/* the Host characters http.c allows need no JSON escaping */
	pl_buf_printf(&b,
	              "{\"links\": [{\"rel\": \"urn:xmpp:alt-connections:websocket\", \"href\": \"%s\"}, "
	              "{\"rel\": \"urn:xmpp:alt-connections:xbosh\", \"href\": \"%s\"}]}\n",
	              ws, bosh);
	pl_http_respond(req, 200, "application/json", b.data, b.len, NULL);
	pl_buf_free(&b);
}

void pl_http_add_metrics_source(pl_http *h, void (*fn)(pl_buf *out, void *ud), void *ud)
{
	if (h->nmsources >= HTTP_MAX_METRICS_SOURCES) {
		PL_ERROR(0, "http: too many metrics sources");
		return;
	}
	h->msources[h->nmsources].fn = fn;
	h->msources[h->nmsources].ud = ud;
	h->nmsources++;
}

void http_routes_init(pl_http *h)
{
	pl_http_route(h, "GET", "/healthz", healthz, h);
	pl_http_route(h, "GET", "/metrics", metrics, h);
	pl_http_route(h, "GET", "/.well-known/host-meta", host_meta, h);
	pl_http_route(h, "GET", "/.well-known/host-meta.json", host_meta_json, h);
	h->lag_timer = PL_NEW(uv_timer_t);
	uv_timer_init(h->loop, h->lag_timer);
	h->lag_timer->data = h;
	h->lag_expected_ns = uv_hrtime() + (uint64_t)LAG_INTERVAL_MS * 1000000u;
	uv_timer_start(h->lag_timer, on_lag, LAG_INTERVAL_MS, LAG_INTERVAL_MS);
	uv_unref((uv_handle_t *)h->lag_timer); /* never keeps the loop alive */
}

static void lag_closed(uv_handle_t *hd)
{
	free(hd);
}

void http_routes_free(pl_http *h)
{
	if (!h->lag_timer) return;
	uv_timer_stop(h->lag_timer);
	uv_close((uv_handle_t *)h->lag_timer, lag_closed);
	h->lag_timer = NULL;
}
