/* xmppload.h: the shared declarations of xmppload, the benchmark client (bench/xmppload_*.c).
 *
 * xmppload is a standalone XMPP client in C (libuv, OpenSSL, expat; it does not link libparley) that opens
 * many client-to-server streams on one event loop. xmppload_conn.c owns one stream: TCP connect, stream
 * header, STARTTLS over memory BIOs, SASL (SCRAM-SHA-1 or PLAIN), resource binding, the optional session
 * iq, in-band registration (XEP-0077), and a small stanza tree handed to the scenario; with --transport ws
 * the bytes go through xmppload_ws.c instead (RFC 6455 upgrade and frames, RFC 7395: one XML element per
 * message, <open/> and <close/> for the stream header and end, no STARTTLS). xmppload_sasl.c owns
 * the SCRAM-SHA-1 and PLAIN client side and the salted-password cache. xmppload.c owns the
 * command line, the scenarios (register, login, idle, msg), the timers and the printed figures.
 *
 * Everything is bounded: a stanza tree has at most XL_MAX_NODES elements and XL_MAX_TEXT bytes of text per
 * element (more is dropped and counted as a protocol error), a connection's pending output is capped by
 * XL_MAX_OUTPUT (the connection fails beyond it), and every scenario ends by counts or by --timeout. */
#ifndef XMPPLOAD_H
#define XMPPLOAD_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define XL_MAX_NODES 256
#define XL_MAX_TEXT 8192
#define XL_MAX_OUTPUT (4u << 20)

void *xl_malloc(size_t n);
void *xl_calloc(size_t n, size_t s);
char *xl_strdup(const char *s);

/* One element of a received stanza. name is "namespace local" (expat's namespace form with a space);
 * attrs is a NULL-terminated list of name, value pairs (unqualified attribute names as written). */
struct xl_node {
	char *name;
	char **attrs;
	char *text;
	size_t text_len;
	struct xl_node *parent, *child, *last, *next;
};

/* The first child named "ns local", or NULL. */
struct xl_node *xl_node_child(struct xl_node *n, const char *qname);
/* The value of the attribute, or NULL. */
const char *xl_node_attr(struct xl_node *n, const char *name);

enum xl_mode {
	XL_MODE_LOGIN,    /* authenticate and bind, then report ready */
	XL_MODE_REGISTER, /* after TLS, register the account (XEP-0077), then report ready */
};

enum xl_state {
	XL_S_CONNECTING,
	XL_S_STREAM,   /* waiting for the first features */
	XL_S_TLS,      /* starttls sent / handshaking */
	XL_S_AUTH,     /* SASL in progress */
	XL_S_BIND,     /* bind or session iq sent */
	XL_S_REGISTER, /* register iq sent */
	XL_S_READY,    /* bound (or registered) */
	XL_S_CLOSING,
	XL_S_CLOSED,
};

struct xl_conn;

/* What a scenario gets from a connection. on_ready: bound (mode LOGIN) or registered (mode REGISTER).
 * on_stanza: a stanza received once ready (the tree is freed after the call). on_fail: the connection
 * failed (why is a short static string); on_closed: the handle is closed and the conn may be freed by the
 * callee. on_fail is called at most once and is followed by on_closed. */
struct xl_conn_ops {
	void (*on_ready)(struct xl_conn *c);
	void (*on_stanza)(struct xl_conn *c, struct xl_node *stanza);
	void (*on_fail)(struct xl_conn *c, const char *why);
	void (*on_closed)(struct xl_conn *c);
};

struct xl_opts {
	const char *host;   /* server address (IPv4 literal) */
	int port;           /* c2s port */
	const char *domain; /* XMPP domain */
	const char *password;
	const char *resource;
	int use_tls;         /* do STARTTLS when offered (refuse to authenticate without it if required) */
	int plain;           /* SASL PLAIN instead of SCRAM-SHA-1 */
	int presence;        /* send initial presence once bound */
	int sources;         /* bind to 127.0.0.1 .. 127.0.0.<sources> round-robin (0 = do not bind) */
	int ws;              /* XMPP over WebSocket (RFC 7395) on ws:// at port/ws_path instead of TCP */
	const char *ws_path; /* the WebSocket resource, "/xmpp-websocket" */
};

struct xl_conn {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_shutdown_t shutdown_req;
	struct xl_conn_ops *ops;
	const struct xl_opts *opts;
	void *data; /* the scenario's */
	int index;  /* user number (benchN) */
	enum xl_mode mode;
	enum xl_state state;
	char user[64];
	char jid[256];             /* full JID once bound */
	uint64_t t_start, t_ready; /* uv_hrtime() at connect and at ready */
	size_t out_pending;        /* bytes in uv_write requests not yet completed */
	int failed, closing, authed, reg_conflict;
	char why[80]; /* why it failed (for on_fail) */
	/* TLS */
	void *ssl, *rbio, *wbio;
	int tls_up;
	/* XML */
	void *parser;
	int depth, restart, overflow, nodes;
	struct xl_node *cur, *root;
	/* SASL */
	char cnonce[40];
	char *client_first_bare;
	unsigned char server_sig[64];
	size_t server_sig_len;
	int session_needed;
	/* WebSocket (xmppload_ws.c), NULL over TCP */
	void *ws;
};

/* Global TLS context (client, verification off). Call once before any connection. */
int xl_tls_init(void);
extern char xl_tls_info[128]; /* "protocol/cipher" of the first TLS connection, for the report */
/* The SCRAM salted-password cache: loads and saves "hexsalt iterations hexsaltedpassword" lines, so a rerun
 * does not pay PBKDF2 again. Entries depend only on (password, salt, iterations). */
void xl_scram_cache_load(const char *path);
void xl_scram_cache_save(const char *path);
extern uint64_t xl_pbkdf2_count; /* PBKDF2 computations done (cache misses) */

/* Starts connecting c (zeroed except data/index/ops/opts/mode) for user bench<index>. Failures, even
 * immediate ones, are reported through on_fail then on_closed; c stays in use until on_closed. */
void xl_conn_start(uv_loop_t *loop, struct xl_conn *c);
/* Sends raw XML on a ready connection (through TLS when up). Returns 0 or -1 (the connection failed). */
int xl_conn_send(struct xl_conn *c, const char *xml, size_t len);
/* Sends n elements laid end to end in buf (lens[i] bytes each): one write over TCP, one WebSocket message
 * per element (in one write) over ws. Returns 0 or -1 like xl_conn_send. */
int xl_conn_send_batch(struct xl_conn *c, const char *buf, const size_t *lens, int n);
/* Keeps an idle ready connection alive: a whitespace ping over TCP, a WebSocket ping frame over ws. */
void xl_conn_keepalive(struct xl_conn *c);
/* Closes the stream (</stream:stream>, or <close/> and a close frame over ws, then TCP shutdown and
 * close). on_closed follows. Idempotent. */
void xl_conn_close(struct xl_conn *c);
/* Closes at once without the stream close (for the global timeout). on_closed follows. Idempotent. */
void xl_conn_abort(struct xl_conn *c);

/* Shared by xmppload_conn.c and xmppload_ws.c. xl_conn_write_raw queues bytes on the socket as they are
 * (0, or -1 after failing the connection); xl_conn_fail fails the connection (on_fail, then on_closed);
 * xl_conn_send_open sends the stream header (<open/> over ws); xl_conn_feed_message parses one complete
 * RFC 7395 message as a standalone XML document and handles the element it holds. */
int xl_conn_write_raw(struct xl_conn *c, const char *data, size_t len);
void xl_conn_fail(struct xl_conn *c, const char *why);
void xl_conn_send_open(struct xl_conn *c);
void xl_conn_feed_message(struct xl_conn *c, const char *xml, size_t len);
/* " xmlns='jabber:client'" over ws (a message stands alone), "" over TCP (the stream header says it). */
const char *xl_conn_client_ns(const struct xl_conn *c);

/* WebSocket client side (xmppload_ws.c). xl_ws_start allocates c->ws and sends the upgrade request
 * (0 or -1); xl_ws_input takes received bytes (handshake answer, then frames); the senders frame and
 * queue (0 or -1 like xl_conn_write_raw); xl_ws_free frees c->ws (from the close callback only). */
int xl_ws_start(struct xl_conn *c);
void xl_ws_input(struct xl_conn *c, const char *data, size_t len);
int xl_ws_send(struct xl_conn *c, const char *xml, size_t len);
int xl_ws_send_batch(struct xl_conn *c, const char *buf, const size_t *lens, int n);
int xl_ws_send_ping(struct xl_conn *c);
int xl_ws_send_close(struct xl_conn *c);
void xl_ws_free(struct xl_conn *c);

/* SASL client side (xmppload_sasl.c). Each writes base64 text to out (NUL-terminated) and returns its
 * length, or -1 (bad server data, or out too small). xl_scram_final keeps the expected server signature
 * in c; xl_scram_verify returns 0 when the server's "v=" matches it. */
int xl_scram_first(struct xl_conn *c, char *out, size_t cap);
int xl_scram_final(struct xl_conn *c, const char *challenge_b64, char *out, size_t cap);
int xl_scram_verify(struct xl_conn *c, const char *b64);
int xl_plain_initial(const char *user, const char *password, char *out, size_t cap);

/* Base64 helpers (OpenSSL EVP). Return the output length, or -1 on bad input / small buffer. */
int xl_b64_encode(const unsigned char *in, size_t n, char *out, size_t cap);
int xl_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap);

#endif
