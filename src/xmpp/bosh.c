/* bosh.c: XMPP over BOSH (XEP-0124, XEP-0206) at /http-bind, as a framed transport of pl_c2s.
 *
 * It owns the BOSH sessions: session creation (sid from libsodium), the rid window (requests handled in
 * rid order; out-of-order ones wait for the gap to fill; a repeated rid is answered again from a cache of
 * the last `requests` responses; anything else ends the session with item-not-found), held requests
 * (long polling: the oldest held request carries the queued output; with nothing to say a request is
 * answered empty after `wait` seconds; more than `hold` held requests answer the oldest at once), the
 * bounded output queue, stream restarts, terminate in both directions and the inactivity timeout (no
 * request for `inactivity` seconds after the last answer -> pl_c2s_transport_closed, after which XEP-0198
 * resumption works as it does over TCP). XML stream semantics (SASL, binding, stream errors) stay in
 * stream.c; HTTP parsing, limits and CORS stay in src/http.
 *
 * Settings, read when a session is created (a reload applies to new sessions):
 *   [bosh] max_wait      60 s  longest a request is held (the client's 'wait' is lowered to it)
 *   [bosh] max_requests   2    simultaneous requests; the client's 'hold' is lowered to max_requests - 1
 *                              and 'requests' = hold + 1 (also the rid window and the retransmission cache)
 *   [bosh] inactivity    60 s  session ends after this long with no request held
 *   BOSH_POLLING          2 s  announced shortest polling interval (a constant, not enforced)
 *   body size        [http] max_body_size (a larger body gets 413 from the HTTP layer; the XML parser
 *                    enforces it again)
 *   output queue     [limits] max_output_queue bytes (over it the stream is aborted)
 *
 * Errors: malformed body -> HTTP 400; unknown sid or rid out of the window -> 200 with type='terminate'
 * condition='item-not-found' (XEP-0124 §17); more requests at once than 'requests' -> 'policy-violation';
 * a stream error from the c2s -> type='terminate' condition='remote-stream-error' with the error inside. */
#include "xmpp/bosh.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "xmpp/stream.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BOSH_POLLING 2
#define BOSH_VER "1.11"
#define BOSH_MAX_OUT_ELEMENTS 4096 /* queued elements, besides the byte limit */
#define BOSH_CONTENT_TYPE "text/xml; charset=utf-8"
#define BOSH_HEADERS "Cache-Control: no-store\r\n"

typedef struct bosh_session bosh_session;

/* An HTTP request of a session: held (processed, waiting to carry output) or waiting for its turn
 * (rid ahead of the next expected one; its parsed body is kept until then). */
typedef struct bosh_req {
	pl_http_req *req;
	bosh_session *s;
	uint64_t rid;
	uint64_t deadline_ms; /* held: answered empty at this time */
	pl_bosh_body body;    /* waiting only */
	struct bosh_req *next;
} bosh_req;

typedef struct bosh_cached {
	uint64_t rid;
	pl_bytes *body; /* NULL = free slot */
} bosh_cached;

typedef struct pl_bosh {
	pl_server *srv;
	pl_http *http;
	bosh_session *sessions; /* by sid */
	struct pl_bosh *next;   /* module instances (one per server) */
} pl_bosh;

struct bosh_session {
	pl_bosh *mod;
	char sid[33];
	pl_c2s *c;        /* NULL once reported closed */
	uint64_t conn_id; /* of the creating request, for logs */
	char *to, *from, *authid;
	int wait, hold, requests, inactivity;
	uint64_t last_rid; /* highest rid processed in order */
	uint64_t creation_rid;
	int created_answered; /* the creation response (with the session attributes) went out */
	bosh_req *held;       /* oldest first (= rid order) */
	int nheld;
	bosh_req *waiting; /* sorted by rid */
	int nwaiting;
	pl_bytes **out; /* queued output elements */
	size_t nout, capout, out_bytes;
	int stream_error; /* a <stream:error/> is queued: the terminate says remote-stream-error */
	bosh_cached cache[PL_BOSH_REQUESTS_CAP];
	size_t cache_next;
	int closing; /* the c2s closed the stream: every answer is type='terminate' */
	int terminate_sent;
	int report_closed; /* pl_c2s_transport_closed is still to be called (from the timer) */
	int flush_due;     /* output arrived while a request is held */
	int in_handler;    /* inside our HTTP handler: it services the session when done */
	uint64_t last_activity_ms;
	uv_timer_t *timer;
	UT_hash_handle hh;
};

static pl_bosh *g_mods;

static void session_arm(bosh_session *s);
static void session_destroy(bosh_session *s, const char *condition);

/* ---- pure parts ---- */

static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
	if (!v || !*v) return -1;
	uint64_t n = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9') return -1;
		uint64_t d = (uint64_t)(*p - '0');
		if (n > (max - d) / 10) return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/* Elements that inherited the httpbind namespace (no xmlns on the stanza) belong to jabber:client. */
static void fix_namespace(pl_xml_node *n)
{
	if (n->type != PL_XML_ELEM || !n->ns || strcmp(n->ns, PL_NS_HTTPBIND) != 0) return;
	free(n->ns);
	n->ns = pl_strdup(PL_NS_CLIENT);
	for (size_t i = 0; i < n->nchildren; i++)
		fix_namespace(n->children[i]);
}

int pl_bosh_body_parse(const char *data, size_t len, size_t max_bytes, pl_bosh_body *out)
{
	memset(out, 0, sizeof *out);
	pl_xml_node *root = NULL;
	if (pl_xml_parse_document(data, len, max_bytes, &root) != 0) return PL_BOSH_E_XML;
	if (root->type != PL_XML_ELEM || strcmp(root->name, "body") != 0 || !root->ns ||
	    strcmp(root->ns, PL_NS_HTTPBIND) != 0) {
		pl_xml_free(root);
		return PL_BOSH_E_ROOT;
	}
	uint64_t rid = 0, n = 0;
	if (parse_uint(pl_xml_attr_get(root, "rid"), PL_BOSH_RID_MAX, &rid) != 0 || rid == 0) {
		pl_xml_free(root);
		return PL_BOSH_E_RID;
	}
	pl_bosh_body b = {root, NULL, NULL, NULL, NULL, NULL, rid, -1, -1, 0};
	b.sid = pl_xml_attr_get(root, "sid");
	b.to = pl_xml_attr_get(root, "to");
	b.type = pl_xml_attr_get(root, "type");
	b.ver = pl_xml_attr_get(root, "ver");
	b.xmpp_version = pl_xml_attr_get(root, PL_NS_XBOSH "|version");
	const char *restart = pl_xml_attr_get(root, PL_NS_XBOSH "|restart");
	b.restart = restart && (strcmp(restart, "true") == 0 || strcmp(restart, "1") == 0);
	const char *wait = pl_xml_attr_get(root, "wait"), *hold = pl_xml_attr_get(root, "hold");
	int bad = 0;
	if (wait) {
		bad |= parse_uint(wait, 1000000000, &n);
		b.wait = (int)n;
	}
	if (hold) {
		bad |= parse_uint(hold, 1000000000, &n);
		b.hold = (int)n;
	}
	if (b.sid && (!*b.sid || strlen(b.sid) > 64)) bad = 1;
	if (b.type && strcmp(b.type, "terminate") != 0) b.type = NULL; /* other types carry no meaning here */
	if (bad) {
		pl_xml_free(root);
		return PL_BOSH_E_ATTR;
	}
	for (size_t i = 0; i < root->nchildren; i++)
		fix_namespace(root->children[i]);
	*out = b;
	return 0;
}

void pl_bosh_body_free(pl_bosh_body *b)
{
	if (b->root) pl_xml_free(b->root);
	memset(b, 0, sizeof *b);
}

enum pl_bosh_rid_verdict pl_bosh_rid_check(uint64_t last, uint64_t rid, unsigned window)
{
	if (window == 0) window = 1;
	if (rid == last + 1) return PL_BOSH_RID_NEXT;
	if (rid > last + 1 && rid - last <= window) return PL_BOSH_RID_AHEAD;
	if (rid <= last && last - rid < window) return PL_BOSH_RID_REPEAT;
	return PL_BOSH_RID_OUT;
}

void pl_bosh_wrap(pl_buf *out, const char *type, const char *condition, const char *extra_attrs,
                  pl_bytes *const *els, size_t n)
{
	pl_buf_appends(out, "<body xmlns='" PL_NS_HTTPBIND "'");
	if (type) {
		pl_buf_appends(out, " type='");
		pl_buf_append_xml_escaped(out, type, strlen(type), 1);
		pl_buf_appendc(out, '\'');
	}
	if (condition) {
		pl_buf_appends(out, " condition='");
		pl_buf_append_xml_escaped(out, condition, strlen(condition), 1);
		pl_buf_appendc(out, '\'');
	}
	if (extra_attrs) pl_buf_appends(out, extra_attrs);
	if (n == 0) {
		pl_buf_appends(out, "/>");
		return;
	}
	pl_buf_appendc(out, '>');
	for (size_t i = 0; i < n; i++)
		pl_buf_append(out, els[i]->data, els[i]->len);
	pl_buf_appends(out, "</body>");
}

/* ---- answering ---- */

static uint64_t now_ms(const bosh_session *s)
{
	return uv_now(s->mod->srv->loop);
}

static void respond_bytes(pl_http_req *req, const char *data, size_t len)
{
	pl_http_respond(req, 200, BOSH_CONTENT_TYPE, data, len, BOSH_HEADERS);
}

/* A terminate body for a request outside any session. */
static void respond_terminate(pl_http_req *req, const char *condition)
{
	pl_buf b = PL_BUF_INIT;
	pl_bosh_wrap(&b, "terminate", condition, NULL, NULL, 0);
	respond_bytes(req, b.data, b.len);
	pl_buf_free(&b);
}

static void respond_empty(pl_http_req *req)
{
	static const char empty[] = "<body xmlns='" PL_NS_HTTPBIND "'/>";
	respond_bytes(req, empty, sizeof empty - 1);
}

static void respond_bad_request(pl_http_req *req, const char *why)
{
	pl_http_respond(req, 400, "text/plain; charset=utf-8", why, strlen(why), NULL);
}

static void cache_put(bosh_session *s, uint64_t rid, pl_bytes *body)
{
	size_t n = (size_t)s->requests;
	for (size_t i = 0; i < n; i++)
		if (s->cache[i].body && s->cache[i].rid == rid) {
			pl_bytes_unref(s->cache[i].body);
			s->cache[i].body = pl_bytes_ref(body);
			return;
		}
	bosh_cached *slot = &s->cache[s->cache_next];
	if (slot->body) pl_bytes_unref(slot->body);
	slot->rid = rid;
	slot->body = pl_bytes_ref(body);
	s->cache_next = (s->cache_next + 1) % n;
}

static pl_bytes *cache_get(bosh_session *s, uint64_t rid)
{
	for (int i = 0; i < s->requests; i++)
		if (s->cache[i].body && s->cache[i].rid == rid) return s->cache[i].body;
	return NULL;
}

static void creation_attrs(bosh_session *s, pl_buf *a)
{
	pl_buf_printf(a,
	              " xmlns:xmpp='" PL_NS_XBOSH "' xmlns:stream='" PL_NS_STREAMS
	              "' sid='%s' wait='%d' requests='%d'"
	              " hold='%d' inactivity='%d' polling='%d' ver='" BOSH_VER "'",
	              s->sid, s->wait, s->requests, s->hold, s->inactivity, BOSH_POLLING);
	if (s->from) {
		pl_buf_appends(a, " from='");
		pl_buf_append_xml_escaped(a, s->from, strlen(s->from), 1);
		pl_buf_appendc(a, '\'');
	}
	if (s->authid) {
		pl_buf_appends(a, " authid='");
		pl_buf_append_xml_escaped(a, s->authid, strlen(s->authid), 1);
		pl_buf_appendc(a, '\'');
	}
	pl_buf_appends(a, " xmpp:version='1.0' xmpp:restartlogic='true'");
}

/* Removes the oldest held request and answers it with the whole output queue (and the terminate when
 * the stream is closing), caching the answer for retransmission. */
static void answer_oldest(bosh_session *s)
{
	bosh_req *r = s->held;
	s->held = r->next;
	s->nheld--;
	pl_buf attrs = PL_BUF_INIT, b = PL_BUF_INIT;
	if (!s->created_answered && r->rid == s->creation_rid) {
		creation_attrs(s, &attrs);
		s->created_answered = 1;
	}
	const char *type = NULL, *cond = NULL;
	if (s->closing) {
		type = "terminate";
		cond = s->stream_error ? "remote-stream-error" : NULL;
		s->terminate_sent = 1;
	}
	pl_bosh_wrap(&b, type, cond, attrs.len ? attrs.data : NULL, s->out, s->nout);
	for (size_t i = 0; i < s->nout; i++)
		pl_bytes_unref(s->out[i]);
	s->nout = 0;
	s->out_bytes = 0;
	s->stream_error = 0;
	pl_bytes *body = pl_bytes_from_buf(&b);
	cache_put(s, r->rid, body);
	respond_bytes(r->req, body->data, body->len);
	pl_bytes_unref(body);
	pl_buf_free(&attrs);
	free(r);
	s->last_activity_ms = now_ms(s);
}

/* Answers what can be answered now: output (or the terminate) on the oldest held request, requests over
 * the hold limit, requests held for `wait` seconds. Then re-arms the timer. */
static void session_service(bosh_session *s)
{
	uint64_t now = now_ms(s);
	s->flush_due = 0;
	while (s->held && (s->nout > 0 || s->closing))
		answer_oldest(s);
	while (s->held && s->nheld > s->hold)
		answer_oldest(s);
	while (s->held && s->held->deadline_ms <= now)
		answer_oldest(s);
	session_arm(s);
}

static void session_tick(uv_timer_t *t)
{
	bosh_session *s = t->data;
	if (s->report_closed && s->c) {
		pl_c2s *c = s->c;
		s->c = NULL;
		s->report_closed = 0;
		pl_c2s_transport_closed(c);
	}
	session_service(s);
	if (s->closing && s->terminate_sent) {
		session_destroy(s, NULL);
		return;
	}
	if (!s->held && now_ms(s) >= s->last_activity_ms + (uint64_t)s->inactivity * 1000) {
		PL_INFO(s->conn_id, "BOSH session %s inactive for %d s: closing", s->sid, s->inactivity);
		session_destroy(s, NULL);
	}
}

static void session_arm(bosh_session *s)
{
	uint64_t now = now_ms(s), at;
	if (s->report_closed || s->flush_due || (s->closing && s->terminate_sent))
		at = now;
	else if (s->held)
		at = s->held->deadline_ms;
	else
		at = s->last_activity_ms + (uint64_t)s->inactivity * 1000;
	uv_timer_start(s->timer, session_tick, at > now ? at - now : 0, 0);
}

static void req_aborted(pl_http_req *req, void *ud)
{
	bosh_req *r = ud;
	bosh_session *s = r->s;
	for (bosh_req **pp = &s->held; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			s->nheld--;
			/* nothing was sent for this rid: a retransmission gets an empty answer */
			pl_buf b = PL_BUF_INIT;
			pl_bosh_wrap(&b, NULL, NULL, NULL, NULL, 0);
			pl_bytes *body = pl_bytes_from_buf(&b);
			if (r->rid != s->creation_rid || s->created_answered) cache_put(s, r->rid, body);
			pl_bytes_unref(body);
			break;
		}
	for (bosh_req **pp = &s->waiting; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			s->nwaiting--;
			pl_bosh_body_free(&r->body);
			break;
		}
	free(r);
	s->last_activity_ms = now_ms(s);
	if (!s->in_handler) session_arm(s);
}

/* ---- the c2s transport ---- */

static int t_send_open(void *t, const char *from, const char *id)
{
	bosh_session *s = t;
	if (!s->from && from) s->from = pl_strdup(from);
	if (!s->authid && id) s->authid = pl_strdup(id);
	return 0;
}

static int t_send_element(void *t, pl_bytes *b)
{
	bosh_session *s = t;
	if (s->closing) return PL_ECLOSED;
	size_t limit = (size_t)s->mod->srv->cfg->max_output_queue;
	if (s->nout >= BOSH_MAX_OUT_ELEMENTS || s->out_bytes + b->len > limit) return PL_ELIMIT;
	if (s->nout == s->capout) {
		s->capout = s->capout ? s->capout * 2 : 8;
		s->out = pl_realloc(s->out, s->capout * sizeof *s->out);
	}
	s->out[s->nout++] = pl_bytes_ref(b);
	s->out_bytes += b->len;
	if (b->len >= 13 && memcmp(b->data, "<stream:error", 13) == 0) s->stream_error = 1;
	if (s->held) {
		s->flush_due = 1;
		if (!s->in_handler) session_arm(s);
	}
	return 0;
}

static void t_send_close(void *t)
{
	bosh_session *s = t;
	if (s->closing) return;
	s->closing = 1;
	s->report_closed = 1;
	if (!s->in_handler) session_arm(s);
}

static const pl_c2s_transport bosh_transport = {t_send_open, t_send_element, t_send_close, NULL, NULL};

/* ---- sessions ---- */

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

/* Ends the session now: reports the transport closed if the c2s still has it, answers every request still
 * held or waiting with type='terminate' (condition may be NULL) and frees everything. */
static void session_destroy(bosh_session *s, const char *condition)
{
	if (s->c) {
		pl_c2s *c = s->c;
		s->c = NULL;
		pl_c2s_transport_closed(c);
	}
	while (s->held) {
		bosh_req *r = s->held;
		s->held = r->next;
		respond_terminate(r->req, condition);
		free(r);
	}
	while (s->waiting) {
		bosh_req *r = s->waiting;
		s->waiting = r->next;
		respond_terminate(r->req, condition);
		pl_bosh_body_free(&r->body);
		free(r);
	}
	for (size_t i = 0; i < s->nout; i++)
		pl_bytes_unref(s->out[i]);
	free(s->out);
	for (int i = 0; i < PL_BOSH_REQUESTS_CAP; i++)
		if (s->cache[i].body) pl_bytes_unref(s->cache[i].body);
	HASH_DEL(s->mod->sessions, s);
	PL_INFO(s->conn_id, "BOSH session %s ended", s->sid);
	uv_timer_stop(s->timer);
	uv_close((uv_handle_t *)s->timer, timer_closed);
	free(s->to);
	free(s->from);
	free(s->authid);
	free(s);
}

/* A request for the session's next rid: it becomes held, then its content goes to the c2s. */
static void process(bosh_session *s, pl_http_req *req, pl_bosh_body *body)
{
	bosh_req *r = PL_NEW(bosh_req);
	r->req = req;
	r->s = s;
	r->rid = body->rid;
	r->deadline_ms = now_ms(s) + (uint64_t)s->wait * 1000;
	bosh_req **pp = &s->held;
	while (*pp)
		pp = &(*pp)->next;
	*pp = r;
	s->nheld++;
	pl_http_set_abort(req, req_aborted, r);
	s->last_rid = body->rid;
	s->last_activity_ms = now_ms(s);
	if (s->closing || !s->c) return;
	if (body->restart) pl_c2s_input_open(s->c, body->to ? body->to : s->to, "1.0");
	pl_xml_node *root = body->root;
	while (!s->closing && root->nchildren > 0) {
		pl_xml_node *el = root->children[0];
		pl_xml_detach(el);
		if (el->type != PL_XML_ELEM) {
			pl_xml_free(el);
			continue;
		}
		pl_c2s_input_element(s->c, el);
	}
	if (!s->closing && body->type) pl_c2s_input_close(s->c);
}

/* Processes the waiting requests whose turn has come. */
static void process_waiting(bosh_session *s)
{
	while (s->waiting && s->waiting->rid == s->last_rid + 1) {
		bosh_req *w = s->waiting;
		s->waiting = w->next;
		s->nwaiting--;
		process(s, w->req, &w->body);
		pl_bosh_body_free(&w->body);
		free(w);
	}
}

/* Ends the session with a terminal error answered on req (and on every other pending request). */
static void session_fail(bosh_session *s, pl_http_req *req, const char *condition)
{
	PL_INFO(s->conn_id, "BOSH session %s: %s", s->sid, condition);
	respond_terminate(req, condition);
	session_destroy(s, condition);
}

static void handle_create(pl_bosh *m, pl_http_req *req, pl_bosh_body *body)
{
	pl_server *srv = m->srv;
	if (!body->to) {
		respond_terminate(req, "improper-addressing");
		return;
	}
	if (!pl_server_is_local_domain(srv, body->to)) {
		respond_terminate(req, "host-unknown");
		return;
	}
	if (srv->shutting_down) {
		respond_terminate(req, "system-shutdown");
		return;
	}
	if ((int)HASH_COUNT(m->sessions) >= srv->cfg->max_connections) {
		PL_WARN(0, "BOSH: session limit reached (%d)", srv->cfg->max_connections);
		respond_terminate(req, "policy-violation");
		return;
	}
	bosh_session *s = PL_NEW(bosh_session);
	s->mod = m;
	s->conn_id = req->conn ? req->conn->id : 0;
	do {
		unsigned char rnd[16];
		randombytes_buf(rnd, sizeof rnd);
		sodium_bin2hex(s->sid, sizeof s->sid, rnd, sizeof rnd);
		bosh_session *dup = NULL;
		HASH_FIND_STR(m->sessions, s->sid, dup);
		if (!dup) break;
	} while (1);
	HASH_ADD_STR(m->sessions, sid, s);
	s->to = pl_strdup(body->to);
	const pl_config *cfg = srv->cfg;
	int max_hold =
	    (cfg->bosh_max_requests < PL_BOSH_REQUESTS_CAP ? cfg->bosh_max_requests : PL_BOSH_REQUESTS_CAP) -
	    1;
	s->wait = body->wait < 0 || body->wait > cfg->bosh_max_wait ? cfg->bosh_max_wait : body->wait;
	if (s->wait < 1) s->wait = 1;
	s->hold = body->hold < 0 || body->hold > max_hold ? max_hold : body->hold;
	if (s->hold < 0) s->hold = 0;
	s->requests = s->hold + 1;
	s->inactivity = cfg->bosh_inactivity > 0 ? cfg->bosh_inactivity : 60;
	s->creation_rid = body->rid;
	s->last_rid = body->rid - 1;
	s->timer = PL_NEW(uv_timer_t);
	uv_timer_init(srv->loop, s->timer);
	uv_unref((uv_handle_t *)s->timer); /* shutdown never waits for an idle BOSH session */
	s->timer->data = s;
	PL_INFO(s->conn_id, "BOSH session %s created for %s (wait %d, hold %d%s)", s->sid, req->client_ip,
	        s->wait, s->hold, req->secure ? ", secure" : "");
	s->c = pl_c2s_new_framed(srv, &bosh_transport, s, s->conn_id, req->client_ip, req->secure);
	s->in_handler = 1;
	/* the creation request is the first held one; the open then answers on it with the features */
	const char *version = body->xmpp_version;
	bosh_req *r = PL_NEW(bosh_req);
	r->req = req;
	r->s = s;
	r->rid = body->rid;
	r->deadline_ms = now_ms(s) + (uint64_t)s->wait * 1000;
	s->held = r;
	s->nheld = 1;
	pl_http_set_abort(req, req_aborted, r);
	s->last_rid = body->rid;
	s->last_activity_ms = now_ms(s);
	pl_c2s_input_open(s->c, s->to, version);
	s->in_handler = 0;
	session_service(s);
}

static void handle_post(pl_bosh *m, pl_http_req *req)
{
	pl_bosh_body body;
	int rc = pl_bosh_body_parse(req->body, req->body_len, (size_t)m->srv->cfg->http_max_body_size, &body);
	if (rc != 0) {
		PL_DEBUG(req->conn ? req->conn->id : 0, "BOSH: bad body (%d)", rc);
		respond_bad_request(req, rc == PL_BOSH_E_RID ? "bad-request: rid\n" : "bad-request\n");
		return;
	}
	if (!body.sid) {
		handle_create(m, req, &body);
		pl_bosh_body_free(&body);
		return;
	}
	bosh_session *s = NULL;
	HASH_FIND_STR(m->sessions, body.sid, s);
	if (!s) {
		respond_terminate(req, "item-not-found");
		pl_bosh_body_free(&body);
		return;
	}
	if (s->closing) { /* the stream is over: this request carries the terminate */
		respond_terminate(req, NULL);
		s->terminate_sent = 1;
		session_arm(s);
		pl_bosh_body_free(&body);
		return;
	}
	s->in_handler = 1;
	switch (pl_bosh_rid_check(s->last_rid, body.rid, (unsigned)s->requests)) {
	case PL_BOSH_RID_NEXT:
		process(s, req, &body);
		process_waiting(s);
		break;
	case PL_BOSH_RID_AHEAD: {
		bosh_req **pp = &s->waiting;
		while (*pp && (*pp)->rid < body.rid)
			pp = &(*pp)->next;
		if (*pp &&
		    (*pp)->rid == body.rid) { /* retransmitted before its turn: the new one replaces it */
			bosh_req *old = *pp;
			respond_empty(old->req);
			pl_bosh_body_free(&old->body);
			old->req = req;
			old->body = body;
			pl_http_set_abort(req, req_aborted, old);
			body.root = NULL;
			break;
		}
		if (s->nheld + s->nwaiting + 1 > s->requests) {
			s->in_handler = 0;
			session_fail(s, req, "policy-violation");
			pl_bosh_body_free(&body);
			return;
		}
		bosh_req *w = PL_NEW(bosh_req);
		w->req = req;
		w->s = s;
		w->rid = body.rid;
		w->body = body;
		body.root = NULL;
		w->next = *pp;
		*pp = w;
		s->nwaiting++;
		pl_http_set_abort(req, req_aborted, w);
		break;
	}
	case PL_BOSH_RID_REPEAT: {
		pl_bytes *cached = cache_get(s, body.rid);
		bosh_req *h = s->held;
		while (h && h->rid != body.rid)
			h = h->next;
		if (cached) {
			respond_bytes(req, cached->data, cached->len);
		} else if (h) { /* still held: the new connection takes its place */
			respond_empty(h->req);
			h->req = req;
			pl_http_set_abort(req, req_aborted, h);
		} else {
			s->in_handler = 0;
			session_fail(s, req, "item-not-found");
			pl_bosh_body_free(&body);
			return;
		}
		break;
	}
	case PL_BOSH_RID_OUT:
		s->in_handler = 0;
		session_fail(s, req, "item-not-found");
		pl_bosh_body_free(&body);
		return;
	}
	s->in_handler = 0;
	session_service(s);
	pl_bosh_body_free(&body);
}

static void bosh_handler(pl_http_req *req, void *ud)
{
	pl_bosh *m = ud;
	if (strcmp(req->method, "POST") == 0) {
		handle_post(m, req);
	} else if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
		static const char note[] =
		    "<!DOCTYPE html><html><head><title>parley BOSH</title></head><body>"
		    "<p>XMPP over BOSH (XEP-0124, XEP-0206) is served here: POST &lt;body/&gt; "
		    "documents to this address.</p></body></html>\n";
		pl_http_respond(req, 200, "text/html; charset=utf-8", note, sizeof note - 1, NULL);
	} else {
		pl_http_respond_error(req, 405, "method-not-allowed", "BOSH takes POST requests");
	}
}

/* ---- registration ---- */

static pl_bosh *mod_for(pl_server *srv)
{
	for (pl_bosh *m = g_mods; m; m = m->next)
		if (m->srv == srv) return m;
	return NULL;
}

void pl_bosh_register(pl_server *srv, pl_http *http)
{
	pl_bosh *m = PL_NEW(pl_bosh);
	m->srv = srv;
	m->http = http;
	m->next = g_mods;
	g_mods = m;
	pl_http_route(http, NULL, "/http-bind", bosh_handler, m);
}

void pl_bosh_shutdown(pl_server *srv)
{
	for (pl_bosh **pp = &g_mods; *pp; pp = &(*pp)->next) {
		pl_bosh *m = *pp;
		if (m->srv != srv) continue;
		bosh_session *s, *tmp;
		HASH_ITER(hh, m->sessions, s, tmp)
		{
			session_destroy(s, "system-shutdown");
		}
		*pp = m->next;
		free(m);
		return;
	}
}

int pl_bosh_count(pl_server *srv)
{
	pl_bosh *m = mod_for(srv);
	return m ? (int)HASH_COUNT(m->sessions) : 0;
}
