/* stream.c: client-to-server XML streams (RFC 6120) on every transport.
 *
 * It owns one pl_c2s per client stream: the negotiation state machine (stream header -> STARTTLS ->
 * SASL -> stream restart -> resource binding or XEP-0198 resumption), stream errors, the authentication
 * timeout and the idle keepalive (an XEP-0199 ping, then connection-timeout). After binding, every stanza
 * goes to the router and XEP-0198 nonzas to sm.c. Asynchronous steps (credential and roster loading from
 * the store) mark the stream busy: stanzas that arrive meanwhile wait in a bounded backlog and reading is
 * paused.
 *
 * Transports: TCP/TLS connections are handled here (the XML stream parser over pl_conn bytes, STARTTLS);
 * WebSocket and BOSH feed parsed input through pl_c2s_input_* (stream.h). All output goes through a
 * pl_c2s_transport as whole elements whose bytes stand alone, so any framing can carry them.
 *
 * It does not own the session (session.c does) nor the connection (net.c frees it after on_close). */
#include "xmpp/stream.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "xmpp/sasl.h"
#include <sodium.h>
#include <string.h>

#define BACKLOG_MAX 64
/* Failed attempts allowed on one stream: enough for a client that walks down the offered mechanisms
 * (slixmpp tries each -PLUS and SCRAM variant before PLAIN), few enough to stop password guessing. */
#define SASL_MAX_FAILURES 5

enum c2s_state { ST_HEADER, ST_NEGOTIATE, ST_AUTHED, ST_BOUND, ST_CLOSED };

typedef struct backlog_item {
	pl_xml_node *stanza;
	struct backlog_item *next;
} backlog_item;

struct pl_c2s {
	pl_server *srv;
	const pl_c2s_transport *tops; /* output; for TCP the built-in tcp_transport with t = this c2s */
	void *t;
	int open;            /* the transport is alive (not yet reported closed) */
	int secure;          /* framed transports: encrypted (TCP asks its connection) */
	char peer_ip[64];
	int end_pending;     /* the client closed the stream while busy: end after the backlog */
	int overflow;        /* the transport refused output (queue limit): close without flushing */
	pl_conn *conn;       /* TCP only */
	uint64_t id;
	pl_xml_stream *parser;
	enum c2s_state state;
	char *host;          /* the stream's 'to' domain once opened */
	int anonymous_host;
	int header_sent;
	int in_parser;       /* inside pl_xml_stream_feed: resets go through the return value */
	int restart_pending; /* reset the parser when the current callback returns */
	int busy;            /* an asynchronous step is in flight */
	backlog_item *backlog, *backlog_tail;
	int nbacklog;
	pl_sasl *sasl;
	int sasl_failures;
	char *authid;        /* authenticated localpart */
	pl_session *session;
	uv_timer_t *timer;
	uint64_t last_input;
	int ping_outstanding;
	int refs;            /* the connection + each asynchronous step in flight */
	pl_c2s *prev, *next;
};

static const pl_session_ops c2s_session_ops;
static void c2s_process(pl_c2s *c, pl_xml_node *st);
static void c2s_drain_backlog(pl_c2s *c);
static void c2s_unref(pl_c2s *c);
static void c2s_end_by_client(pl_c2s *c);

/* Marks an asynchronous step in flight: c stays allocated until c2s_async_done. */
static void c2s_async_begin(pl_c2s *c)
{
	c->busy = 1;
	c->refs++;
}

/* Ends an asynchronous step; returns 0 if c is still usable, -1 if it is closed (and maybe freed). */
static int c2s_async_done(pl_c2s *c)
{
	c->busy = 0;
	if (c->state == ST_CLOSED || !c->open) {
		c2s_unref(c);
		return -1;
	}
	c->refs--;
	return 0;
}

/* ---- output ---- */

/* Hands one standalone element to the transport. A full output queue ends the stream at once. */
static int c2s_send_bytes(pl_c2s *c, pl_bytes *b)
{
	if (c->state == ST_CLOSED || !c->open) return PL_ECLOSED;
	int rc = c->tops->send_element(c->t, b);
	if (rc == PL_ELIMIT) {
		PL_WARN(c->id, "output queue over its limit: disconnecting");
		c->state = ST_CLOSED;
		c->overflow = 1;
		c->tops->send_close(c->t);
	}
	return rc;
}

static void c2s_write(pl_c2s *c, const char *s, size_t len)
{
	if (c->state == ST_CLOSED || !c->open) return;
	pl_bytes *b = pl_bytes_new(s, len);
	c2s_send_bytes(c, b);
	pl_bytes_unref(b);
}

static int c2s_is_secure(const pl_c2s *c) { return c->conn ? c->conn->tls : c->secure; }

static void c2s_writes(pl_c2s *c, const char *s) { c2s_write(c, s, strlen(s)); }

static void c2s_send_header(pl_c2s *c)
{
	if (c->header_sent) return;
	unsigned char rnd[12];
	randombytes_buf(rnd, sizeof rnd);
	char *id = pl_base64_encode(rnd, sizeof rnd);
	const char *from = c->host ? c->host : c->srv->cfg->hosts.n ? c->srv->cfg->hosts.items[0] : "";
	if (c->state != ST_CLOSED && c->open) c->tops->send_open(c->t, from, id);
	free(id);
	c->header_sent = 1;
}

/* Sends a stream error and closes the stream (RFC 6120 §4.9). */
static void c2s_stream_error(pl_c2s *c, const char *condition, const char *text)
{
	if (c->state == ST_CLOSED) return;
	PL_INFO(c->id, "stream error: %s%s%s", condition, text ? ": " : "", text ? text : "");
	c2s_send_header(c);
	pl_buf b = PL_BUF_INIT;
	pl_buf_printf(&b, "<stream:error xmlns:stream='" PL_NS_STREAMS "'><%s xmlns='" PL_NS_STREAM_ERRORS "'/>",
		condition);
	if (text) {
		pl_buf_appends(&b, "<text xmlns='" PL_NS_STREAM_ERRORS "' xml:lang='en'>");
		pl_buf_append_xml_escaped(&b, text, strlen(text), 0);
		pl_buf_appends(&b, "</text>");
	}
	pl_buf_appends(&b, "</stream:error>");
	c2s_write(c, b.data, b.len);
	pl_buf_free(&b);
	if (c->state == ST_CLOSED) return; /* the write itself overflowed and closed */
	c->state = ST_CLOSED;
	if (c->open) c->tops->send_close(c->t);
}

static void c2s_close(pl_c2s *c)
{
	if (c->state == ST_CLOSED) return;
	c2s_send_header(c);
	c->state = ST_CLOSED;
	if (c->open) c->tops->send_close(c->t);
}

/* ---- features ---- */

static void c2s_sasl_opts(pl_c2s *c, pl_sasl_opts *o, unsigned char cb[32])
{
	memset(o, 0, sizeof *o);
	o->tls = c2s_is_secure(c);
	o->allow_anonymous = c->anonymous_host;
	o->allow_plain = 1;
	o->iterations = c->srv->cfg->scram_iterations; /* unknown users look like real ones */
	if (c->conn && c->conn->tls && c->srv->cfg->channel_binding && pl_conn_tls_exporter(c->conn, cb) == 0) {
		o->cb_data = cb;
		o->cb_len = 32;
	}
}

static void c2s_send_features(pl_c2s *c)
{
	pl_config *cfg = c->srv->cfg;
	pl_buf b = PL_BUF_INIT;
	pl_buf_appends(&b, "<stream:features xmlns:stream='" PL_NS_STREAMS "'>");
	if (c->state == ST_NEGOTIATE) {
		int tls_possible = c->conn && !c->conn->tls && c->srv->tls;
		if (tls_possible)
			pl_buf_printf(&b, "<starttls xmlns='" PL_NS_TLS "'>%s</starttls>",
				cfg->starttls_required ? "<required/>" : "");
		if (c2s_is_secure(c) || !c->conn || !cfg->starttls_required || !c->srv->tls) {
			pl_sasl_opts o;
			unsigned char cb[32];
			char mechs[256];
			c2s_sasl_opts(c, &o, cb);
			pl_sasl_mechanisms(&o, mechs, sizeof mechs);
			pl_buf_appends(&b, "<mechanisms xmlns='" PL_NS_SASL "'>");
			for (char *save = NULL, *m = strtok_r(mechs, " ", &save); m; m = strtok_r(NULL, " ", &save))
				pl_buf_printf(&b, "<mechanism>%s</mechanism>", m);
			pl_buf_appends(&b, "</mechanisms>");
			if (o.cb_data)
				pl_buf_appends(&b, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>"
						   "<channel-binding type='tls-exporter'/></sasl-channel-binding>");
		}
	} else if (c->state == ST_AUTHED) {
		pl_buf_appends(&b, "<bind xmlns='" PL_NS_BIND "'/>"
				   "<session xmlns='" PL_NS_SESSION "'><optional/></session>"
				   "<sm xmlns='" PL_NS_SM "'/>"
				   "<ver xmlns='" PL_NS_ROSTERVER "'/>");
	}
	pl_buf_printf(&b, "<limits xmlns='" PL_NS_LIMITS "'><max-bytes>%d</max-bytes>", cfg->max_stanza_size);
	if (cfg->idle_timeout > 0) pl_buf_printf(&b, "<idle-seconds>%d</idle-seconds>", cfg->idle_timeout);
	pl_buf_appends(&b, "</limits></stream:features>");
	c2s_write(c, b.data, b.len);
	pl_buf_free(&b);
}

/* ---- parser callbacks ---- */

/* A stream header (or a framed <open/>) from the client: checks the domain and version, answers with our
 * header and the features. Returns 0 or -1 when the stream was closed with an error. */
static int c2s_open(pl_c2s *c, const char *to, const char *version)
{
	char *host = NULL;
	if (!to || pl_jid_nameprep(to, &host) != 0 || !pl_server_is_local_domain(c->srv, host)) {
		free(host);
		c2s_stream_error(c, "host-unknown", "this server does not serve that domain");
		return -1;
	}
	if (c->host && strcmp(c->host, host) != 0) {
		free(host);
		c2s_stream_error(c, "host-unknown", "the domain changed on stream restart");
		return -1;
	}
	free(c->host);
	c->host = host;
	c->anonymous_host = pl_config_is_anonymous_host(c->srv->cfg, host);
	c->header_sent = 0;
	c2s_send_header(c);
	if (!version || strcmp(version, "1.0") != 0) {
		c2s_stream_error(c, "unsupported-version", "version='1.0' is required");
		return -1;
	}
	if (c->state == ST_HEADER) c->state = ST_NEGOTIATE;
	c2s_send_features(c);
	return 0;
}

static int c2s_on_open(void *ud, const pl_xml_node *root)
{
	pl_c2s *c = ud;
	if (!root->ns || strcmp(root->ns, PL_NS_STREAMS) != 0 || strcmp(root->name, "stream") != 0) {
		c2s_stream_error(c, "invalid-namespace", NULL);
		return -1;
	}
	return c2s_open(c, pl_xml_attr_get(root, "to"), pl_xml_attr_get(root, "version")) == 0
		       ? PL_XML_CONTINUE
		       : -1;
}

/* One top-level element from the client; ownership passes. Returns 0, or -1 when the stream closed. */
static int c2s_element_in(pl_c2s *c, pl_xml_node *st)
{
	if (c->state == ST_CLOSED) {
		pl_xml_free(st);
		return -1;
	}
	c->srv->stats.stanzas_in++;
	if (c->busy) {
		if (c->nbacklog >= BACKLOG_MAX) {
			pl_xml_free(st);
			c2s_stream_error(c, "policy-violation", "too many stanzas while busy");
			return -1;
		}
		backlog_item *it = PL_NEW(backlog_item);
		it->stanza = st;
		if (c->backlog_tail) c->backlog_tail->next = it;
		else c->backlog = it;
		c->backlog_tail = it;
		c->nbacklog++;
		if (c->tops->pause) c->tops->pause(c->t);
		return 0;
	}
	c2s_process(c, st);
	return c->state == ST_CLOSED ? -1 : 0;
}

static int c2s_on_stanza(void *ud, pl_xml_node *st)
{
	pl_c2s *c = ud;
	if (c2s_element_in(c, st) != 0) return -1;
	if (c->restart_pending == 2) {
		c->restart_pending = 0;
		return PL_XML_RESTART_DISCARD;
	}
	if (c->restart_pending) {
		c->restart_pending = 0;
		return PL_XML_RESTART;
	}
	return PL_XML_CONTINUE;
}

/* The client closed its stream: a clean end (no XEP-0198 resumption). */
static void c2s_end_by_client(pl_c2s *c)
{
	PL_DEBUG(c->id, "client closed the stream");
	if (c->session) {
		pl_session *s = c->session;
		c->session = NULL;
		s->ops = NULL;
		s->transport = NULL;
		pl_session_end(s); /* a clean close ends XEP-0198 resumability */
	}
	c2s_close(c);
}

static int c2s_on_stream_end(void *ud)
{
	pl_c2s *c = ud;
	if (c->busy) {
		/* stanzas still wait for an asynchronous step: end once they are processed */
		c->end_pending = 1;
		if (c->tops->pause) c->tops->pause(c->t);
		return PL_XML_CONTINUE;
	}
	c2s_end_by_client(c);
	return -1;
}

static const pl_xml_stream_cb c2s_parser_cb = {c2s_on_open, c2s_on_stanza, c2s_on_stream_end};

/* Resets the parser now or, inside a parser callback, when it returns. */
static void c2s_restart(pl_c2s *c, int discard)
{
	if (!c->parser) return; /* framed transports: the client sends a new open */
	if (c->in_parser)
		c->restart_pending = discard ? 2 : 1;
	else
		pl_xml_stream_reset(c->parser);
}

/* ---- SASL ---- */

static void c2s_sasl_reply(pl_c2s *c, int rc, unsigned char *out, size_t outlen);

static void c2s_creds_cb(void *ud, int status, const pl_sasl_creds *creds)
{
	pl_c2s *c = ud;
	if (c2s_async_done(c) != 0) return;
	if (!c->sasl) {
		c2s_drain_backlog(c);
		return;
	}
	if (status != 0 && status != PL_ENOTFOUND) PL_WARN(c->id, "credential lookup failed: %d", status);
	pl_sasl_set_creds(c->sasl, status == 0 ? creds : NULL);
	unsigned char *out = NULL;
	size_t outlen = 0;
	int rc = pl_sasl_step(c->sasl, NULL, 0, &out, &outlen);
	c2s_sasl_reply(c, rc, out, outlen);
	free(out);
	c2s_drain_backlog(c);
}

static void c2s_sasl_failure(pl_c2s *c, const char *condition, const char *text)
{
	pl_buf b = PL_BUF_INIT;
	pl_buf_printf(&b, "<failure xmlns='" PL_NS_SASL "'><%s/>", condition);
	if (text) {
		pl_buf_appends(&b, "<text xml:lang='en'>");
		pl_buf_append_xml_escaped(&b, text, strlen(text), 0);
		pl_buf_appends(&b, "</text>");
	}
	pl_buf_appends(&b, "</failure>");
	c2s_write(c, b.data, b.len);
	pl_buf_free(&b);
	pl_sasl_free(c->sasl);
	c->sasl = NULL;
	c->srv->stats.auth_fail++;
	if (++c->sasl_failures >= SASL_MAX_FAILURES)
		c2s_stream_error(c, "policy-violation", "too many failed authentication attempts");
}

static void c2s_sasl_reply(pl_c2s *c, int rc, unsigned char *out, size_t outlen)
{
	if (rc == PL_SASL_NEED_CREDS) {
		const char *user = pl_sasl_username(c->sasl);
		if (!user || pl_store_account_get(c->srv->store, c->host, user, c2s_creds_cb, c) != 0) {
			c2s_sasl_failure(c, "temporary-auth-failure", NULL);
			return;
		}
		c2s_async_begin(c);
		return;
	}
	if (rc == PL_SASL_SUCCESS && pl_sasl_authzid(c->sasl)) {
		/* the sasl module checked the localpart; the domain must be this stream's host */
		const char *at = strchr(pl_sasl_authzid(c->sasl), '@');
		if (!at || strcmp(at + 1, c->host) != 0) {
			c2s_sasl_failure(c, "invalid-authzid", NULL);
			return;
		}
	}
	if (rc == PL_SASL_CONTINUE || rc == PL_SASL_SUCCESS) {
		char *b64 = outlen ? pl_base64_encode(out, outlen) : NULL;
		pl_buf b = PL_BUF_INIT;
		const char *tag = rc == PL_SASL_CONTINUE ? "challenge" : "success";
		if (b64)
			pl_buf_printf(&b, "<%s xmlns='" PL_NS_SASL "'>%s</%s>", tag, b64, tag);
		else
			pl_buf_printf(&b, "<%s xmlns='" PL_NS_SASL "'/>", tag);
		free(b64);
		c2s_write(c, b.data, b.len);
		pl_buf_free(&b);
		if (rc == PL_SASL_SUCCESS) {
			const char *user = pl_sasl_username(c->sasl);
			if (user) {
				c->authid = pl_strdup(user);
			} else {
				unsigned char rnd[9];
				randombytes_buf(rnd, sizeof rnd);
				char *r = pl_base64_encode(rnd, sizeof rnd);
				for (char *p = r; *p; p++) /* nodeprep-safe, lower-case localpart */
					*p = (*p == '+' || *p == '/') ? '-' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
				c->authid = r;
			}
			PL_INFO(c->id, "authenticated %s@%s with %s", c->authid, c->host,
				pl_sasl_mech_name(c->sasl));
			pl_sasl_free(c->sasl);
			c->sasl = NULL;
			c->state = ST_AUTHED;
			c->srv->stats.auth_ok++;
			c2s_restart(c, 0);
		}
		return;
	}
	const char *cond = "not-authorized";
	switch (rc) {
	case PL_SASL_E_MALFORMED: cond = "malformed-request"; break;
	case PL_SASL_E_INVALID_MECH: cond = "invalid-mechanism"; break;
	case PL_SASL_E_ENCRYPTION: cond = "encryption-required"; break;
	case PL_SASL_E_AUTHZID: cond = "invalid-authzid"; break;
	default: break;
	}
	PL_INFO(c->id, "authentication failed (%s) on %s from %s", cond, c->host, c->peer_ip);
	c2s_sasl_failure(c, cond, NULL);
}

static void c2s_sasl_data(pl_c2s *c, pl_xml_node *st)
{
	char *text = pl_xml_text(st);
	unsigned char *in = NULL, *out = NULL;
	size_t inlen = 0, outlen = 0;
	int rc;
	if (pl_base64_decode(text, strlen(text), &in, &inlen) != 0) {
		free(text);
		c2s_sasl_failure(c, "incorrect-encoding", NULL);
		return;
	}
	free(text);
	rc = pl_sasl_step(c->sasl, in, inlen, &out, &outlen);
	free(in);
	c2s_sasl_reply(c, rc, out, outlen);
	free(out);
}

static void c2s_handle_sasl(pl_c2s *c, pl_xml_node *st)
{
	if (strcmp(st->name, "abort") == 0) {
		if (c->sasl) c2s_sasl_failure(c, "aborted", NULL);
		return;
	}
	if (strcmp(st->name, "auth") == 0) {
		if (c->sasl) {
			pl_sasl_free(c->sasl);
			c->sasl = NULL;
		}
		if (c->conn && !c->conn->tls && c->srv->tls && c->srv->cfg->starttls_required) {
			c2s_sasl_failure(c, "encryption-required", NULL);
			return;
		}
		const char *mech = pl_xml_attr_get(st, "mechanism");
		pl_sasl_opts o;
		unsigned char cb[32];
		c2s_sasl_opts(c, &o, cb);
		int rc = pl_sasl_start(mech ? mech : "", &o, &c->sasl);
		if (rc != 0) {
			c->sasl = NULL;
			c2s_sasl_failure(c, rc == PL_SASL_E_ENCRYPTION ? "encryption-required" : "invalid-mechanism",
				NULL);
			return;
		}
		c2s_sasl_data(c, st);
		return;
	}
	if (strcmp(st->name, "response") == 0 && c->sasl) {
		c2s_sasl_data(c, st);
		return;
	}
	c2s_stream_error(c, "not-authorized", "unexpected SASL element");
}

/* ---- binding and XEP-0198 resumption ---- */

typedef struct bind_req {
	pl_c2s *c;
	char *resource;
	char *iq_id;
	int alive;
} bind_req;

static void c2s_bind_done(pl_server *srv, pl_user *u, int status, void *ud)
{
	bind_req *r = ud;
	pl_c2s *c = r->c;
	if (c2s_async_done(c) != 0) {
		free(r->resource);
		free(r->iq_id);
		free(r);
		return;
	}
	if (status != 0 && !u->anonymous) {
		c2s_stream_error(c, "not-authorized", "the account no longer exists");
		goto out;
	}
	if (srv->cfg->max_resources > 0 && u->nsessions >= srv->cfg->max_resources) {
		int taken = 0;
		for (pl_session *s = u->sessions; s; s = s->next_in_user)
			if (r->resource && strcmp(s->resource, r->resource) == 0) taken = 1;
		if (!taken) {
			pl_buf b = PL_BUF_INIT;
			pl_buf_appends(&b, "<iq xmlns='jabber:client' type='error' id='");
			pl_buf_append_xml_escaped(&b, r->iq_id, strlen(r->iq_id), 1);
			pl_buf_appends(&b, "'><error type='wait'><resource-constraint xmlns='" PL_NS_STANZAS
					   "'/></error></iq>");
			c2s_write(c, b.data, b.len);
			pl_buf_free(&b);
			goto out;
		}
	}
	pl_session *s = pl_session_bind(u, r->resource, &c2s_session_ops, c, c->id);
	c->session = s;
	c->state = ST_BOUND;
	pl_buf b = PL_BUF_INIT;
	pl_buf_appends(&b, "<iq xmlns='jabber:client' type='result' id='");
	pl_buf_append_xml_escaped(&b, r->iq_id, strlen(r->iq_id), 1);
	pl_buf_appends(&b, "'><bind xmlns='" PL_NS_BIND "'><jid>");
	pl_buf_append_xml_escaped(&b, s->full, strlen(s->full), 0);
	pl_buf_appends(&b, "</jid></bind></iq>");
	c2s_write(c, b.data, b.len);
	pl_buf_free(&b);
	PL_INFO(c->id, "bound %s", s->full);
out:
	free(r->resource);
	free(r->iq_id);
	free(r);
	c2s_drain_backlog(c);
}

static void c2s_handle_bind(pl_c2s *c, pl_xml_node *iq, pl_xml_node *bind)
{
	const char *id = pl_xml_attr_get(iq, "id");
	char *res = pl_xml_child_text(bind, "resource", PL_NS_BIND);
	char *prepped = NULL;
	if (res && *res && pl_jid_resourceprep(res, &prepped) != 0) {
		free(res);
		pl_buf b = PL_BUF_INIT;
		pl_buf_appends(&b, "<iq xmlns='jabber:client' type='error' id='");
		pl_buf_append_xml_escaped(&b, id ? id : "", strlen(id ? id : ""), 1);
		pl_buf_appends(&b, "'><error type='modify'><bad-request xmlns='" PL_NS_STANZAS "'/></error></iq>");
		c2s_write(c, b.data, b.len);
		pl_buf_free(&b);
		return;
	}
	free(res);
	bind_req *r = PL_NEW(bind_req);
	r->c = c;
	r->resource = prepped;
	r->iq_id = pl_strdup(id ? id : "");
	c2s_async_begin(c);
	pl_user_with(c->srv, c->authid, c->host, c->anonymous_host, c2s_bind_done, r);
}

static void c2s_sm_failed(pl_c2s *c, const char *cond)
{
	pl_buf b = PL_BUF_INIT;
	pl_buf_printf(&b, "<failed xmlns='" PL_NS_SM "'><%s xmlns='" PL_NS_STANZAS "'/></failed>", cond);
	c2s_write(c, b.data, b.len);
	pl_buf_free(&b);
}

static void c2s_handle_resume(pl_c2s *c, pl_xml_node *st)
{
	const char *previd = pl_xml_attr_get(st, "previd");
	const char *hs = pl_xml_attr_get(st, "h");
	pl_session *s = NULL;
	if (previd) HASH_FIND(hh_sm, c->srv->sm_sessions, previd, strlen(previd), s);
	char bare[2048];
	snprintf(bare, sizeof bare, "%s@%s", c->authid, c->host);
	if (!s || !hs || strcmp(s->user->bare, bare) != 0 || s->closing || !s->sm_resumable) {
		c2s_sm_failed(c, "item-not-found");
		return;
	}
	char *end = NULL;
	unsigned long h = strtoul(hs, &end, 10);
	if (!end || *end || h > UINT32_MAX) {
		c2s_sm_failed(c, "bad-request");
		return;
	}
	/* h must lie between what the client acknowledged and what was sent; checked before anything is
	 * taken over, so a bad <resume/> leaves the session as it was */
	if ((uint32_t)h - s->sm_acked > (uint32_t)s->sm_queued) {
		c2s_sm_failed(c, "undefined-condition");
		return;
	}
	/* take the session over from its old connection, if that is still open */
	if (s->ops) {
		pl_c2s *old = s->transport;
		old->session = NULL;
		s->ops = NULL;
		s->transport = NULL;
		c2s_stream_error(old, "conflict", "the session was resumed by another connection");
	}
	if (s->sm_timer) uv_timer_stop(s->sm_timer);
	pl_sm_ack(s, (uint32_t)h); /* cannot fail: checked above */
	s->ops = &c2s_session_ops;
	s->transport = c;
	s->conn_id = c->id;
	c->session = s;
	c->state = ST_BOUND;
	char buf[512];
	snprintf(buf, sizeof buf, "<resumed xmlns='" PL_NS_SM "' previd='%s' h='%u'/>", s->sm_id, s->sm_h_in);
	c2s_writes(c, buf);
	PL_INFO(c->id, "resumed %s (client handled %lu, %zu stanzas to resend)", s->full, h, s->sm_queued);
	pl_sm_resend(s);
}

static void c2s_handle_sm(pl_c2s *c, pl_xml_node *st)
{
	pl_session *s = c->session;
	if (strcmp(st->name, "resume") == 0) {
		if (c->state != ST_AUTHED) c2s_sm_failed(c, "unexpected-request");
		else c2s_handle_resume(c, st);
		return;
	}
	if (!s) {
		c2s_sm_failed(c, "unexpected-request");
		return;
	}
	if (strcmp(st->name, "enable") == 0) {
		if (s->sm_enabled) {
			c2s_sm_failed(c, "unexpected-request");
			return;
		}
		const char *r = pl_xml_attr_get(st, "resume");
		pl_sm_enable(s, r && (strcmp(r, "true") == 0 || strcmp(r, "1") == 0));
		char buf[256];
		if (s->sm_resumable)
			snprintf(buf, sizeof buf, "<enabled xmlns='" PL_NS_SM "' id='%s' resume='true' max='%d'/>",
				s->sm_id, c->srv->cfg->sm_resume_timeout);
		else
			snprintf(buf, sizeof buf, "<enabled xmlns='" PL_NS_SM "'/>");
		c2s_writes(c, buf);
	} else if (strcmp(st->name, "r") == 0 && s->sm_enabled) {
		char buf[128];
		snprintf(buf, sizeof buf, "<a xmlns='" PL_NS_SM "' h='%u'/>", s->sm_h_in);
		c2s_writes(c, buf);
	} else if (strcmp(st->name, "a") == 0 && s->sm_enabled) {
		const char *hs = pl_xml_attr_get(st, "h");
		char *end = NULL;
		unsigned long h = hs ? strtoul(hs, &end, 10) : 0;
		if (!hs || !end || *end || h > UINT32_MAX || pl_sm_ack(s, (uint32_t)h) != 0)
			c2s_stream_error(c, "undefined-condition", "invalid acknowledgement");
	} else {
		c2s_sm_failed(c, "unexpected-request");
	}
}

/* ---- dispatch ---- */

static int is_stanza(const pl_xml_node *st)
{
	return st->ns && strcmp(st->ns, PL_NS_CLIENT) == 0 &&
	       (strcmp(st->name, "message") == 0 || strcmp(st->name, "presence") == 0 ||
		       strcmp(st->name, "iq") == 0);
}

static void c2s_process(pl_c2s *c, pl_xml_node *st)
{
	c->last_input = uv_now(c->srv->loop);
	c->ping_outstanding = 0;
	const char *ns = st->ns ? st->ns : "";
	if (strcmp(ns, PL_NS_SM) == 0 && c->state >= ST_AUTHED) {
		c2s_handle_sm(c, st);
		pl_xml_free(st);
		return;
	}
	switch (c->state) {
	case ST_NEGOTIATE:
		if (strcmp(ns, PL_NS_TLS) == 0 && strcmp(st->name, "starttls") == 0 && c->conn && !c->conn->tls &&
			c->srv->tls) {
			c2s_writes(c, "<proceed xmlns='" PL_NS_TLS "'/>");
			if (pl_conn_starttls(c->conn, c->srv->tls) != 0) {
				c2s_stream_error(c, "internal-server-error", NULL);
				break;
			}
			c->header_sent = 0;
			c2s_restart(c, 1);
		} else if (strcmp(ns, PL_NS_SASL) == 0) {
			c2s_handle_sasl(c, st);
		} else if (strcmp(ns, PL_NS_TLS) == 0) {
			c2s_writes(c, "<failure xmlns='" PL_NS_TLS "'/>");
			c2s_close(c);
		} else {
			c2s_stream_error(c, "not-authorized", "authenticate first");
		}
		break;
	case ST_AUTHED:
		if (is_stanza(st) && strcmp(st->name, "iq") == 0) {
			pl_xml_node *bind = pl_xml_child(st, "bind", PL_NS_BIND);
			const char *type = pl_xml_attr_get(st, "type");
			if (bind && type && strcmp(type, "set") == 0) {
				c2s_handle_bind(c, st, bind);
				break;
			}
		}
		c2s_stream_error(c, "not-authorized", "bind a resource first");
		break;
	case ST_BOUND:
		if (!is_stanza(st)) {
			if (strcmp(ns, PL_NS_CLIENT) == 0)
				c2s_stream_error(c, "unsupported-stanza-type", NULL);
			else
				c2s_stream_error(c, "invalid-namespace", NULL);
			break;
		}
		if (c->session->sm_enabled) c->session->sm_h_in++;
		if (strcmp(st->name, "iq") == 0) {
			pl_xml_node *sess = pl_xml_child(st, "session", PL_NS_SESSION);
			const char *to = pl_xml_attr_get(st, "to");
			const char *type = pl_xml_attr_get(st, "type");
			if (sess && !to && type && !strcmp(type, "set") && pl_xml_attr_get(st, "id") &&
				pl_xml_count_elems(st) == 1) { /* RFC 3921 session establishment: a no-op kept for old
								  clients */
				pl_xml_node *res = pl_iq_result(st);
				pl_session_send_xml(c->session, res);
				pl_xml_free(res);
				break;
			}
			if (pl_xml_child(st, "bind", PL_NS_BIND) && !to) {
				pl_send_error(c->session, st, "cancel", "not-allowed", "a resource is already bound");
				break;
			}
		}
		pl_route_from_client(c->session, st);
		return; /* ownership passed */
	default: break;
	}
	pl_xml_free(st);
}

static void c2s_drain_backlog(pl_c2s *c)
{
	while (c->backlog && !c->busy && c->state != ST_CLOSED) {
		backlog_item *it = c->backlog;
		c->backlog = it->next;
		if (!c->backlog) c->backlog_tail = NULL;
		c->nbacklog--;
		pl_xml_node *st = it->stanza;
		free(it);
		c2s_process(c, st);
		if (c->restart_pending) { /* outside the parser: reset now */
			c->restart_pending = 0;
			if (c->parser) pl_xml_stream_reset(c->parser);
		}
	}
	if (!c->busy && c->end_pending && c->state != ST_CLOSED) {
		c->end_pending = 0;
		c2s_end_by_client(c);
		return;
	}
	if (!c->busy && c->open && c->state != ST_CLOSED && c->tops->resume) c->tops->resume(c->t);
}

/* ---- connection callbacks ---- */

static void c2s_on_data(pl_conn *conn, const char *data, size_t len)
{
	pl_c2s *c = conn->ud;
	if (c->state == ST_CLOSED) return;
	c->last_input = uv_now(c->srv->loop);
	c->ping_outstanding = 0;
	c->in_parser = 1;
	int rc = pl_xml_stream_feed(c->parser, data, len);
	c->in_parser = 0;
	if (rc == 0 || c->state == ST_CLOSED) return;
	switch (rc) {
	case PL_XML_E_RESTRICTED: c2s_stream_error(c, "restricted-xml", NULL); break;
	case PL_XML_E_TOO_BIG:
		c2s_stream_error(c, "policy-violation", "stanza exceeds the size limit");
		break;
	case PL_XML_E_ENCODING: c2s_stream_error(c, "unsupported-encoding", "only UTF-8 is accepted"); break;
	case PL_XML_E_STOPPED: break;
	default: c2s_stream_error(c, "not-well-formed", NULL); break;
	}
}

static void c2s_on_tls_ready(pl_conn *conn)
{
	pl_c2s *c = conn->ud;
	PL_DEBUG(c->id, "TLS established (%s)", pl_conn_tls_version(conn));
}

static void c2s_timer_closed(uv_handle_t *h) { free(h); }

static void c2s_free(pl_c2s *c)
{
	uv_timer_stop(c->timer);
	pl_server *srv = c->srv;
	if (c->prev) c->prev->next = c->next;
	else srv->streams = c->next;
	if (c->next) c->next->prev = c->prev;
	while (c->backlog) {
		backlog_item *it = c->backlog;
		c->backlog = it->next;
		pl_xml_free(it->stanza);
		free(it);
	}
	if (c->sasl) pl_sasl_free(c->sasl);
	if (c->parser) pl_xml_stream_free(c->parser);
	uv_close((uv_handle_t *)c->timer, c2s_timer_closed);
	free(c->host);
	free(c->authid);
	free(c);
}

/* The transport is gone: the session (if any) waits for XEP-0198 resumption or ends. */
static void c2s_transport_lost(pl_c2s *c)
{
	c->state = ST_CLOSED;
	c->open = 0;
	c->conn = NULL;
	if (c->session) {
		pl_session *s = c->session;
		c->session = NULL;
		s->ops = NULL;
		s->transport = NULL;
		pl_session_transport_lost(s);
	}
	c2s_unref(c); /* an asynchronous step in flight keeps c until it returns */
}

static void c2s_conn_closed(pl_conn *conn, int reason)
{
	pl_c2s *c = conn->ud;
	PL_DEBUG(c->id, "connection closed (%s)", reason ? pl_strerror(reason) : "orderly");
	c2s_transport_lost(c);
}

void pl_c2s_transport_closed(pl_c2s *c)
{
	PL_DEBUG(c->id, "transport closed");
	c2s_transport_lost(c);
}

static void c2s_unref(pl_c2s *c)
{
	if (--c->refs == 0) c2s_free(c);
}

static void c2s_tick(uv_timer_t *t)
{
	pl_c2s *c = t->data;
	pl_config *cfg = c->srv->cfg;
	uint64_t now = uv_now(c->srv->loop);
	if (c->state == ST_CLOSED) return;
	/* an idle stream gives its XML parser back (about 11 KiB); it is rebuilt on the next input */
	if (c->parser && !c->in_parser && now - c->last_input >= 5000) pl_xml_stream_trim(c->parser);
	if (c->state != ST_BOUND) {
		if (cfg->auth_timeout > 0 && now - c->last_input >= (uint64_t)cfg->auth_timeout * 1000)
			c2s_stream_error(c, "connection-timeout", "authentication took too long");
		return;
	}
	if (cfg->idle_timeout <= 0) return;
	uint64_t idle = now - c->last_input;
	if (c->ping_outstanding) {
		if (idle >= (uint64_t)cfg->idle_timeout * 1000 + 60000)
			c2s_stream_error(c, "connection-timeout", "no answer to ping");
		return;
	}
	if (idle >= (uint64_t)cfg->idle_timeout * 1000) {
		char buf[160];
		snprintf(buf, sizeof buf, "<iq xmlns='jabber:client' type='get' id='ping-%llu' from='%s'><ping xmlns='" PL_NS_PING
					  "'/></iq>",
			(unsigned long long)now, c->host);
		c2s_writes(c, buf);
		c->ping_outstanding = 1;
	}
}

static const pl_conn_handler c2s_conn_handler = {c2s_on_data, c2s_on_tls_ready, c2s_conn_closed};

/* ---- the TCP/TLS transport ---- */

static int tcp_send_open(void *t, const char *from, const char *id)
{
	pl_c2s *c = t;
	pl_buf b = PL_BUF_INIT;
	pl_buf_appends(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
			   "xmlns:stream='" PL_NS_STREAMS "' id='");
	pl_buf_appends(&b, id);
	pl_buf_appends(&b, "' from='");
	pl_buf_append_xml_escaped(&b, from, strlen(from), 1);
	pl_buf_appends(&b, "' version='1.0' xml:lang='en'>");
	int rc = pl_conn_write_data(c->conn, b.data, b.len);
	pl_buf_free(&b);
	return rc;
}

static int tcp_send_element(void *t, pl_bytes *b)
{
	pl_c2s *c = t;
	return pl_conn_write(c->conn, b);
}

static void tcp_send_close(void *t)
{
	pl_c2s *c = t;
	if (c->overflow) {
		pl_conn_abort(c->conn); /* an overflowing queue is not flushed */
		return;
	}
	pl_conn_write_data(c->conn, "</stream:stream>", 16);
	pl_conn_close(c->conn);
}

static void tcp_pause(void *t) { pl_conn_pause(((pl_c2s *)t)->conn); }
static void tcp_resume(void *t) { pl_conn_resume(((pl_c2s *)t)->conn); }

static const pl_c2s_transport tcp_transport = {tcp_send_open, tcp_send_element, tcp_send_close, tcp_pause,
	tcp_resume};

static pl_c2s *c2s_new(pl_server *srv, uint64_t id, const char *peer_ip)
{
	pl_c2s *c = PL_NEW(pl_c2s);
	c->srv = srv;
	c->id = id;
	c->open = 1;
	snprintf(c->peer_ip, sizeof c->peer_ip, "%s", peer_ip ? peer_ip : "");
	c->state = ST_HEADER;
	c->refs = 1;
	c->last_input = uv_now(srv->loop);
	c->timer = PL_NEW(uv_timer_t);
	uv_timer_init(srv->loop, c->timer);
	c->timer->data = c;
	uint64_t period = 5000;
	if (srv->cfg->auth_timeout > 0 && (uint64_t)srv->cfg->auth_timeout * 1000 < period * 2)
		period = (uint64_t)srv->cfg->auth_timeout * 500 + 1;
	uv_timer_start(c->timer, c2s_tick, period, period);
	c->next = srv->streams;
	if (srv->streams) srv->streams->prev = c;
	srv->streams = c;
	srv->stats.streams_total++;
	return c;
}

void pl_c2s_accept(void *ud, pl_conn *conn)
{
	pl_server *srv = ud;
	pl_c2s *c = c2s_new(srv, conn->id, conn->peer_ip);
	c->conn = conn;
	c->tops = &tcp_transport;
	c->t = c;
	c->parser = pl_xml_stream_new(&c2s_parser_cb, c, (size_t)srv->cfg->max_stanza_size, 0);
	conn->ud = c;
	conn->handler = &c2s_conn_handler;
	PL_DEBUG(c->id, "client connection from %s:%d%s", conn->peer_ip, conn->peer_port,
		conn->direct_tls ? " (direct TLS)" : "");
}

void pl_c2s_close_all(pl_server *srv, const char *condition)
{
	for (pl_c2s *c = srv->streams; c; c = c->next) {
		if (c->session) {
			pl_session *s = c->session;
			c->session = NULL;
			s->ops = NULL;
			s->transport = NULL;
			pl_session_end(s);
		}
		if (condition) c2s_stream_error(c, condition, NULL);
		else c2s_close(c);
	}
}

int pl_c2s_count(pl_server *srv)
{
	int n = 0;
	for (pl_c2s *c = srv->streams; c; c = c->next) n++;
	return n;
}

/* ---- session transport ---- */

static int c2s_session_send(pl_session *s, pl_bytes *b)
{
	pl_c2s *c = s->transport;
	int rc = c2s_send_bytes(c, b);
	if (rc == PL_ELIMIT) PL_WARN(c->id, "output queue of %s over its limit", s->full);
	return rc;
}

/* ---- framed transports ---- */

pl_c2s *pl_c2s_new_framed(pl_server *srv, const pl_c2s_transport *ops, void *t, uint64_t conn_id,
	const char *peer_ip, int secure)
{
	pl_c2s *c = c2s_new(srv, conn_id, peer_ip);
	c->tops = ops;
	c->t = t;
	c->secure = secure;
	return c;
}

void pl_c2s_input_open(pl_c2s *c, const char *to, const char *version)
{
	if (c->state == ST_CLOSED) return;
	c->last_input = uv_now(c->srv->loop);
	c->restart_pending = 0;
	c2s_open(c, to, version);
}

void pl_c2s_input_element(pl_c2s *c, pl_xml_node *el)
{
	c->last_input = uv_now(c->srv->loop);
	c->ping_outstanding = 0;
	if (c2s_element_in(c, el) == 0) c->restart_pending = 0; /* the next open comes as input */
}

void pl_c2s_input_close(pl_c2s *c)
{
	if (c->state == ST_CLOSED) return;
	if (c->busy) {
		c->end_pending = 1;
		return;
	}
	c2s_end_by_client(c);
}

void pl_c2s_input_error(pl_c2s *c, const char *condition, const char *text)
{
	c2s_stream_error(c, condition, text);
}

/* Closes the stream of a session. While the session is being ended (s->closing) it is detached at
 * once; otherwise it stays attached until the connection's on_close reports the loss, so a close
 * requested in the middle of a broadcast never frees the session under the caller. */
static void c2s_session_close(pl_session *s, const char *condition, const char *text)
{
	pl_c2s *c = s->transport;
	if (s->closing) {
		c->session = NULL;
		s->ops = NULL;
		s->transport = NULL;
	}
	if (condition) c2s_stream_error(c, condition, text);
	else c2s_close(c);
}

static const pl_session_ops c2s_session_ops = {c2s_session_send, c2s_session_close};
