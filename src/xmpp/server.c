/* server.c: the XMPP server's lifetime: start (store, TLS context with the self-signed certificate
 * generated on first start, listeners for STARTTLS and Direct TLS client connections, the [http] server
 * with the XMPP lines of /metrics), reload on SIGHUP (certificates, limits, log level, HTTP options),
 * graceful shutdown (every stream closed with </stream:stream>, HTTP connections closed, then the store
 * flushed), and the status report for the admin socket. Per-stream work is stream.c's. */
#include "xmpp/server.h"
#include "muc/muc.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "xmpp/bosh.h"
#include "xmpp/websocket.h"
#include "xmpp/stream.h"
#include <jansson.h>
#include <sodium.h>
#include <string.h>

int pl_server_is_local_domain(pl_server *srv, const char *domain)
{
	return domain && pl_config_is_host(srv->cfg, domain);
}

static void limits_from_cfg(const pl_config *cfg, pl_net_limits *l)
{
	memset(l, 0, sizeof *l);
	l->max_connections = cfg->max_connections;
	l->max_per_ip = cfg->max_connections_per_ip;
	l->read_rate = (size_t)cfg->c2s_rate;
	l->read_burst = (size_t)cfg->c2s_rate * (size_t)(cfg->c2s_burst > 0 ? cfg->c2s_burst : 1);
	l->max_output_queue = (size_t)cfg->max_output_queue;
}

static int load_tls(pl_config *cfg, pl_tls_ctx **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg->cert || !*cfg->cert) return 0;
	if (cfg->self_signed) {
		size_t n = cfg->hosts.n + cfg->anonymous_hosts.n;
		const char **hosts = pl_calloc(n + 1, sizeof(char *));
		size_t k = 0;
		for (size_t i = 0; i < cfg->hosts.n; i++) hosts[k++] = cfg->hosts.items[i];
		for (size_t i = 0; i < cfg->anonymous_hosts.n; i++) hosts[k++] = cfg->anonymous_hosts.items[i];
		int rc = pl_tls_ensure_self_signed(cfg->cert, cfg->key, hosts, k, err, errlen);
		free(hosts);
		if (rc != 0) return rc;
	}
	return pl_tls_ctx_new(cfg->cert, cfg->key, out, err, errlen);
}

static int start_listeners(pl_server *srv, char *err, size_t errlen)
{
	pl_config *cfg = srv->cfg;
	const char *defaults[] = {"0.0.0.0"};
	size_t naddr = cfg->listen.n ? cfg->listen.n : 1;
	for (size_t i = 0; i < naddr; i++) {
		const char *addr = cfg->listen.n ? cfg->listen.items[i] : defaults[0];
		for (int direct = 0; direct < 2; direct++) {
			int port = direct ? cfg->c2s_tls_port : cfg->c2s_port;
			if (port <= 0 || (direct && !srv->tls)) continue;
			if (srv->nlisteners >= 16) break;
			pl_listener *l = NULL;
			int rc = pl_listen(srv->net, addr, port, direct ? srv->tls : NULL, pl_c2s_accept, srv, &l);
			if (rc != 0) {
				snprintf(err, errlen, "cannot listen on %s port %d (%s)", addr, port, pl_strerror(rc));
				return rc;
			}
			srv->listener_direct[srv->nlisteners] = direct;
			srv->listeners[srv->nlisteners++] = l;
			PL_INFO(0, "listening for XMPP clients on %s port %d%s", addr, pl_listener_port(l),
				direct ? " (Direct TLS)" : srv->tls ? " (STARTTLS)" : "");
		}
	}
	return 0;
}

static void http_opts_from_cfg(const pl_config *cfg, pl_http_opts *o)
{
	memset(o, 0, sizeof *o);
	o->web_root = cfg->web_root;
	o->trusted_proxies = (const char *const *)cfg->trusted_proxies.items;
	o->ntrusted_proxies = cfg->trusted_proxies.n;
	o->cors_origins = (const char *const *)cfg->cors_origins.items;
	o->ncors_origins = cfg->cors_origins.n;
	o->limits.max_header_bytes = (size_t)cfg->http_max_header_size;
	o->limits.max_body_bytes = (size_t)cfg->http_max_body_size;
	o->limits.request_timeout_ms = cfg->http_request_timeout * 1000;
	o->limits.keepalive_timeout_ms = cfg->http_keepalive_timeout * 1000;
}

/* The XMPP lines of /metrics. */
static void xmpp_metrics(pl_buf *b, void *ud)
{
	pl_server *srv = ud;
	pl_buf_appends(b, "# HELP parley_xmpp_connections Open XMPP client streams by transport.\n"
	                  "# TYPE parley_xmpp_connections gauge\n");
	int ws = pl_ws_count(), bosh = pl_bosh_count(srv);
	pl_buf_printf(b, "parley_xmpp_connections{transport=\"tcp\"} %d\n", pl_c2s_count(srv) - ws - bosh);
	pl_buf_printf(b, "parley_xmpp_connections{transport=\"websocket\"} %d\n", ws);
	pl_buf_printf(b, "parley_xmpp_connections{transport=\"bosh\"} %d\n", bosh);
	pl_buf_appends(b, "# HELP parley_xmpp_sessions Bound sessions (resources), detached ones included.\n"
	                  "# TYPE parley_xmpp_sessions gauge\n");
	pl_buf_printf(b, "parley_xmpp_sessions %u\n", (unsigned)HASH_COUNT(srv->sessions));
	pl_buf_appends(b, "# HELP parley_xmpp_stanzas_in_total Stanzas received from clients.\n"
	                  "# TYPE parley_xmpp_stanzas_in_total counter\n");
	pl_buf_printf(b, "parley_xmpp_stanzas_in_total %llu\n", (unsigned long long)srv->stats.stanzas_in);
	pl_buf_appends(b, "# HELP parley_xmpp_stanzas_out_total Stanzas sent to clients.\n"
	                  "# TYPE parley_xmpp_stanzas_out_total counter\n");
	pl_buf_printf(b, "parley_xmpp_stanzas_out_total %llu\n", (unsigned long long)srv->stats.stanzas_out);
	pl_buf_appends(b, "# HELP parley_xmpp_auth_failures_total Failed SASL authentications.\n"
	                  "# TYPE parley_xmpp_auth_failures_total counter\n");
	pl_buf_printf(b, "parley_xmpp_auth_failures_total %llu\n", (unsigned long long)srv->stats.auth_fail);
}

static int start_http(pl_server *srv, char *err, size_t errlen)
{
	pl_config *cfg = srv->cfg;
	if (cfg->http_port <= 0) return 0;
	if (cfg->http_tls && !srv->tls) {
		snprintf(err, errlen, "[http] tls = true needs the [tls] certificate");
		return PL_EINVAL;
	}
	pl_http_opts o;
	http_opts_from_cfg(cfg, &o);
	int rc = pl_http_new(srv->loop, srv->net, &o, &srv->http);
	if (rc != 0) {
		snprintf(err, errlen, "cannot create the HTTP server (%s)", pl_strerror(rc));
		return rc;
	}
	pl_bosh_register(srv, srv->http);
	pl_ws_register(srv, srv->http);
	pl_http_add_metrics_source(srv->http, xmpp_metrics, srv);
	size_t naddr = cfg->http_listen.n ? cfg->http_listen.n : 1;
	for (size_t i = 0; i < naddr; i++) {
		const char *addr = cfg->http_listen.n ? cfg->http_listen.items[i] : "0.0.0.0";
		rc = pl_http_listen(srv->http, addr, cfg->http_port, cfg->http_tls ? srv->tls : NULL);
		if (rc != 0) {
			snprintf(err, errlen, "cannot listen for HTTP on %s port %d (%s)", addr, cfg->http_port,
			         pl_strerror(rc));
			return rc;
		}
	}
	return 0;
}

int pl_server_start(uv_loop_t *loop, pl_config *cfg, pl_server **out, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return PL_EIO;
	}
	pl_iq_init();
	pl_server *srv = PL_NEW(pl_server);
	srv->loop = loop;
	srv->cfg = cfg;
	srv->started_ms = uv_now(loop);
	int rc = pl_store_open(loop, cfg->store_backend, strcmp(cfg->store_backend, "sqlite") == 0 ? cfg->store_path : cfg->store_dsn,
		&srv->store, err, errlen);
	if (rc != 0) goto fail;
	rc = load_tls(cfg, &srv->tls, err, errlen);
	if (rc != 0) goto fail;
	pl_net_limits lim;
	limits_from_cfg(cfg, &lim);
	srv->net = pl_net_new(loop, &lim);
	rc = start_listeners(srv, err, errlen);
	if (rc != 0) goto fail;
	rc = start_http(srv, err, errlen);
	if (rc != 0) goto fail;
	*out = srv;
	return 0;
fail:
	for (int i = 0; i < srv->nlisteners; i++) pl_listener_close(srv->listeners[i]);
	pl_http_free(srv->http);
	if (srv->store) pl_store_close(srv->store);
	if (srv->tls) pl_tls_ctx_unref(srv->tls);
	srv->cfg = NULL;
	free(srv);
	return rc ? rc : PL_EIO;
}

int pl_server_reload(pl_server *srv, pl_config *cfg, char *err, size_t errlen)
{
	pl_tls_ctx *tls = NULL;
	int rc = load_tls(cfg, &tls, err, errlen);
	if (rc != 0) {
		pl_config_free(cfg);
		return rc;
	}
	if (tls) {
		/* Direct TLS listeners switch to the new context; STARTTLS picks srv->tls when it starts */
		for (int i = 0; i < srv->nlisteners; i++)
			if (srv->listener_direct[i]) pl_listener_set_tls(srv->listeners[i], tls);
		if (srv->http) pl_http_set_tls(srv->http, tls);
		if (srv->tls) pl_tls_ctx_unref(srv->tls);
		srv->tls = tls;
	}
	if (srv->http) {
		pl_http_opts o;
		http_opts_from_cfg(cfg, &o);
		pl_http_set_opts(srv->http, &o);
	}
	pl_net_limits lim;
	limits_from_cfg(cfg, &lim);
	pl_net_set_limits(srv->net, &lim);
	/* listeners, hosts and the store stay as started: changing them needs a restart */
	pl_config *old = srv->cfg;
	srv->cfg = cfg;
	pl_config_free(old);
	PL_INFO(0, "configuration and certificates reloaded");
	return 0;
}

static void (*g_done)(pl_server *);

static void shutdown_poll(uv_timer_t *t)
{
	pl_server *srv = t->data;
	uint64_t waited = uv_now(srv->loop) - srv->shutdown_started_ms;
	if (pl_net_count(srv->net) > 0 && waited < 6000) return;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
	pl_store_close(srv->store);
	srv->store = NULL;
	PL_INFO(0, "shutdown complete");
	if (g_done) g_done(srv);
}

void pl_server_shutdown(pl_server *srv, void (*done)(pl_server *srv))
{
	if (srv->shutting_down) return;
	srv->shutting_down = 1;
	PL_INFO(0, "shutting down: closing %d client streams", pl_c2s_count(srv));
	for (int i = 0; i < srv->nlisteners; i++) pl_listener_close(srv->listeners[i]);
	srv->nlisteners = 0;
	pl_http_free(srv->http); /* closes its listeners and connections; freed when they are gone */
	srv->http = NULL;
	pl_c2s_close_all(srv, "system-shutdown");
	/* detached XEP-0198 sessions end now: their unacknowledged messages go to offline storage */
	pl_session *s, *tmp;
	HASH_ITER(hh, srv->sessions, s, tmp) { pl_session_end(s); }
	g_done = done;
	srv->shutdown_started_ms = uv_now(srv->loop);
	uv_timer_t *t = PL_NEW(uv_timer_t);
	uv_timer_init(srv->loop, t);
	t->data = srv;
	uv_timer_start(t, shutdown_poll, 20, 20);
}

void pl_server_free(pl_server *srv)
{
	pl_muc_free(srv);
	pl_http_free(srv->http);
	if (srv->tls) pl_tls_ctx_unref(srv->tls);
	if (srv->net) pl_net_free(srv->net);
	pl_config_free(srv->cfg);
	free(srv);
}

char *pl_server_status_json(pl_server *srv)
{
	json_t *o = json_object();
	json_object_set_new(o, "uptime_seconds", json_integer((json_int_t)((uv_now(srv->loop) - srv->started_ms) / 1000)));
	json_object_set_new(o, "connections", json_integer(pl_net_count(srv->net)));
	json_object_set_new(o, "client_streams", json_integer(pl_c2s_count(srv)));
	json_object_set_new(o, "sessions", json_integer((json_int_t)HASH_COUNT(srv->sessions)));
	json_object_set_new(o, "users_online", json_integer((json_int_t)HASH_COUNT(srv->users)));
	json_object_set_new(o, "stanzas_in", json_integer((json_int_t)srv->stats.stanzas_in));
	json_object_set_new(o, "stanzas_out", json_integer((json_int_t)srv->stats.stanzas_out));
	json_object_set_new(o, "auth_ok", json_integer((json_int_t)srv->stats.auth_ok));
	json_object_set_new(o, "auth_failed", json_integer((json_int_t)srv->stats.auth_fail));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
