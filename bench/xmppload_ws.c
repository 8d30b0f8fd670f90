/* xmppload_ws.c: the WebSocket transport of xmppload (--transport ws): XMPP over WebSocket (RFC 7395) on a
 * plain ws:// connection, the same way for every server measured.
 *
 * It owns the client side of the RFC 6455 opening handshake (GET <path> with Upgrade, a random 16-byte
 * Sec-WebSocket-Key, version 13 and the "xmpp" subprotocol; the answer must be 101 with the matching
 * Sec-WebSocket-Accept and Sec-WebSocket-Protocol: xmpp) and the frame layer: every outgoing XML element
 * is one masked text frame (a fresh mask per frame, RFC 6455 §5.3), incoming frames are unmasked, text
 * messages may be fragmented (continuation frames), pings are answered with pongs, a close frame ends the
 * connection. Each complete text message goes to xl_conn_feed_message (xmppload_conn.c), which parses it
 * as its own XML document. The stream logic (SASL, bind, stanzas) stays in xmppload_conn.c.
 *
 * Bounds: the handshake answer is at most XL_WS_MAX_HEADER bytes, a message (after reassembly) at most
 * XL_WS_MAX_MESSAGE; more fails the connection. Memory: the xl_ws lives from xl_ws_start to xl_ws_free,
 * which xmppload_conn.c calls from the handle's close callback only. */
#include "xmppload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define XL_WS_MAX_HEADER 8192
#define XL_WS_MAX_MESSAGE (1u << 20)

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA };

struct xl_ws {
	int upgraded;
	char accept[32]; /* the Sec-WebSocket-Accept we expect */
	char *in;        /* received bytes not yet consumed (handshake answer or frames) */
	size_t in_len, in_cap;
	char *msg; /* a fragmented text message being reassembled */
	size_t msg_len, msg_cap;
	int in_msg;
};

static uint64_t mask_state;

/* xorshift64*: mask keys need not be secret here (a benchmark client on loopback), only varied. */
static uint32_t next_mask(void)
{
	if (!mask_state) mask_state = uv_hrtime() | 1;
	mask_state ^= mask_state >> 12;
	mask_state ^= mask_state << 25;
	mask_state ^= mask_state >> 27;
	return (uint32_t)((mask_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static void grow(char **p, size_t *cap, size_t need)
{
	if (need <= *cap) return;
	size_t n = *cap ? *cap : 1024;
	while (n < need)
		n *= 2;
	*p = realloc(*p, n);
	if (!*p) abort();
	*cap = n;
}

/* Writes one masked frame (header, mask, payload) at out; returns its length. out must hold len + 14. */
static size_t frame_encode(char *out, int opcode, const char *payload, size_t len)
{
	unsigned char *o = (unsigned char *)out;
	size_t h = 0;
	o[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		o[h++] = (unsigned char)(0x80 | len);
	} else if (len <= 0xFFFF) {
		o[h++] = 0x80 | 126;
		o[h++] = (unsigned char)(len >> 8);
		o[h++] = (unsigned char)len;
	} else {
		o[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			o[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	uint32_t m = next_mask();
	unsigned char key[4] = {(unsigned char)(m >> 24), (unsigned char)(m >> 16), (unsigned char)(m >> 8),
	                        (unsigned char)m};
	memcpy(o + h, key, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		o[h + i] = (unsigned char)payload[i] ^ key[i & 3];
	return h + len;
}

/* Frames n payloads (payloads laid end to end in buf, lens[i] bytes each) into one socket write. */
static int send_frames(struct xl_conn *c, int opcode, const char *buf, const size_t *lens, int n)
{
	static char stack[65536]; /* one loop thread */
	size_t need = 0;
	for (int i = 0; i < n; i++)
		need += lens[i] + 14;
	char *out = need <= sizeof stack ? stack : xl_malloc(need);
	size_t len = 0, off = 0;
	for (int i = 0; i < n; i++) {
		len += frame_encode(out + len, opcode, buf + off, lens[i]);
		off += lens[i];
	}
	int r = xl_conn_write_raw(c, out, len);
	if (out != stack) free(out);
	return r;
}

int xl_ws_send(struct xl_conn *c, const char *xml, size_t len)
{
	return send_frames(c, OP_TEXT, xml, &len, 1);
}

int xl_ws_send_batch(struct xl_conn *c, const char *buf, const size_t *lens, int n)
{
	return send_frames(c, OP_TEXT, buf, lens, n);
}

int xl_ws_send_ping(struct xl_conn *c)
{
	size_t len = 0;
	return send_frames(c, OP_PING, "", &len, 1);
}

int xl_ws_send_close(struct xl_conn *c)
{
	size_t len = 2;
	return send_frames(c, OP_CLOSE, "\x03\xe8", &len, 1); /* 1000: normal closure */
}

int xl_ws_start(struct xl_conn *c)
{
	struct xl_ws *ws = xl_calloc(1, sizeof *ws);
	c->ws = ws;
	unsigned char nonce[16], digest[SHA_DIGEST_LENGTH];
	char key[32], cat[80], req[1024];
	if (RAND_bytes(nonce, sizeof nonce) != 1) return -1;
	if (xl_b64_encode(nonce, sizeof nonce, key, sizeof key) < 0) return -1;
	snprintf(cat, sizeof cat, "%s" WS_GUID, key);
	SHA1((const unsigned char *)cat, strlen(cat), digest);
	if (xl_b64_encode(digest, sizeof digest, ws->accept, sizeof ws->accept) < 0) return -1;
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
	                 "Sec-WebSocket-Protocol: xmpp\r\n\r\n",
	                 c->opts->ws_path, c->opts->domain, c->opts->port, key);
	if (n < 0 || (size_t)n >= sizeof req) return -1;
	return xl_conn_write_raw(c, req, (size_t)n);
}

void xl_ws_free(struct xl_conn *c)
{
	struct xl_ws *ws = c->ws;
	if (!ws) return;
	free(ws->in);
	free(ws->msg);
	free(ws);
	c->ws = NULL;
}

/* The value of header name (case-insensitive) in the NUL-terminated header block h, trimmed, copied into
 * out; 0, or -1 when absent or too long. */
static int header_value(const char *h, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(h, "\r\n"); l; l = strstr(l, "\r\n")) {
		l += 2;
		if (strncasecmp(l, name, nl) || l[nl] != ':') continue;
		const char *v = l + nl + 1, *e = strstr(v, "\r\n");
		while (*v == ' ' || *v == '\t')
			v++;
		if (!e) e = v + strlen(v);
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - v) >= cap) return -1;
		memcpy(out, v, (size_t)(e - v));
		out[e - v] = 0;
		return 0;
	}
	return -1;
}

/* Checks the handshake answer once complete; returns bytes consumed, 0 when incomplete, -1 on failure. */
static long handshake(struct xl_conn *c, struct xl_ws *ws)
{
	char *end = NULL;
	for (size_t i = 0; i + 4 <= ws->in_len; i++)
		if (!memcmp(ws->in + i, "\r\n\r\n", 4)) {
			end = ws->in + i;
			break;
		}
	if (!end) {
		if (ws->in_len > XL_WS_MAX_HEADER) xl_conn_fail(c, "ws: handshake answer too long");
		return ws->in_len > XL_WS_MAX_HEADER ? -1 : 0;
	}
	size_t hl = (size_t)(end - ws->in) + 2;
	char h[XL_WS_MAX_HEADER + 4], v[128];
	if (hl > XL_WS_MAX_HEADER) {
		xl_conn_fail(c, "ws: handshake answer too long");
		return -1;
	}
	memcpy(h, ws->in, hl);
	h[hl] = 0;
	if (strncmp(h, "HTTP/1.1 101", 12)) {
		char *sp = strchr(h, ' '), why[80];
		snprintf(why, sizeof why, "ws: upgrade refused: %.3s", sp ? sp + 1 : "?");
		xl_conn_fail(c, why);
		return -1;
	}
	if (header_value(h, "Sec-WebSocket-Accept", v, sizeof v) || strcmp(v, ws->accept)) {
		xl_conn_fail(c, "ws: bad Sec-WebSocket-Accept");
		return -1;
	}
	if (header_value(h, "Sec-WebSocket-Protocol", v, sizeof v) || strcasecmp(v, "xmpp")) {
		xl_conn_fail(c, "ws: subprotocol xmpp not accepted");
		return -1;
	}
	ws->upgraded = 1;
	return (long)(hl + 2);
}

static int alive(struct xl_conn *c)
{
	return !c->failed && !uv_is_closing((uv_handle_t *)&c->tcp);
}

/* Handles one complete frame; 0 to go on, -1 when the connection is done. */
static int on_frame(struct xl_conn *c, struct xl_ws *ws, int fin, int op, const char *p, size_t len)
{
	switch (op) {
	case OP_TEXT:
	case OP_CONT:
		if ((op == OP_TEXT) == ws->in_msg) {
			xl_conn_fail(c, "ws: bad fragmentation");
			return -1;
		}
		if (fin && !ws->in_msg) {
			xl_conn_feed_message(c, p, len);
			return 0;
		}
		if (ws->msg_len + len > XL_WS_MAX_MESSAGE) {
			xl_conn_fail(c, "ws: message too large");
			return -1;
		}
		grow(&ws->msg, &ws->msg_cap, ws->msg_len + len);
		memcpy(ws->msg + ws->msg_len, p, len);
		ws->msg_len += len;
		ws->in_msg = !fin;
		if (fin) {
			size_t total = ws->msg_len;
			ws->msg_len = 0;
			xl_conn_feed_message(c, ws->msg, total);
		}
		return 0;
	case OP_PING: {
		char buf[200];
		size_t n = len;
		memcpy(buf, p, n);
		return send_frames(c, OP_PONG, buf, &n, 1);
	}
	case OP_PONG:
		return 0;
	case OP_CLOSE:
		if (c->closing)
			xl_conn_abort(c);
		else
			xl_conn_fail(c, "ws: closed by server");
		return -1;
	default:
		xl_conn_fail(c, op == OP_BINARY ? "ws: binary message" : "ws: unknown opcode");
		return -1;
	}
}

void xl_ws_input(struct xl_conn *c, const char *data, size_t len)
{
	struct xl_ws *ws = c->ws;
	if (ws->in_len + len > XL_WS_MAX_MESSAGE + 16) {
		xl_conn_fail(c, "ws: frame too large");
		return;
	}
	grow(&ws->in, &ws->in_cap, ws->in_len + len);
	memcpy(ws->in + ws->in_len, data, len);
	ws->in_len += len;
	size_t off = 0;
	if (!ws->upgraded) {
		long n = handshake(c, ws);
		if (n <= 0) return;
		off = (size_t)n;
		xl_conn_send_open(c);
	}
	while (alive(c)) {
		const unsigned char *b = (const unsigned char *)ws->in + off;
		size_t avail = ws->in_len - off, h = 2;
		if (avail < 2) break;
		int fin = b[0] & 0x80, op = b[0] & 0x0F;
		uint64_t plen = b[1] & 0x7F;
		if (b[0] & 0x70 || b[1] & 0x80) {
			xl_conn_fail(c, b[1] & 0x80 ? "ws: masked server frame" : "ws: reserved bits set");
			return;
		}
		if (plen == 126) {
			if (avail < 4) break;
			plen = (uint64_t)b[2] << 8 | b[3];
			h = 4;
		} else if (plen == 127) {
			if (avail < 10) break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | b[2 + i];
			h = 10;
		}
		if (op >= 0x8 && (plen > 125 || !fin)) {
			xl_conn_fail(c, "ws: bad control frame");
			return;
		}
		if (plen > XL_WS_MAX_MESSAGE) {
			xl_conn_fail(c, "ws: frame too large");
			return;
		}
		if (avail < h + plen) break;
		off += h + (size_t)plen;
		if (on_frame(c, ws, fin, op, (const char *)b + h, (size_t)plen) < 0) return;
	}
	if (!alive(c)) return;
	memmove(ws->in, ws->in + off, ws->in_len - off);
	ws->in_len -= off;
}
