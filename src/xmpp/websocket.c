/* websocket.c: XMPP over WebSocket (RFC 7395) at /xmpp-websocket.
 *
 * It owns the upgrade handshake (RFC 6455 §4.2: GET with Upgrade/Connection, version 13, a 16-byte key,
 * and the "xmpp" subprotocol, which is required), the WebSocket frame layer (wslay's event API driven
 * from libuv: received bytes wait in a small buffer that wslay's recv callback drains; frames are written
 * straight into the connection's bounded output queue), and the RFC 7395 framing: every text message is
 * one standalone XML element; <open/> and <close/> in urn:ietf:params:xml:ns:xmpp-framing stand for the
 * stream header and end. Everything else is the client stream layer's (stream.c), reached through
 * pl_c2s_input_* and answered through the pl_c2s_transport below, so SASL, binding and XEP-0198
 * resumption behave as over TCP.
 *
 * Limits: a message over [limits] max_stanza_size gets the policy-violation stream error as soon as its
 * frame headers announce it (before the payload arrives); binary messages get not-well-formed (RFC 7395
 * §3.2 allows text only); unmasked client frames and protocol errors end the WebSocket with wslay's close
 * code. Output obeys [limits] max_output_queue like TCP. The read rate limit is net.c's, on the same
 * connection. Memory: the pl_ws is freed in the connection's on_close, never inside its own callback. */
#include "xmpp/websocket.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "xmpp/sasl.h"
#include "xmpp/stream.h"
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_PENDING_INPUT (256 * 1024) /* received bytes not yet framed before reading pauses */

typedef struct pl_ws {
	pl_server *srv;
	pl_conn *conn; /* NULL in fuzz mode */
	pl_c2s *c2s;   /* NULL in fuzz mode */
	wslay_event_context_ptr ctx;
	pl_buf in; /* received, not yet consumed by wslay */
	size_t in_off;
	int paused;    /* the stream layer asked us to stop */
	int in_recv;   /* inside wslay_event_recv */
	int closing;   /* send_close was called */
	int overflow;  /* output refused: abort instead of flushing */
	int failed;    /* a framing error was reported: ignore further input */
	uint64_t msg_len;
	size_t max_msg;
} pl_ws;

static int ws_open_count;

int pl_ws_count(void) { return ws_open_count; }

/* ---- message parsing (pure) ---- */

int pl_ws_parse_message(const char *msg, size_t len, size_t max_bytes, int *kind, pl_xml_node **el,
	const char **condition)
{
	*el = NULL;
	*kind = 0;
	*condition = NULL;
	pl_xml_node *n = NULL;
	int rc = pl_xml_parse_document(msg, len, max_bytes, &n);
	if (rc != 0) {
		*condition = rc == PL_XML_E_TOO_BIG     ? "policy-violation"
			     : rc == PL_XML_E_RESTRICTED ? "restricted-xml"
			     : rc == PL_XML_E_ENCODING   ? "unsupported-encoding"
							 : "not-well-formed";
		return PL_EPARSE;
	}
	if (n->ns && strcmp(n->ns, PL_NS_FRAMING) == 0) {
		if (strcmp(n->name, "open") == 0) *kind = PL_WS_MSG_OPEN;
		else if (strcmp(n->name, "close") == 0) *kind = PL_WS_MSG_CLOSE;
		else {
			pl_xml_free(n);
			*condition = "unsupported-stanza-type";
			return PL_EPARSE;
		}
	} else if (n->ns && strcmp(n->ns, PL_NS_STREAMS) == 0 && strcmp(n->name, "stream") == 0) {
		pl_xml_free(n); /* RFC 7395 §3.3.2: the stream header is <open/>, never <stream:stream> */
		*condition = "invalid-namespace";
		return PL_EPARSE;
	} else {
		*kind = PL_WS_MSG_ELEMENT;
	}
	*el = n;
	return 0;
}

/* ---- wslay callbacks ---- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
	pl_ws *ws = ud;
	size_t avail = ws->in.len - ws->in_off;
	if (ws->paused || ws->failed || avail == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t n = avail < len ? avail : len;
	memcpy(buf, ws->in.data + ws->in_off, n);
	ws->in_off += n;
	return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
	pl_ws *ws = ud;
	if (!ws->conn) return (ssize_t)len; /* fuzz mode: output goes nowhere */
	int rc = pl_conn_write_data(ws->conn, data, len);
	if (rc != 0) {
		if (rc == PL_ELIMIT) ws->overflow = 1;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static void ws_fail(pl_ws *ws, const char *condition, const char *text)
{
	if (ws->failed) return;
	ws->failed = 1;
	if (ws->c2s) pl_c2s_input_error(ws->c2s, condition, text);
	else wslay_event_shutdown_read(ws->ctx);
}

static void ws_frame_start_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_start_arg *arg,
	void *ud)
{
	pl_ws *ws = ud;
	if (arg->opcode >= 0x8) return; /* control frames: small, handled by wslay */
	if (arg->opcode != WSLAY_CONTINUATION_FRAME) ws->msg_len = 0;
	ws->msg_len += arg->payload_length;
	if (ws->msg_len > ws->max_msg) ws_fail(ws, "policy-violation", "stanza exceeds the size limit");
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
	pl_ws *ws = ud;
	if (ws->failed) return;
	if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
		/* the peer closed the WebSocket (wslay answers the close frame); without a prior <close/>
		 * this is like a dropped TCP connection: the session may be resumed (XEP-0198) */
		PL_DEBUG(ws->conn ? ws->conn->id : 0, "websocket close frame (status %u)", arg->status_code);
		return;
	}
	if (arg->opcode == WSLAY_BINARY_FRAME) {
		ws_fail(ws, "not-well-formed", "XMPP over WebSocket uses text messages only");
		return;
	}
	if (arg->opcode != WSLAY_TEXT_FRAME) return;
	ws->msg_len = 0;
	int kind;
	pl_xml_node *el;
	const char *cond;
	if (pl_ws_parse_message((const char *)arg->msg, arg->msg_length, ws->max_msg, &kind, &el, &cond) != 0) {
		ws_fail(ws, cond, NULL);
		return;
	}
	if (!ws->c2s) { /* fuzz mode */
		pl_xml_free(el);
		return;
	}
	switch (kind) {
	case PL_WS_MSG_OPEN:
		pl_c2s_input_open(ws->c2s, pl_xml_attr_get(el, "to"), pl_xml_attr_get(el, "version"));
		pl_xml_free(el);
		break;
	case PL_WS_MSG_CLOSE:
		pl_xml_free(el);
		pl_c2s_input_close(ws->c2s);
		break;
	default: pl_c2s_input_element(ws->c2s, el); break;
	}
}

static const struct wslay_event_callbacks ws_callbacks = {
	ws_recv_cb, ws_send_cb, NULL, ws_frame_start_cb, NULL, NULL, ws_msg_cb,
};

/* ---- driving wslay ---- */

/* Writes what wslay has queued; when both sides have sent their close frame, closes the connection. */
static void ws_flush(pl_ws *ws)
{
	if (!ws->conn) {
		wslay_event_send(ws->ctx);
		return;
	}
	if (wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) != 0 && ws->overflow) {
		pl_conn_abort(ws->conn);
		ws->conn = NULL; /* on_close still comes; it finds conn cleared only for our own checks */
		return;
	}
	if (wslay_event_get_close_sent(ws->ctx) && !wslay_event_want_write(ws->ctx)) pl_conn_close(ws->conn);
	else if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx)) pl_conn_close(ws->conn);
}

/* Feeds buffered input to wslay until it is consumed or the stream layer paused us. */
static void ws_process(pl_ws *ws)
{
	if (ws->in_recv) return; /* the running loop below picks the rest up */
	ws->in_recv = 1;
	while (!ws->paused && !ws->failed && ws->in_off < ws->in.len && wslay_event_want_read(ws->ctx)) {
		size_t before = ws->in_off;
		if (wslay_event_recv(ws->ctx) != 0) {
			if (ws->conn) PL_DEBUG(ws->conn->id, "websocket protocol error: closing");
			break;
		}
		if (ws->in_off == before) break;
	}
	ws->in_recv = 0;
	pl_buf_consume(&ws->in, ws->in_off);
	ws->in_off = 0;
	if (ws->failed && !ws->c2s) wslay_event_shutdown_read(ws->ctx);
	ws_flush(ws);
	if (ws->conn && ws->in.len > WS_MAX_PENDING_INPUT) pl_conn_pause(ws->conn);
}

/* ---- the c2s transport ---- */

static int ws_queue_text(pl_ws *ws, const char *data, size_t len)
{
	if (!ws->conn || ws->closing) return PL_ECLOSED;
	size_t queued = pl_conn_queued(ws->conn) + wslay_event_get_queued_msg_length(ws->ctx);
	if (queued + len > (size_t)ws->srv->cfg->max_output_queue) {
		ws->overflow = 1;
		return PL_ELIMIT;
	}
	struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)data, len};
	if (wslay_event_queue_msg(ws->ctx, &m) != 0) return PL_ECLOSED;
	ws_flush(ws);
	return ws->overflow ? PL_ELIMIT : 0;
}

static int ws_send_open(void *t, const char *from, const char *id)
{
	pl_ws *ws = t;
	pl_buf b = PL_BUF_INIT;
	pl_buf_appends(&b, "<open xmlns='" PL_NS_FRAMING "' from='");
	pl_buf_append_xml_escaped(&b, from, strlen(from), 1);
	pl_buf_appends(&b, "' id='");
	pl_buf_append_xml_escaped(&b, id, strlen(id), 1);
	pl_buf_appends(&b, "' version='1.0' xml:lang='en'/>");
	int rc = ws_queue_text(ws, b.data, b.len);
	pl_buf_free(&b);
	return rc;
}

static int ws_send_element(void *t, pl_bytes *b) { return ws_queue_text(t, b->data, b->len); }

static void ws_send_close(void *t)
{
	pl_ws *ws = t;
	if (!ws->conn || ws->closing) return;
	if (ws->overflow) {
		ws->closing = 1;
		pl_conn_abort(ws->conn);
		return;
	}
	ws_queue_text(ws, "<close xmlns='" PL_NS_FRAMING "'/>", strlen("<close xmlns='" PL_NS_FRAMING "'/>"));
	ws->closing = 1;
	wslay_event_queue_close(ws->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
	ws_flush(ws);
	if (ws->conn) pl_conn_close(ws->conn); /* net.c flushes, sends FIN, waits briefly for the peer */
}

static void ws_pause(void *t)
{
	pl_ws *ws = t;
	ws->paused = 1;
	if (ws->conn) pl_conn_pause(ws->conn);
}

static void ws_resume(void *t)
{
	pl_ws *ws = t;
	ws->paused = 0;
	if (!ws->conn) return;
	pl_conn_resume(ws->conn);
	ws_process(ws);
}

static const pl_c2s_transport ws_transport = {ws_send_open, ws_send_element, ws_send_close, ws_pause,
	ws_resume};

/* ---- connection ---- */

static void ws_on_data(pl_conn *conn, const char *data, size_t len)
{
	pl_ws *ws = conn->ud;
	pl_buf_append(&ws->in, data, len);
	ws_process(ws);
}

static void ws_free(pl_ws *ws)
{
	wslay_event_context_free(ws->ctx);
	pl_buf_free(&ws->in);
	free(ws);
}

static void ws_on_close(pl_conn *conn, int reason)
{
	pl_ws *ws = conn->ud;
	PL_DEBUG(conn->id, "websocket connection closed (%s)", reason ? pl_strerror(reason) : "orderly");
	ws->conn = NULL;
	ws_open_count--;
	pl_c2s *c = ws->c2s;
	ws->c2s = NULL;
	if (c) pl_c2s_transport_closed(c);
	ws_free(ws);
}

static const pl_conn_handler ws_conn_handler = {ws_on_data, NULL, ws_on_close};

static pl_ws *ws_new(pl_server *srv, size_t max_msg)
{
	pl_ws *ws = PL_NEW(pl_ws);
	ws->srv = srv;
	ws->max_msg = max_msg;
	wslay_event_context_server_init(&ws->ctx, &ws_callbacks, ws);
	/* a backstop: the frame-start check above answers with a stream error first */
	wslay_event_config_set_max_recv_msg_length(ws->ctx, max_msg + 4096);
	return ws;
}

/* ---- the upgrade ---- */

/* 1 if the comma-separated header value contains token (case-insensitive). */
static int header_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);
	for (const char *p = value; p && *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',') p++;
		const char *e = p;
		while (*e && *e != ',') e++;
		const char *end = e;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
		if ((size_t)(end - p) == tl && strncasecmp(p, token, tl) == 0) return 1;
		p = e;
	}
	return 0;
}

static void ws_route(pl_http_req *req, void *ud)
{
	pl_server *srv = ud;
	if (strcmp(req->method, "GET") != 0) {
		pl_http_respond_error(req, 405, "method-not-allowed", "use GET with a WebSocket upgrade");
		return;
	}
	const char *upgrade = pl_http_header(req, "Upgrade");
	const char *connection = pl_http_header(req, "Connection");
	if (!upgrade || !header_has_token(upgrade, "websocket") || !connection ||
		!header_has_token(connection, "upgrade")) {
		pl_http_respond(req, 426, "application/json",
			"{\"error\":\"upgrade-required\",\"message\":\"this endpoint speaks XMPP over WebSocket "
			"(RFC 7395)\"}",
			strlen("{\"error\":\"upgrade-required\",\"message\":\"this endpoint speaks XMPP over WebSocket "
			       "(RFC 7395)\"}"),
			"Upgrade: websocket\r\nConnection: Upgrade\r\n");
		return;
	}
	const char *version = pl_http_header(req, "Sec-WebSocket-Version");
	if (!version || strcmp(version, "13") != 0) {
		pl_http_respond(req, 426, "application/json",
			"{\"error\":\"unsupported-version\",\"message\":\"WebSocket version 13 is required\"}",
			strlen("{\"error\":\"unsupported-version\",\"message\":\"WebSocket version 13 is required\"}"),
			"Sec-WebSocket-Version: 13\r\n");
		return;
	}
	const char *key = pl_http_header(req, "Sec-WebSocket-Key");
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	if (!key || pl_base64_decode(key, strlen(key), &raw, &rawlen) != 0 || rawlen != 16) {
		free(raw);
		pl_http_respond_error(req, 400, "bad-websocket-key", "Sec-WebSocket-Key must be 16 bytes in base64");
		return;
	}
	free(raw);
	const char *protocols = pl_http_header(req, "Sec-WebSocket-Protocol");
	if (!protocols || !header_has_token(protocols, "xmpp")) {
		pl_http_respond_error(req, 400, "subprotocol-required",
			"the 'xmpp' WebSocket subprotocol is required (RFC 7395)");
		return;
	}
	unsigned char digest[SHA_DIGEST_LENGTH];
	pl_buf k = PL_BUF_INIT;
	pl_buf_appends(&k, key);
	pl_buf_appends(&k, WS_GUID);
	SHA1((const unsigned char *)k.data, k.len, digest);
	pl_buf_free(&k);
	char *accept = pl_base64_encode(digest, sizeof digest);
	char headers[256];
	snprintf(headers, sizeof headers,
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
		"Sec-WebSocket-Protocol: xmpp\r\n",
		accept);
	free(accept);
	char ip[64];
	snprintf(ip, sizeof ip, "%s", req->client_ip ? req->client_ip : "");
	int secure = req->secure;
	pl_conn *conn = NULL;
	char *leftover = NULL;
	size_t leftover_len = 0;
	if (pl_http_respond(req, 101, NULL, NULL, 0, headers) != 0 ||
		pl_http_take_conn(req, &conn, &leftover, &leftover_len) != 0) {
		free(leftover);
		return;
	}
	pl_ws *ws = ws_new(srv, (size_t)srv->cfg->max_stanza_size);
	ws->conn = conn;
	conn->ud = ws;
	conn->handler = &ws_conn_handler;
	ws_open_count++;
	ws->c2s = pl_c2s_new_framed(srv, &ws_transport, ws, conn->id, ip, secure);
	pl_conn_resume(conn); /* pl_http_take_conn hands it over paused */
	PL_DEBUG(conn->id, "XMPP over WebSocket from %s%s", ip, secure ? " (secure)" : "");
	if (leftover_len) {
		pl_buf_append(&ws->in, leftover, leftover_len);
		ws_process(ws);
	}
	free(leftover);
}

void pl_ws_register(pl_server *srv, pl_http *http) { pl_http_route(http, NULL, "/xmpp-websocket", ws_route, srv); }

/* ---- fuzzing ---- */

void pl_ws_fuzz_input(const uint8_t *data, size_t len)
{
	pl_ws *ws = ws_new(NULL, 65536);
	pl_buf_append(&ws->in, data, len);
	ws_process(ws);
	ws_free(ws);
}
