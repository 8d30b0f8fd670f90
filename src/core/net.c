/* net.c: TCP listeners and accepted connections on the libuv loop. It owns, per connection: the socket,
 * the TLS state (an OpenSSL SSL over the connection's own BIO, started on accept for Direct TLS or later
 * by pl_conn_starttls), the output queue of shared pl_bytes handed to uv_write by reference, the read rate
 * limit (a token bucket; an empty bucket stops reading and a timer resumes it), and the close sequence;
 * per manager: the global and per-IP connection counts (a uthash table keyed by the textual address).
 *
 * Close sequence: pl_conn_close stops reading, encrypts what waits for TLS and adds close_notify, lets
 * the queue drain, half-closes the socket (FIN) and discards input until the peer closes, all bounded by
 * CLOSE_TIMEOUT_MS; then both libuv handles are closed. on_close runs from the last handle close
 * callback, so it is always on a later loop turn and never inside a call of the upper layer; the
 * connection is freed right after it returns. Nothing here knows XMPP: upper layers see plaintext. */
#include "core/net.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <string.h>
#include <uthash.h>

#define NET_READ_BUF 65536     /* one shared socket read buffer per manager */
#define TLS_PLAIN_BUF 16384    /* one shared buffer for decrypted records (a TLS record's maximum) */
#define CLOSE_TIMEOUT_MS 2000  /* bound on flushing and lingering after pl_conn_close */
#define WRITE_GATHER 64        /* queued blobs handed to one uv_write */
#define RESUME_MIN_TOKENS 4096 /* a throttled connection reads again once this much has accrued */

typedef struct ip_count {
	char ip[64];
	int n;
	UT_hash_handle hh;
} ip_count;

typedef struct out_item {
	struct out_item *next;
	pl_bytes *b;
} out_item;

typedef struct out_queue {
	out_item *head, *tail;
	size_t bytes;
} out_queue;

enum conn_state {
	CONN_OPEN,     /* reading and writing */
	CONN_FLUSHING, /* closing: draining the output queue */
	CONN_LINGER,   /* closing: FIN sent, discarding input until EOF */
	CONN_CLOSED,   /* uv_close issued; freed after both close callbacks */
};

typedef struct conn {
	pl_conn pub; /* first: pl_conn * and conn * convert both ways */
	pl_net *net;
	struct conn *prev, *next;
	ip_count *ipc;
	uv_tcp_t tcp;
	uv_timer_t timer; /* rate-limit resume, deferred TLS pump after resume, close timeout */
	uv_write_t wreq;
	uv_shutdown_t sreq;
	int handles_open;
	enum conn_state state;
	int reason;
	unsigned registered : 1, reading : 1, paused : 1, throttled : 1, writing : 1, got_eof : 1;
	out_queue out;   /* bytes for the socket (plaintext or ciphertext) */
	int inflight;    /* items at the head of out that the current uv_write holds */
	out_queue plain; /* plaintext waiting for the TLS handshake to finish */
	double tokens;
	uint64_t tokens_at;
	SSL *ssl;
	pl_tls_ctx *tls_ctx;
	unsigned hs_done : 1, tls_broken : 1;
	const char *in; /* ciphertext not yet read by OpenSSL: in the shared read buffer or in stash */
	size_t in_len;
	char *stash; /* heap copy of unread ciphertext that must outlive the read callback, or NULL */
} conn;

struct pl_net {
	uv_loop_t *loop;
	pl_net_limits limits;
	conn *conns;
	int count;
	int nlisteners;
	ip_count *ips;
	char rbuf[NET_READ_BUF];
	char pbuf[TLS_PLAIN_BUF];
};

struct pl_listener {
	uv_tcp_t tcp;
	pl_net *net;
	pl_tls_ctx *tls;
	pl_accept_cb cb;
	void *ud;
	int port;
	int closing;
};

static uint64_t g_next_conn_id = 1;

static void conn_begin_close(conn *c, int reason, int graceful);
static void conn_final_close(conn *c, int reason);
static void on_timer(uv_timer_t *t);

/* ---- queues ---- */

static void q_push(out_queue *q, pl_bytes *b)
{
	out_item *it = PL_NEW(out_item);
	it->b = b;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->bytes += b->len;
}

static pl_bytes *q_pop(out_queue *q)
{
	out_item *it = q->head;
	if (!it) return NULL;
	q->head = it->next;
	if (!q->head) q->tail = NULL;
	pl_bytes *b = it->b;
	q->bytes -= b->len;
	free(it);
	return b;
}

static void q_clear(out_queue *q)
{
	pl_bytes *b;
	while ((b = q_pop(q)))
		pl_bytes_unref(b);
}

/* ---- manager ---- */

pl_net *pl_net_new(uv_loop_t *loop, const pl_net_limits *limits)
{
	pl_net *n = PL_NEW(pl_net);
	n->loop = loop;
	if (limits) n->limits = *limits;
	return n;
}

void pl_net_set_limits(pl_net *n, const pl_net_limits *limits)
{
	n->limits = *limits;
}

void pl_net_free(pl_net *n)
{
	if (!n) return;
	if (n->count || n->nlisteners) {
		/* freeing now would leave libuv handles pointing into freed memory: leak instead */
		PL_ERROR(0, "pl_net_free with %d connections and %d listeners open", n->count, n->nlisteners);
		return;
	}
	ip_count *e, *tmp;
	HASH_ITER(hh, n->ips, e, tmp)
	{
		HASH_DEL(n->ips, e);
		free(e);
	}
	free(n);
}

int pl_net_count(const pl_net *n)
{
	return n->count;
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status);

static void start_write(conn *c)
{
	if (c->writing || !c->out.head || (c->state != CONN_OPEN && c->state != CONN_FLUSHING)) return;
	uv_buf_t bufs[WRITE_GATHER];
	int k = 0;
	for (out_item *it = c->out.head; it && k < WRITE_GATHER; it = it->next)
		bufs[k++] = uv_buf_init(it->b->data, (unsigned)it->b->len);
	c->wreq.data = c;
	int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, (unsigned)k, on_write);
	if (rc != 0) {
		PL_DEBUG(c->pub.id, "write failed: %s", uv_strerror(rc));
		conn_final_close(c, PL_EIO);
		return;
	}
	c->writing = 1;
	c->inflight = k;
}

static void maybe_finish_flush(conn *c);

static void on_write(uv_write_t *req, int status)
{
	conn *c = req->data;
	for (int i = 0; i < c->inflight; i++)
		pl_bytes_unref(q_pop(&c->out));
	c->inflight = 0;
	c->writing = 0;
	if (status < 0) {
		if (status != UV_ECANCELED) {
			PL_DEBUG(c->pub.id, "write failed: %s", uv_strerror(status));
			conn_final_close(c, PL_EIO);
		}
		return;
	}
	start_write(c);
	maybe_finish_flush(c);
}

/* ---- the TLS transport BIO ----
 * OpenSSL reads ciphertext straight from the socket read buffer (c->in) and writes its records
 * (handshake, data, alerts) straight into the output queue. Memory BIOs would keep, per connection and
 * for its whole life, buffers as large as the largest flight (the certificate chain): an idle
 * connection holds no ciphertext buffer here. */

static int bio_write(BIO *b, const char *data, int len)
{
	conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0) return 0;
	if (c->state == CONN_OPEN || c->state == CONN_FLUSHING) q_push(&c->out, pl_bytes_new(data, (size_t)len));
	return len;
}

static int bio_read(BIO *b, char *out, int len)
{
	conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (c->in_len == 0 || len <= 0) {
		BIO_set_retry_read(b); /* empty means "retry", not end of stream */
		return -1;
	}
	size_t n = (size_t)len < c->in_len ? (size_t)len : c->in_len;
	memcpy(out, c->in, n);
	c->in += n;
	c->in_len -= n;
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	conn *c = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH: return 1;
	case BIO_CTRL_PENDING: return (long)c->in_len;
	default: return 0;
	}
}

static BIO_METHOD *g_bio_method;
static pthread_once_t g_bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "parley connection");
	if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) &&
	    BIO_meth_set_ctrl(m, bio_ctrl)) {
		g_bio_method = m; /* process lifetime */
		return;
	}
	BIO_meth_free(m);
}

/* After a pump: frees the stash once OpenSSL has read everything, or copies what it left in the shared
 * read buffer (paused or closing connection) to the stash. */
static void tls_keep_input(conn *c)
{
	if (c->in_len == 0) {
		free(c->stash);
		c->stash = NULL;
		c->in = NULL;
	} else if (!c->stash) {
		c->stash = pl_malloc(c->in_len);
		memcpy(c->stash, c->in, c->in_len);
		c->in = c->stash;
	}
}

/* Makes ciphertext just read from the socket available to OpenSSL (after any stashed bytes). */
static void tls_input(conn *c, const char *data, size_t len)
{
	if (!c->stash) {
		c->in = data;
		c->in_len = len;
		return;
	}
	char *s = pl_malloc(c->in_len + len);
	memcpy(s, c->in, c->in_len);
	memcpy(s + c->in_len, data, len);
	free(c->stash);
	c->stash = s;
	c->in = s;
	c->in_len += len;
}

/* Sends what OpenSSL produced (handshake, records, alerts): its BIO has queued it already. */
static void flush_tls_out(conn *c)
{
	start_write(c);
}

/* Encrypts data into the socket queue. Returns 0 or PL_ETLS (the caller closes). */
static int tls_write(conn *c, const char *data, size_t len)
{
	while (len > 0) {
		int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
		ERR_clear_error();
		int r = SSL_write(c->ssl, data, chunk);
		if (r <= 0) {
			PL_DEBUG(c->pub.id, "SSL_write failed (%d)", SSL_get_error(c->ssl, r));
			ERR_clear_error();
			c->tls_broken = 1;
			return PL_ETLS;
		}
		data += r;
		len -= (size_t)r;
	}
	flush_tls_out(c);
	return 0;
}

/* Encrypts the plaintext that waited for the handshake. */
static int tls_write_pending(conn *c)
{
	pl_bytes *b;
	while ((b = q_pop(&c->plain))) {
		int rc = tls_write(c, b->data, b->len);
		pl_bytes_unref(b);
		if (rc != 0) return rc;
	}
	return 0;
}

static int over_limit(const conn *c, size_t len)
{
	size_t max = c->net->limits.max_output_queue;
	return max > 0 && c->out.bytes + c->plain.bytes + len > max;
}

int pl_conn_write(pl_conn *pc, pl_bytes *b)
{
	conn *c = (conn *)pc;
	if (c->state != CONN_OPEN) return PL_ECLOSED;
	if (b->len == 0) return 0;
	if (over_limit(c, b->len)) return PL_ELIMIT;
	if (c->ssl && !c->hs_done) {
		q_push(&c->plain, pl_bytes_ref(b));
		return 0;
	}
	if (c->ssl) {
		if (tls_write(c, b->data, b->len) != 0) {
			conn_final_close(c, PL_ETLS);
			return PL_ECLOSED;
		}
		return 0;
	}
	q_push(&c->out, pl_bytes_ref(b));
	start_write(c);
	return 0;
}

int pl_conn_write_data(pl_conn *pc, const void *data, size_t len)
{
	conn *c = (conn *)pc;
	if (c->state != CONN_OPEN) return PL_ECLOSED;
	if (len == 0) return 0;
	if (over_limit(c, len)) return PL_ELIMIT;
	if (c->ssl && c->hs_done) { /* SSL_write copies: no intermediate blob */
		if (tls_write(c, data, len) != 0) {
			conn_final_close(c, PL_ETLS);
			return PL_ECLOSED;
		}
		return 0;
	}
	pl_bytes *b = pl_bytes_new(data, len);
	int rc = pl_conn_write(pc, b);
	pl_bytes_unref(b);
	return rc;
}

size_t pl_conn_queued(const pl_conn *pc)
{
	const conn *c = (const conn *)pc;
	return c->out.bytes + c->plain.bytes;
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static size_t bucket_size(const pl_net *n)
{
	return n->limits.read_burst ? n->limits.read_burst : n->limits.read_rate;
}

static void refill(conn *c)
{
	const pl_net *n = c->net;
	uint64_t now = uv_now(n->loop);
	if (now > c->tokens_at)
		c->tokens += (double)(now - c->tokens_at) * (double)n->limits.read_rate / 1000.0;
	c->tokens_at = now;
	double max = (double)bucket_size(n);
	if (c->tokens > max) c->tokens = max;
}

static double resume_threshold(const pl_net *n)
{
	size_t t = bucket_size(n);
	if (t > RESUME_MIN_TOKENS) t = RESUME_MIN_TOKENS;
	return t ? (double)t : 1.0;
}

static void update_reading(conn *c)
{
	int want = c->state == CONN_OPEN && !c->paused && !c->throttled && c->pub.handler;
	if (want && !c->reading) {
		int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
		if (rc != 0) {
			PL_DEBUG(c->pub.id, "cannot read: %s", uv_strerror(rc));
			conn_final_close(c, PL_EIO);
			return;
		}
		c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

/* Stops reading until the bucket holds resume_threshold() tokens again. */
static void throttle(conn *c)
{
	const pl_net *n = c->net;
	double missing = resume_threshold(n) - c->tokens;
	uint64_t ms = (uint64_t)(missing * 1000.0 / (double)n->limits.read_rate) + 1;
	c->throttled = 1;
	update_reading(c);
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn *c = h->data;
	pl_net *n = c->net;
	size_t len = sizeof n->rbuf;
	if (c->state == CONN_OPEN && n->limits.read_rate > 0) {
		refill(c);
		if (c->tokens < (double)len) len = c->tokens >= 1.0 ? (size_t)c->tokens : 1;
	}
	*buf = uv_buf_init(n->rbuf, (unsigned)len);
}

static void tls_failed(conn *c, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[256];
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	else
		snprintf(reason, sizeof reason, "unexpected end or protocol error");
	ERR_clear_error();
	PL_INFO(c->pub.id, "%s from %s: %s", what, c->pub.peer_ip, reason);
	c->tls_broken = 1;
	conn_begin_close(c, PL_ETLS, 1); /* graceful: the alert OpenSSL queued still goes out */
}

/* Advances the handshake and delivers decrypted data while the connection is open and not paused. */
static void tls_pump(conn *c)
{
	if (!c->hs_done) {
		ERR_clear_error();
		int r = SSL_do_handshake(c->ssl);
		flush_tls_out(c);
		if (c->state != CONN_OPEN) return;
		if (r != 1) {
			if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) return;
			tls_failed(c, "TLS handshake failed");
			return;
		}
		c->hs_done = 1;
		c->pub.tls = 1;
		PL_DEBUG(c->pub.id, "TLS established: %s %s", SSL_get_version(c->ssl),
		         SSL_get_cipher_name(c->ssl));
		if (c->pub.handler->on_tls_ready) c->pub.handler->on_tls_ready(&c->pub);
		if (c->state != CONN_OPEN) return;
		if (tls_write_pending(c) != 0) {
			conn_final_close(c, PL_ETLS);
			return;
		}
	}
	while (c->state == CONN_OPEN && !c->paused) {
		ERR_clear_error();
		int r = SSL_read(c->ssl, c->net->pbuf, sizeof c->net->pbuf);
		if (r > 0) {
			c->pub.handler->on_data(&c->pub, c->net->pbuf, (size_t)r);
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ) break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			PL_DEBUG(c->pub.id, "peer sent close_notify");
			conn_begin_close(c, 0, 1);
			return;
		}
		tls_failed(c, "TLS error");
		return;
	}
	if (c->state == CONN_OPEN) flush_tls_out(c); /* post-handshake messages, key updates */
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn *c = s->data;
	if (c->state == CONN_LINGER) { /* discarding until the peer closes */
		if (nread < 0) conn_final_close(c, 0);
		return;
	}
	if (c->state != CONN_OPEN || nread == 0) return;
	if (nread < 0) {
		if (nread == UV_EOF)
			PL_DEBUG(c->pub.id, "peer closed the connection");
		else
			PL_DEBUG(c->pub.id, "read error: %s", uv_strerror((int)nread));
		c->got_eof = 1;
		conn_begin_close(c, nread == UV_EOF ? 0 : PL_EIO, 1);
		return;
	}
	pl_net *n = c->net;
	if (n->limits.read_rate > 0) {
		refill(c);
		c->tokens -= (double)nread;
	}
	if (c->ssl) {
		tls_input(c, buf->base, (size_t)nread);
		tls_pump(c);
		tls_keep_input(c);
	} else {
		c->pub.handler->on_data(&c->pub, buf->base, (size_t)nread);
	}
	if (c->state == CONN_OPEN && n->limits.read_rate > 0 && c->tokens < 1.0) throttle(c);
}

static void on_timer(uv_timer_t *t)
{
	conn *c = t->data;
	if (c->state == CONN_FLUSHING || c->state == CONN_LINGER) {
		PL_DEBUG(c->pub.id, "close did not finish in %d ms", CLOSE_TIMEOUT_MS);
		conn_final_close(c, 0);
		return;
	}
	if (c->state != CONN_OPEN) return;
	const pl_net *n = c->net;
	if (c->throttled) {
		if (n->limits.read_rate > 0) {
			refill(c);
			if (c->tokens < resume_threshold(n)) {
				throttle(c);
				return;
			}
		}
		c->throttled = 0;
	}
	update_reading(c);
	/* records already decrypted or buffered in the read BIO arrive without new socket input */
	if (c->ssl && c->state == CONN_OPEN && !c->paused && c->pub.handler) {
		tls_pump(c);
		tls_keep_input(c);
	}
}

void pl_conn_pause(pl_conn *pc)
{
	conn *c = (conn *)pc;
	c->paused = 1;
	update_reading(c);
}

void pl_conn_resume(pl_conn *pc)
{
	conn *c = (conn *)pc;
	if (!c->paused) return;
	c->paused = 0;
	if (c->state != CONN_OPEN || c->throttled) return;
	update_reading(c);
	if (c->ssl && c->state == CONN_OPEN) uv_timer_start(&c->timer, on_timer, 0, 0); /* deferred pump */
}

/* ---- TLS ---- */

static int tls_setup(conn *c, pl_tls_ctx *ctx)
{
	pthread_once(&g_bio_once, bio_method_init);
	SSL *ssl = g_bio_method ? SSL_new(pl_tls_ctx_ssl_ctx(ctx)) : NULL;
	BIO *bio = ssl ? BIO_new(g_bio_method) : NULL;
	if (!ssl || !bio) {
		SSL_free(ssl);
		ERR_clear_error();
		return PL_ETLS;
	}
	BIO_set_data(bio, c);
	BIO_set_init(bio, 1);
	SSL_set_bio(ssl, bio, bio); /* one BIO both ways: SSL owns the one reference */
	SSL_set_accept_state(ssl);
	c->ssl = ssl;
	c->tls_ctx = pl_tls_ctx_ref(ctx);
	return 0;
}

int pl_conn_starttls(pl_conn *pc, pl_tls_ctx *ctx)
{
	conn *c = (conn *)pc;
	if (c->state != CONN_OPEN || c->ssl || !ctx) return PL_ESTATE;
	if (tls_setup(c, ctx) != 0) return PL_ESTATE;
	PL_DEBUG(c->pub.id, "starting TLS");
	return 0;
}

int pl_conn_tls_exporter(pl_conn *pc, unsigned char out[32])
{
	conn *c = (conn *)pc;
	if (!c->ssl || !c->hs_done || c->tls_broken || SSL_version(c->ssl) != TLS1_3_VERSION)
		return PL_ESTATE;
	/* RFC 9266: label "EXPORTER-Channel-Binding", empty context; in TLS 1.3 no context and an empty
	 * one are the same (RFC 8446 §7.5) */
	static const char label[] = "EXPORTER-Channel-Binding";
	if (SSL_export_keying_material(c->ssl, out, 32, label, sizeof label - 1, NULL, 0, 0) != 1) {
		ERR_clear_error();
		return PL_ESTATE;
	}
	return 0;
}

const char *pl_conn_tls_version(const pl_conn *pc)
{
	const conn *c = (const conn *)pc;
	return c->ssl && c->hs_done ? SSL_get_version(c->ssl) : NULL;
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
	conn *c = h->data;
	if (--c->handles_open > 0) return;
	q_clear(&c->out);
	q_clear(&c->plain);
	if (c->registered) {
		pl_net *n = c->net;
		if (c->prev)
			c->prev->next = c->next;
		else
			n->conns = c->next;
		if (c->next) c->next->prev = c->prev;
		n->count--;
		if (--c->ipc->n == 0) {
			HASH_DEL(n->ips, c->ipc);
			free(c->ipc);
		}
		PL_DEBUG(c->pub.id, "connection closed (%s)", c->reason ? pl_strerror(c->reason) : "orderly");
		if (c->pub.handler && c->pub.handler->on_close) c->pub.handler->on_close(&c->pub, c->reason);
	}
	if (c->ssl) SSL_free(c->ssl);
	if (c->tls_ctx) pl_tls_ctx_unref(c->tls_ctx);
	free(c->stash);
	free(c);
}

static void conn_final_close(conn *c, int reason)
{
	if (c->state == CONN_CLOSED) return;
	if (c->state == CONN_OPEN) c->reason = reason;
	c->state = CONN_CLOSED;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	conn *c = req->data;
	if (c->state != CONN_LINGER) return;
	if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
		conn_final_close(c, 0);
		return;
	}
	c->reading = 1;
}

/* Once the queue is empty: FIN, then discard input until the peer closes, so that unread input does
 * not make the kernel reset the connection before the peer has read our last bytes. */
static void maybe_finish_flush(conn *c)
{
	if (c->state != CONN_FLUSHING || c->writing || c->out.head) return;
	if (c->got_eof) {
		conn_final_close(c, 0);
		return;
	}
	c->state = CONN_LINGER;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_final_close(c, 0);
}

static void conn_begin_close(conn *c, int reason, int graceful)
{
	if (c->state == CONN_CLOSED) return;
	if (c->state != CONN_OPEN) {
		if (!graceful) conn_final_close(c, reason);
		return;
	}
	if (!graceful) {
		conn_final_close(c, reason);
		return;
	}
	c->reason = reason;
	c->state = CONN_FLUSHING;
	c->throttled = 0;
	uv_timer_stop(&c->timer);
	update_reading(c);
	if (c->ssl) {
		if (c->hs_done && !c->tls_broken && tls_write_pending(c) == 0) {
			ERR_clear_error();
			SSL_shutdown(c->ssl); /* queues close_notify; the peer's is not awaited */
			ERR_clear_error();
			flush_tls_out(c);
		}
		q_clear(&c->plain);
	}
	if (c->state != CONN_FLUSHING) return;
	uv_timer_start(&c->timer, on_timer, CLOSE_TIMEOUT_MS, 0);
	start_write(c); /* records (an alert) OpenSSL queued before the close */
	maybe_finish_flush(c);
}

void pl_conn_close(pl_conn *pc)
{
	conn_begin_close((conn *)pc, 0, 1);
}

void pl_conn_abort(pl_conn *pc)
{
	conn_begin_close((conn *)pc, 0, 0);
}

/* ---- listeners and accept ---- */

static void free_handle_cb(uv_handle_t *h)
{
	free(h);
}

/* Textual peer address; an IPv4-mapped IPv6 address (dual-stack listener) is shown as IPv4 so that the
 * per-IP limit counts one client once. */
static void peer_name(uv_tcp_t *tcp, char *ip, size_t iplen, int *port)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	snprintf(ip, iplen, "?");
	*port = 0;
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		uv_ip4_name(sin, ip, iplen);
		*port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, iplen);
		else
			uv_ip6_name(sin6, ip, iplen);
		*port = ntohs(sin6->sin6_port);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	pl_listener *l = server->data;
	pl_net *n = l->net;
	if (status < 0) {
		PL_WARN(0, "accept on port %d failed: %s", l->port, uv_strerror(status));
		return;
	}
	conn *c = PL_NEW(conn);
	c->net = n;
	uv_tcp_init(n->loop, &c->tcp);
	c->tcp.data = c;
	c->handles_open = 1;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
		return;
	}
	peer_name(&c->tcp, c->pub.peer_ip, sizeof c->pub.peer_ip, &c->pub.peer_port);
	ip_count *ipc = NULL;
	HASH_FIND_STR(n->ips, c->pub.peer_ip, ipc);
	const char *refused = NULL;
	if (n->limits.max_connections > 0 && n->count >= n->limits.max_connections)
		refused = "max_connections";
	else if (n->limits.max_per_ip > 0 && ipc && ipc->n >= n->limits.max_per_ip)
		refused = "max_per_ip";
	if (refused) {
		PL_INFO(0, "refused connection from %s:%d on port %d: %s limit reached", c->pub.peer_ip,
		        c->pub.peer_port, l->port, refused);
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
		return;
	}
	if (!ipc) {
		ipc = PL_NEW(ip_count);
		snprintf(ipc->ip, sizeof ipc->ip, "%s", c->pub.peer_ip);
		HASH_ADD_STR(n->ips, ip, ipc);
	}
	ipc->n++;
	c->ipc = ipc;
	c->registered = 1;
	c->next = n->conns;
	if (n->conns) n->conns->prev = c;
	n->conns = c;
	n->count++;
	c->pub.id = g_next_conn_id++;
	c->pub.local_port = l->port;
	uv_timer_init(n->loop, &c->timer);
	c->timer.data = c;
	c->handles_open = 2;
	c->tokens = (double)bucket_size(n);
	c->tokens_at = uv_now(n->loop);
	uv_tcp_nodelay(&c->tcp, 1);
	PL_DEBUG(c->pub.id, "connection from %s:%d on port %d%s", c->pub.peer_ip, c->pub.peer_port, l->port,
	         l->tls ? " (Direct TLS)" : "");
	if (l->tls) {
		c->pub.direct_tls = 1;
		if (tls_setup(c, l->tls) != 0) {
			PL_WARN(c->pub.id, "cannot set up TLS");
			conn_final_close(c, PL_ETLS);
			return;
		}
	}
	l->cb(l->ud, &c->pub);
	if (c->state == CONN_OPEN && !c->pub.handler) {
		PL_WARN(c->pub.id, "no handler for the connection: closing");
		conn_final_close(c, PL_ESTATE);
		return;
	}
	update_reading(c);
}

int pl_listen(pl_net *n, const char *addr, int port, pl_tls_ctx *tls, pl_accept_cb cb, void *ud,
              pl_listener **out)
{
	struct sockaddr_storage ss;
	*out = NULL;
	if (port < 0 || port > 65535 ||
	    (uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss) != 0 &&
	     uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss) != 0)) {
		PL_ERROR(0, "cannot listen on %s port %d: not an IP address or port", addr, port);
		return PL_EIO;
	}
	pl_listener *l = PL_NEW(pl_listener);
	uv_tcp_init(n->loop, &l->tcp);
	l->tcp.data = l;
	int rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0); /* libuv sets SO_REUSEADDR */
	if (rc == 0) rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
	if (rc != 0) {
		PL_ERROR(0, "cannot listen on %s port %d: %s", addr, port, uv_strerror(rc));
		uv_close((uv_handle_t *)&l->tcp, free_handle_cb);
		return PL_EIO;
	}
	int len = sizeof ss;
	if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                      : ((struct sockaddr_in *)&ss)->sin_port);
	l->net = n;
	l->port = port;
	l->cb = cb;
	l->ud = ud;
	l->tls = tls ? pl_tls_ctx_ref(tls) : NULL;
	n->nlisteners++;
	PL_DEBUG(0, "listening on %s port %d", addr, port);
	*out = l;
	return 0;
}

void pl_listener_set_tls(pl_listener *l, pl_tls_ctx *tls)
{
	if (tls) pl_tls_ctx_ref(tls);
	if (l->tls) pl_tls_ctx_unref(l->tls);
	l->tls = tls;
}

int pl_listener_port(const pl_listener *l)
{
	return l->port;
}

static void listener_closed(uv_handle_t *h)
{
	pl_listener *l = h->data;
	if (l->tls) pl_tls_ctx_unref(l->tls);
	free(l);
}

void pl_listener_close(pl_listener *l)
{
	if (!l || l->closing) return;
	l->closing = 1;
	l->net->nlisteners--;
	uv_close((uv_handle_t *)&l->tcp, listener_closed);
}
