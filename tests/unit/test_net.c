/* test_net.c: unit tests for src/core/net.c and src/core/tls.c. The server side runs on a libuv loop in
 * the test thread; clients are blocking sockets (plain or OpenSSL) in a second thread or, where no
 * blocking is needed, in the test thread itself. Everything is on 127.0.0.1 with port 0. Covered:
 * plaintext echo, global and per-IP limits (refusal without the accept callback, slot freed on close),
 * the output queue limit (refused bytes never sent), the read rate limit (timed with uv_now), graceful
 * close flushing 1 MiB, close and abort deferring on_close, pause/resume, Direct TLS (TLS 1.3 and 1.2)
 * against a generated self-signed certificate with the tls-exporter computed on both sides, STARTTLS
 * (plaintext before, ciphertext after), a failed handshake, and certificate loading errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/net.h"
#include "core/tls.h"

/* ---- fixture: temporary directory with a self-signed certificate ---- */

static char g_dir[64];
static char g_cert[128], g_key[128], g_cert2[128], g_key2[128];
static const char *const g_hosts[] = {"example.test", "conf.example.test"};

static int group_setup(void **state)
{
	snprintf(g_dir, sizeof g_dir, "/tmp/pl_test_net_XXXXXX");
	if (!mkdtemp(g_dir)) return -1;
	/* "sub" does not exist yet: pl_tls_ensure_self_signed creates it */
	snprintf(g_cert, sizeof g_cert, "%s/sub/cert.pem", g_dir);
	snprintf(g_key, sizeof g_key, "%s/sub/key.pem", g_dir);
	snprintf(g_cert2, sizeof g_cert2, "%s/cert2.pem", g_dir);
	snprintf(g_key2, sizeof g_key2, "%s/key2.pem", g_dir);
	char err[256];
	if (pl_tls_ensure_self_signed(g_cert, g_key, g_hosts, 2, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char p[160];
	unlink(g_cert);
	unlink(g_key);
	unlink(g_cert2);
	unlink(g_key2);
	snprintf(p, sizeof p, "%s/garbage.pem", g_dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/sub", g_dir);
	rmdir(p);
	rmdir(g_dir);
	return 0;
}

/* ---- server side: a loop, a manager, a listener and per-connection records ---- */

enum mode {
	M_ECHO,          /* echo everything */
	M_OUTQ,          /* output queue limit checks in the accept callback */
	M_COUNT,         /* count bytes until target, then close */
	M_TLS,           /* echo; "STARTTLS\n" in plaintext switches to TLS */
	M_CLOSE_IN_DATA, /* write "bye" and close from inside on_data */
	M_FLUSH,         /* write 1 MiB and close from the accept callback */
	M_PAUSE,         /* pause on the first on_data */
};

typedef struct env env;

typedef struct tconn {
	env *e;
	pl_conn *c; /* NULL once on_close ran */
	uint64_t id;
	pl_buf in;
	int data_calls, closed, reason, tls_ready, closed_in_call;
	char peer_ip[64];
	int local_port, direct_tls;
	int exporter_rc, exporter_before_rc, starttls_rc, starttls_again_rc, write_after_close_rc;
	unsigned char exporter[32];
	char version[16];
	int w[4];
	size_t queued[4];
	uint64_t t_accept, t_done;
} tconn;

struct env {
	uv_loop_t loop;
	uv_timer_t tick; /* wakes uv_run regularly while a client thread works */
	pl_net *net;
	pl_listener *l;
	int port;
	enum mode mode;
	pl_tls_ctx *starttls_ctx;
	tconn *conns[16];
	int nconns;
	size_t target;
	int pause_tls; /* M_TLS: pause after the first decrypted chunk */
};

static int g_in_call; /* set while the test itself is inside a pl_conn_* call */

#define RUN_UNTIL(e, cond, ms)                                                                               \
	do {                                                                                                 \
		uint64_t end_ = uv_now(&(e)->loop) + (ms);                                                   \
		while (!(cond) && uv_now(&(e)->loop) < end_)                                                 \
			uv_run(&(e)->loop, UV_RUN_ONCE);                                                     \
	} while (0)

static void on_data(pl_conn *c, const char *data, size_t len)
{
	tconn *t = c->ud;
	env *e = t->e;
	t->data_calls++;
	pl_buf_append(&t->in, data, len);
	switch (e->mode) {
	case M_ECHO:
		assert_int_equal(pl_conn_write_data(c, data, len), 0);
		break;
	case M_COUNT:
		if (t->in.len >= e->target && !t->t_done) {
			t->t_done = uv_now(&e->loop);
			pl_conn_close(c);
		}
		break;
	case M_TLS:
		if (!c->tls && t->in.len == 9 && memcmp(t->in.data, "STARTTLS\n", 9) == 0) {
			unsigned char tmp[32];
			t->exporter_before_rc = pl_conn_tls_exporter(c, tmp);
			assert_int_equal(pl_conn_write_data(c, "PROCEED\n", 8), 0);
			t->starttls_rc = pl_conn_starttls(c, e->starttls_ctx);
			t->starttls_again_rc = pl_conn_starttls(c, e->starttls_ctx);
			/* written after the switch: must reach the client encrypted, after the handshake */
			assert_int_equal(pl_conn_write_data(c, "WELCOME\n", 8), 0);
			pl_buf_reset(&t->in);
		} else if (c->tls) {
			assert_int_equal(pl_conn_write_data(c, data, len), 0);
			if (e->pause_tls && t->data_calls == 1) pl_conn_pause(c);
		}
		break;
	case M_CLOSE_IN_DATA:
		g_in_call = 1;
		assert_int_equal(pl_conn_write_data(c, "bye", 3), 0);
		pl_conn_close(c);
		pl_conn_close(c); /* several times is fine */
		t->write_after_close_rc = pl_conn_write_data(c, "x", 1);
		g_in_call = 0;
		assert_int_equal(t->closed, 0);
		break;
	case M_PAUSE:
		if (t->data_calls == 1) pl_conn_pause(c);
		break;
	default:
		break;
	}
}

static void on_tls_ready(pl_conn *c)
{
	tconn *t = c->ud;
	t->tls_ready++;
	assert_int_equal(c->tls, 1);
	const char *v = pl_conn_tls_version(c);
	snprintf(t->version, sizeof t->version, "%s", v ? v : "");
	t->exporter_rc = pl_conn_tls_exporter(c, t->exporter);
}

static void on_close(pl_conn *c, int reason)
{
	tconn *t = c->ud;
	t->closed++;
	t->reason = reason;
	t->closed_in_call = g_in_call;
	t->c = NULL;
}

static const pl_conn_handler handler = {on_data, on_tls_ready, on_close};

static void on_accept(void *ud, pl_conn *c)
{
	env *e = ud;
	assert_true(e->nconns < 16);
	tconn *t = PL_NEW(tconn);
	t->e = e;
	t->c = c;
	t->id = c->id;
	t->local_port = c->local_port;
	t->direct_tls = c->direct_tls;
	t->t_accept = uv_now(&e->loop);
	snprintf(t->peer_ip, sizeof t->peer_ip, "%s", c->peer_ip);
	e->conns[e->nconns++] = t;
	c->ud = t;
	c->handler = &handler;
	if (e->mode == M_OUTQ) {
		char a[600], b[400];
		memset(a, 'a', sizeof a);
		memset(b, 'b', sizeof b);
		t->w[0] = pl_conn_write_data(c, a, sizeof a);
		t->queued[0] = pl_conn_queued(c);
		t->w[1] = pl_conn_write_data(c, a, sizeof a); /* 1200 > 1000 */
		t->queued[1] = pl_conn_queued(c);
		pl_bytes *bb = pl_bytes_new(b, sizeof b);
		t->w[2] = pl_conn_write(c, bb); /* exactly 1000 */
		assert_int_equal(bb->refs, t->w[2] == 0 ? 2 : 1);
		pl_bytes_unref(bb);
		t->queued[2] = pl_conn_queued(c);
		t->w[3] = pl_conn_write_data(c, "c", 1);
	} else if (e->mode == M_FLUSH) {
		size_t n = 1 << 20;
		char *big = pl_malloc(n);
		for (size_t i = 0; i < n; i++)
			big[i] = (char)('A' + i % 23);
		assert_int_equal(pl_conn_write_data(c, big, n), 0);
		free(big);
		g_in_call = 1;
		pl_conn_close(c);
		g_in_call = 0;
	}
}

static void tick_cb(uv_timer_t *t) {}

static void env_setup(env *e, const pl_net_limits *lim, pl_tls_ctx *direct, enum mode mode)
{
	memset(e, 0, sizeof *e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	uv_timer_init(&e->loop, &e->tick);
	uv_timer_start(&e->tick, tick_cb, 5, 5);
	e->mode = mode;
	e->net = pl_net_new(&e->loop, lim);
	assert_int_equal(pl_listen(e->net, "127.0.0.1", 0, direct, on_accept, e, &e->l), 0);
	e->port = pl_listener_port(e->l);
	assert_true(e->port > 0);
}

static void env_teardown(env *e)
{
	for (int i = 0; i < e->nconns; i++)
		if (e->conns[i]->c) pl_conn_abort(e->conns[i]->c);
	RUN_UNTIL(e, pl_net_count(e->net) == 0, 5000);
	assert_int_equal(pl_net_count(e->net), 0);
	pl_listener_close(e->l);
	pl_net_free(e->net);
	uv_close((uv_handle_t *)&e->tick, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	for (int i = 0; i < e->nconns; i++) {
		assert_int_equal(e->conns[i]->closed, 1); /* exactly once */
		pl_buf_free(&e->conns[i]->in);
		free(e->conns[i]);
	}
	if (e->starttls_ctx) pl_tls_ctx_unref(e->starttls_ctx);
}

/* ---- clients ---- */

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in sin = {0};
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
		if (k <= 0) return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

/* A blocking client in a thread: sends send1, waits delay_ms, sends send2, then reads until EOF (or
 * `expect` bytes when expect > 0) into got. */
typedef struct raw_client {
	int port;
	const char *send1;
	size_t len1;
	int delay_ms;
	const char *send2;
	size_t len2;
	size_t expect;
	char *got;
	size_t cap, len;
	int eof;
	int done;
	pthread_t th;
} raw_client;

static void *raw_client_run(void *arg)
{
	raw_client *rc = arg;
	int fd = tcp_connect(rc->port);
	if (rc->len1) send_all(fd, rc->send1, rc->len1);
	if (rc->delay_ms) usleep((useconds_t)rc->delay_ms * 1000);
	if (rc->len2) send_all(fd, rc->send2, rc->len2);
	while (rc->len < rc->cap && (!rc->expect || rc->len < rc->expect)) {
		ssize_t k = recv(fd, rc->got + rc->len, rc->cap - rc->len, 0);
		if (k == 0) rc->eof = 1;
		if (k <= 0) break;
		rc->len += (size_t)k;
	}
	close(fd);
	__atomic_store_n(&rc->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void raw_client_start(raw_client *rc, int port, size_t cap)
{
	rc->port = port;
	rc->cap = cap;
	rc->got = pl_calloc(1, cap + 1);
	assert_int_equal(pthread_create(&rc->th, NULL, raw_client_run, rc), 0);
}

static int raw_done(raw_client *rc)
{
	return __atomic_load_n(&rc->done, __ATOMIC_SEQ_CST);
}

static void raw_client_join(raw_client *rc)
{
	pthread_join(rc->th, NULL);
	free(rc->got);
}

/* An OpenSSL client in a thread: optional STARTTLS exchange in plaintext, handshake verifying the
 * certificate for example.test, "ping" echoed, tls-exporter computed, close_notify. */
typedef struct tls_client {
	int port;
	int starttls;
	int max_version;
	int split; /* "ping" as two TLS records in one TCP segment */
	int ok;
	char error[256];
	char welcome[16];
	char version[16];
	unsigned char exporter[32];
	int exporter_ok;
	int done;
	pthread_t th;
} tls_client;

static int recv_exact(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = recv(fd, buf + got, n - got, 0);
		if (k <= 0) return -1;
		got += (size_t)k;
	}
	return 0;
}

static int ssl_read_exact(SSL *ssl, char *buf, int n)
{
	int got = 0;
	while (got < n) {
		int k = SSL_read(ssl, buf + got, n - got);
		if (k <= 0) return -1;
		got += k;
	}
	return 0;
}

static void *tls_client_run(void *arg)
{
	tls_client *tc = arg;
	int fd = tcp_connect(tc->port);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	char buf[64];
	if (tc->max_version) SSL_CTX_set_max_proto_version(ctx, tc->max_version);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, g_cert, NULL) != 1) {
		snprintf(tc->error, sizeof tc->error, "cannot load CA file");
		goto out;
	}
	if (tc->starttls) {
		if (send_all(fd, "STARTTLS\n", 9) != 0 || recv_exact(fd, buf, 8) != 0 ||
		    memcmp(buf, "PROCEED\n", 8) != 0) {
			snprintf(tc->error, sizeof tc->error, "no plaintext PROCEED");
			goto out;
		}
	}
	ssl = SSL_new(ctx);
	SSL_set_tlsext_host_name(ssl, "example.test");
	SSL_set1_host(ssl, "conf.example.test"); /* the second SAN entry */
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		ERR_error_string_n(ERR_get_error(), tc->error, sizeof tc->error);
		goto out;
	}
	snprintf(tc->version, sizeof tc->version, "%s", SSL_get_version(ssl));
	if (tc->starttls && ssl_read_exact(ssl, tc->welcome, 8) != 0) {
		snprintf(tc->error, sizeof tc->error, "no WELCOME over TLS");
		goto out;
	}
	if (tc->split) {
		int on = 1, off = 0;
		setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
		if (SSL_write(ssl, "pi", 2) != 2) goto out;
		if (SSL_write(ssl, "ng", 2) != 2) goto out;
		setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off); /* both records in one segment */
	} else if (SSL_write(ssl, "ping", 4) != 4) {
		goto out;
	}
	if (ssl_read_exact(ssl, buf, 4) != 0 || memcmp(buf, "ping", 4) != 0) {
		snprintf(tc->error, sizeof tc->error, "no echo over TLS");
		goto out;
	}
	/* an empty context given explicitly: must equal the server's "no context" (RFC 8446 §7.5) */
	tc->exporter_ok = SSL_export_keying_material(ssl, tc->exporter, 32, "EXPORTER-Channel-Binding", 24,
	                                             (const unsigned char *)"", 0, 1) == 1;
	tc->ok = 1;
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	__atomic_store_n(&tc->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int tls_done(tls_client *tc)
{
	return __atomic_load_n(&tc->done, __ATOMIC_SEQ_CST);
}

/* ---- tests ---- */

static pl_net_limits big_limits(void)
{
	pl_net_limits l = {0};
	l.max_output_queue = 4 << 20;
	return l;
}

static void test_echo_plain(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	env_setup(&e, &lim, NULL, M_ECHO);
	size_t n = 200 * 1024;
	char *msg = pl_malloc(n);
	for (size_t i = 0; i < n; i++)
		msg[i] = (char)(i * 7 + 3);
	raw_client rc = {0};
	rc.send1 = msg;
	rc.len1 = n;
	rc.expect = n;
	raw_client_start(&rc, e.port, n);
	RUN_UNTIL(&e, raw_done(&rc) && pl_net_count(e.net) == 0, 10000);
	assert_true(raw_done(&rc));
	assert_int_equal(rc.len, n);
	assert_memory_equal(rc.got, msg, n);
	assert_int_equal(e.nconns, 1);
	tconn *t = e.conns[0];
	assert_int_equal(t->in.len, n);
	assert_memory_equal(t->in.data, msg, n);
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->reason, 0);
	assert_string_equal(t->peer_ip, "127.0.0.1");
	assert_int_equal(t->local_port, e.port);
	assert_int_equal(t->direct_tls, 0);
	assert_true(t->id >= 1);
	raw_client_join(&rc);
	free(msg);
	env_teardown(&e);
}

static void check_limit(const pl_net_limits *lim)
{
	env e;
	env_setup(&e, lim, NULL, M_ECHO);
	int fds[4];
	for (int i = 0; i < 3; i++)
		fds[i] = tcp_connect(e.port); /* the kernel completes them */
	RUN_UNTIL(&e, 0, 300);
	assert_int_equal(e.nconns, 2); /* the accept callback never saw the third */
	assert_int_equal(pl_net_count(e.net), 2);
	assert_true(e.conns[1]->id > e.conns[0]->id);
	/* the third socket was closed by the server; the first two stay open */
	struct pollfd p = {fds[2], POLLIN, 0};
	assert_int_equal(poll(&p, 1, 2000), 1);
	char c;
	ssize_t k = recv(fds[2], &c, 1, 0);
	assert_true(k == 0 || (k < 0 && errno == ECONNRESET));
	for (int i = 0; i < 2; i++) {
		k = recv(fds[i], &c, 1, MSG_DONTWAIT);
		assert_true(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
	}
	/* closing one frees its slot */
	close(fds[0]);
	RUN_UNTIL(&e, pl_net_count(e.net) == 1, 3000);
	assert_int_equal(e.conns[0]->closed, 1);
	assert_int_equal(e.conns[0]->reason, 0);
	fds[3] = tcp_connect(e.port);
	RUN_UNTIL(&e, e.nconns == 3, 3000);
	assert_int_equal(e.nconns, 3);
	assert_int_equal(pl_net_count(e.net), 2);
	assert_true(e.conns[2]->id > e.conns[1]->id);
	close(fds[1]);
	close(fds[2]);
	close(fds[3]);
	RUN_UNTIL(&e, pl_net_count(e.net) == 0, 3000);
	env_teardown(&e);
}

static void test_per_ip_limit(void **state)
{
	pl_net_limits lim = big_limits();
	lim.max_per_ip = 2;
	check_limit(&lim);
}

static void test_global_limit(void **state)
{
	pl_net_limits lim = big_limits();
	lim.max_connections = 2;
	check_limit(&lim);
}

static void test_output_queue_limit(void **state)
{
	env e;
	pl_net_limits lim = {0};
	lim.max_output_queue = 1000;
	env_setup(&e, &lim, NULL, M_OUTQ);
	int fd = tcp_connect(e.port);
	RUN_UNTIL(&e, e.nconns == 1, 3000);
	assert_int_equal(e.nconns, 1);
	tconn *t = e.conns[0];
	assert_int_equal(t->w[0], 0);
	assert_int_equal(t->queued[0], 600);
	assert_int_equal(t->w[1], PL_ELIMIT);
	assert_int_equal(t->queued[1], 600); /* refused bytes are not queued */
	assert_int_equal(t->w[2], 0);
	assert_int_equal(t->queued[2], 1000);
	assert_int_equal(t->w[3], PL_ELIMIT);
	RUN_UNTIL(&e, pl_conn_queued(t->c) == 0, 3000);
	assert_int_equal(pl_conn_queued(t->c), 0);
	assert_int_equal(pl_conn_write_data(t->c, "c", 1), 0); /* room again once written */
	pl_conn_close(t->c);
	assert_int_equal(pl_conn_write_data(t->c, "d", 1), PL_ECLOSED);
	char buf[2048];
	size_t got = 0;
	for (;;) {
		ssize_t k = recv(fd, buf + got, sizeof buf - got, 0);
		if (k <= 0) break;
		got += (size_t)k;
		if (got >= 1001) break;
	}
	assert_int_equal(got, 1001);
	for (size_t i = 0; i < 600; i++)
		assert_int_equal(buf[i], 'a');
	for (size_t i = 600; i < 1000; i++)
		assert_int_equal(buf[i], 'b');
	assert_int_equal(buf[1000], 'c');
	close(fd);
	RUN_UNTIL(&e, t->closed, 3000);
	assert_int_equal(t->closed, 1);
	env_teardown(&e);
}

static void test_read_rate_limit(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	lim.read_rate = 10 * 1024;
	lim.read_burst = 10 * 1024;
	env_setup(&e, &lim, NULL, M_COUNT);
	e.target = 40 * 1024;
	char *msg = pl_calloc(1, e.target);
	raw_client rc = {0};
	rc.send1 = msg;
	rc.len1 = e.target;
	raw_client_start(&rc, e.port, 16);
	RUN_UNTIL(&e, raw_done(&rc) && pl_net_count(e.net) == 0, 15000);
	assert_int_equal(e.nconns, 1);
	tconn *t = e.conns[0];
	assert_int_equal(t->in.len, e.target);
	assert_true(t->t_done > 0);
	uint64_t ms = t->t_done - t->t_accept;
	/* 10 KiB of burst, then 30 KiB at 10 KiB/s: about 3 s */
	assert_true(ms >= 2500);
	assert_true(ms <= 8000);
	assert_true(t->data_calls >= 4); /* arrived in several slices, not at once */
	raw_client_join(&rc);
	free(msg);
	env_teardown(&e);
}

static void test_close_flushes(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	env_setup(&e, &lim, NULL, M_FLUSH);
	raw_client rc = {0};
	raw_client_start(&rc, e.port, 2 << 20);
	RUN_UNTIL(&e, raw_done(&rc) && pl_net_count(e.net) == 0, 10000);
	assert_true(raw_done(&rc));
	assert_int_equal(rc.len, 1 << 20);
	assert_true(rc.eof);
	for (size_t i = 0; i < rc.len; i++)
		if (rc.got[i] != (char)('A' + i % 23)) fail_msg("byte %zu differs", i);
	tconn *t = e.conns[0];
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->reason, 0);
	assert_int_equal(t->closed_in_call, 0);
	raw_client_join(&rc);
	env_teardown(&e);
}

static void test_close_inside_on_data(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	env_setup(&e, &lim, NULL, M_CLOSE_IN_DATA);
	raw_client rc = {0};
	rc.send1 = "hello";
	rc.len1 = 5;
	rc.delay_ms = 200;
	rc.send2 = "more";
	rc.len2 = 4;
	raw_client_start(&rc, e.port, 64);
	RUN_UNTIL(&e, raw_done(&rc) && pl_net_count(e.net) == 0, 5000);
	assert_true(raw_done(&rc));
	tconn *t = e.conns[0];
	assert_int_equal(t->data_calls, 1); /* "more" was never delivered */
	assert_int_equal(t->in.len, 5);
	assert_int_equal(t->write_after_close_rc, PL_ECLOSED);
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->closed_in_call, 0);
	assert_int_equal(t->reason, 0);
	assert_int_equal(rc.len, 3);
	assert_memory_equal(rc.got, "bye", 3);
	assert_true(rc.eof);
	raw_client_join(&rc);
	env_teardown(&e);
}

static void test_abort_defers_on_close(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	env_setup(&e, &lim, NULL, M_ECHO);
	int fd = tcp_connect(e.port);
	RUN_UNTIL(&e, e.nconns == 1, 3000);
	tconn *t = e.conns[0];
	assert_int_equal(pl_conn_write_data(t->c, "queued", 6), 0);
	g_in_call = 1;
	pl_conn_abort(t->c);
	pl_conn_abort(t->c);
	pl_conn_close(t->c);
	g_in_call = 0;
	assert_int_equal(t->closed, 0);
	assert_int_equal(pl_net_count(e.net), 1); /* freed later, not inside the call */
	RUN_UNTIL(&e, t->closed, 3000);
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->closed_in_call, 0);
	assert_int_equal(pl_net_count(e.net), 0);
	close(fd);
	env_teardown(&e);
}

static void test_pause_resume(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	env_setup(&e, &lim, NULL, M_PAUSE);
	raw_client rc = {0};
	rc.send1 = "one";
	rc.len1 = 3;
	rc.delay_ms = 100;
	rc.send2 = "two";
	rc.len2 = 3;
	raw_client_start(&rc, e.port, 16);
	RUN_UNTIL(&e, e.nconns == 1 && e.conns[0]->data_calls == 1, 3000);
	tconn *t = e.conns[0];
	RUN_UNTIL(&e, 0, 400);
	assert_int_equal(t->data_calls, 1);
	assert_int_equal(t->in.len, 3);
	pl_conn_resume(t->c);
	RUN_UNTIL(&e, t->in.len == 6, 3000);
	assert_int_equal(t->in.len, 6);
	assert_memory_equal(t->in.data, "onetwo", 6);
	pl_conn_close(t->c);
	RUN_UNTIL(&e, raw_done(&rc) && t->closed, 5000);
	assert_true(rc.eof);
	raw_client_join(&rc);
	env_teardown(&e);
}

static void test_self_signed(void **state)
{
	struct stat st;
	assert_int_equal(stat(g_key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	FILE *f = fopen(g_cert, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	/* subjectAltName holds exactly the hosts, in order */
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
	for (int i = 0; i < 2; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		assert_int_equal(g->type, GEN_DNS);
		assert_string_equal((const char *)ASN1_STRING_get0_data(g->d.dNSName), g_hosts[i]);
	}
	GENERAL_NAMES_free(gens);
	char cn[64];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0);
	assert_string_equal(cn, "example.test");
	assert_int_equal(X509_check_host(x, "conf.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "other.test", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	int days = 0, secs = 0;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	assert_true(days >= 3650 && days <= 3653);
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[32];
	size_t glen = 0;
	assert_int_equal(EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof group, &glen), 1);
	assert_string_equal(group, "prime256v1");
	X509_free(x);
	/* both files exist: nothing changes */
	struct stat before, after;
	assert_int_equal(stat(g_cert, &before), 0);
	char err[256];
	const char *other[] = {"other.test"};
	assert_int_equal(pl_tls_ensure_self_signed(g_cert, g_key, other, 1, err, sizeof err), 0);
	assert_int_equal(stat(g_cert, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

static void test_tls_errors(void **state)
{
	char err[512];
	pl_tls_ctx *ctx = (pl_tls_ctx *)1;
	assert_int_equal(pl_tls_ctx_new("/nonexistent/dir/cert.pem", g_key, &ctx, err, sizeof err), PL_ETLS);
	assert_null(ctx);
	assert_non_null(strstr(err, "/nonexistent/dir/cert.pem"));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(pl_tls_ctx_new(g_cert, "/nonexistent/key.pem", &ctx, err, sizeof err), PL_ETLS);
	assert_non_null(strstr(err, "/nonexistent/key.pem"));
	/* a second pair: its key does not match the first certificate */
	const char *h[] = {"second.test"};
	assert_int_equal(pl_tls_ensure_self_signed(g_cert2, g_key2, h, 1, err, sizeof err), 0);
	assert_int_equal(pl_tls_ctx_new(g_cert2, g_key2, &ctx, err, sizeof err), 0);
	pl_tls_ctx_unref(ctx);
	assert_int_equal(pl_tls_ctx_new(g_cert, g_key2, &ctx, err, sizeof err), PL_ETLS);
	assert_non_null(strstr(err, "do not match"));
	/* not a certificate */
	char garbage[160];
	snprintf(garbage, sizeof garbage, "%s/garbage.pem", g_dir);
	FILE *f = fopen(garbage, "w");
	assert_non_null(f);
	fputs("not a certificate\n", f);
	fclose(f);
	assert_int_equal(pl_tls_ctx_new(garbage, g_key, &ctx, err, sizeof err), PL_ETLS);
	assert_non_null(strstr(err, garbage));
	/* a certificate whose key is missing is never replaced */
	assert_int_equal(pl_tls_ensure_self_signed(g_cert, "/nonexistent/k.pem", h, 1, err, sizeof err),
	                 PL_ETLS);
	assert_non_null(strstr(err, "/nonexistent/k.pem"));
	/* refcount: the wrapped SSL_CTX lives as long as a reference does */
	assert_int_equal(pl_tls_ctx_new(g_cert, g_key, &ctx, err, sizeof err), 0);
	assert_non_null(pl_tls_ctx_ssl_ctx(ctx));
	assert_ptr_equal(pl_tls_ctx_ref(ctx), ctx);
	pl_tls_ctx_unref(ctx);
	assert_non_null(SSL_CTX_get0_certificate(pl_tls_ctx_ssl_ctx(ctx)));
	pl_tls_ctx_unref(ctx);
}

static pl_tls_ctx *load_ctx(void)
{
	char err[256];
	pl_tls_ctx *ctx = NULL;
	if (pl_tls_ctx_new(g_cert, g_key, &ctx, err, sizeof err) != 0) fail_msg("%s", err);
	return ctx;
}

static void run_direct_tls(int max_version)
{
	env e;
	pl_net_limits lim = big_limits();
	pl_tls_ctx *ctx = load_ctx();
	env_setup(&e, &lim, ctx, M_TLS);
	pl_tls_ctx_unref(ctx); /* the listener holds its own reference */
	tls_client tc = {0};
	tc.port = e.port;
	tc.max_version = max_version;
	assert_int_equal(pthread_create(&tc.th, NULL, tls_client_run, &tc), 0);
	RUN_UNTIL(&e, tls_done(&tc) && pl_net_count(e.net) == 0, 10000);
	pthread_join(tc.th, NULL);
	if (!tc.ok) fail_msg("client: %s", tc.error);
	assert_int_equal(e.nconns, 1);
	tconn *t = e.conns[0];
	assert_int_equal(t->direct_tls, 1);
	assert_int_equal(t->tls_ready, 1);
	assert_string_equal(t->version, tc.version);
	assert_int_equal(t->in.len, 4);
	assert_memory_equal(t->in.data, "ping", 4);
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->reason, 0); /* close_notify or EOF */
	if (max_version == TLS1_2_VERSION) {
		assert_string_equal(t->version, "TLSv1.2");
		assert_int_equal(t->exporter_rc, PL_ESTATE);
	} else {
		assert_string_equal(t->version, "TLSv1.3");
		assert_int_equal(t->exporter_rc, 0);
		assert_true(tc.exporter_ok);
		assert_memory_equal(t->exporter, tc.exporter, 32);
	}
	env_teardown(&e);
}

static void test_direct_tls13(void **state)
{
	run_direct_tls(0);
}
static void test_direct_tls12(void **state)
{
	run_direct_tls(TLS1_2_VERSION);
}

static void test_starttls(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	env_setup(&e, &lim, NULL, M_TLS);
	e.starttls_ctx = load_ctx();
	tls_client tc = {0};
	tc.port = e.port;
	tc.starttls = 1;
	assert_int_equal(pthread_create(&tc.th, NULL, tls_client_run, &tc), 0);
	RUN_UNTIL(&e, tls_done(&tc) && pl_net_count(e.net) == 0, 10000);
	pthread_join(tc.th, NULL);
	if (!tc.ok) fail_msg("client: %s", tc.error);
	tconn *t = e.conns[0];
	assert_int_equal(t->direct_tls, 0);
	assert_int_equal(t->exporter_before_rc, PL_ESTATE);
	assert_int_equal(t->starttls_rc, 0);
	assert_int_equal(t->starttls_again_rc, PL_ESTATE);
	assert_int_equal(t->tls_ready, 1);
	assert_memory_equal(tc.welcome, "WELCOME\n", 8);
	assert_string_equal(t->version, "TLSv1.3");
	assert_int_equal(t->exporter_rc, 0);
	assert_true(tc.exporter_ok);
	assert_memory_equal(t->exporter, tc.exporter, 32);
	assert_int_equal(t->in.len, 4); /* after the switch: only "ping" */
	assert_memory_equal(t->in.data, "ping", 4);
	assert_int_equal(t->closed, 1);
	env_teardown(&e);
}

/* Paused inside on_data while the second record waits inside OpenSSL: nothing is delivered while
 * paused, and resume delivers it without new socket input. */
static void test_tls_pause_resume(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	pl_tls_ctx *ctx = load_ctx();
	env_setup(&e, &lim, ctx, M_TLS);
	pl_tls_ctx_unref(ctx);
	e.pause_tls = 1;
	tls_client tc = {0};
	tc.port = e.port;
	tc.split = 1;
	assert_int_equal(pthread_create(&tc.th, NULL, tls_client_run, &tc), 0);
	RUN_UNTIL(&e, e.nconns == 1 && e.conns[0]->data_calls == 1, 5000);
	tconn *t = e.conns[0];
	assert_int_equal(t->data_calls, 1);
	RUN_UNTIL(&e, 0, 300);
	assert_int_equal(t->data_calls, 1);
	assert_int_equal(t->in.len, 2);
	assert_false(tls_done(&tc));
	pl_conn_resume(t->c);
	RUN_UNTIL(&e, tls_done(&tc) && pl_net_count(e.net) == 0, 5000);
	pthread_join(tc.th, NULL);
	if (!tc.ok) fail_msg("client: %s", tc.error);
	assert_int_equal(t->in.len, 4);
	assert_memory_equal(t->in.data, "ping", 4);
	env_teardown(&e);
}

/* A peer that never closes: FIN arrives at once, on_close follows the 2 s bound. */
static void test_close_timeout(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	env_setup(&e, &lim, NULL, M_ECHO);
	int fd = tcp_connect(e.port);
	RUN_UNTIL(&e, e.nconns == 1, 3000);
	tconn *t = e.conns[0];
	assert_int_equal(pl_conn_write_data(t->c, "last", 4), 0);
	uint64_t start = uv_now(&e.loop);
	pl_conn_close(t->c);
	RUN_UNTIL(&e, 0, 200);
	char buf[16];
	assert_int_equal(recv(fd, buf, sizeof buf, MSG_DONTWAIT), 4);
	assert_int_equal(recv(fd, buf, sizeof buf, MSG_DONTWAIT), 0); /* FIN */
	assert_int_equal(t->closed, 0);
	RUN_UNTIL(&e, t->closed, 5000);
	uint64_t ms = uv_now(&e.loop) - start;
	assert_int_equal(t->closed, 1);
	assert_true(ms >= 1900 && ms <= 3500);
	close(fd);
	env_teardown(&e);
}

static void test_tls_handshake_failure(void **state)
{
	env e;
	pl_net_limits lim = big_limits();
	pl_tls_ctx *ctx = load_ctx();
	env_setup(&e, &lim, ctx, M_TLS);
	pl_tls_ctx_unref(ctx);
	raw_client rc = {0};
	rc.send1 = "GET / HTTP/1.0\r\n\r\n";
	rc.len1 = strlen(rc.send1);
	raw_client_start(&rc, e.port, 4096);
	RUN_UNTIL(&e, raw_done(&rc) && pl_net_count(e.net) == 0, 5000);
	assert_true(raw_done(&rc));
	assert_true(rc.eof);
	tconn *t = e.conns[0];
	assert_int_equal(t->closed, 1);
	assert_int_equal(t->reason, PL_ETLS);
	assert_int_equal(t->tls_ready, 0);
	assert_int_equal(t->data_calls, 0);
	raw_client_join(&rc);
	env_teardown(&e);
}

static void test_listen_errors(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	pl_net *n = pl_net_new(&loop, NULL);
	pl_listener *a = NULL, *b = NULL;
	assert_int_equal(pl_listen(n, "not-an-address", 0, NULL, on_accept, NULL, &a), PL_EIO);
	assert_null(a);
	assert_int_equal(pl_listen(n, "127.0.0.1", 0, NULL, on_accept, NULL, &a), 0);
	assert_int_equal(pl_listen(n, "127.0.0.1", pl_listener_port(a), NULL, on_accept, NULL, &b), PL_EIO);
	assert_null(b);
	assert_int_equal(pl_listen(n, "::1", 0, NULL, on_accept, NULL, &b), 0); /* IPv6 */
	assert_true(pl_listener_port(b) > 0);
	pl_listener_close(a);
	pl_listener_close(b);
	pl_net_free(n);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	pl_log_set_level(getenv("PL_TEST_DEBUG") ? PL_LOG_DEBUG : PL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo_plain),
	    cmocka_unit_test(test_per_ip_limit),
	    cmocka_unit_test(test_global_limit),
	    cmocka_unit_test(test_output_queue_limit),
	    cmocka_unit_test(test_read_rate_limit),
	    cmocka_unit_test(test_close_flushes),
	    cmocka_unit_test(test_close_inside_on_data),
	    cmocka_unit_test(test_abort_defers_on_close),
	    cmocka_unit_test(test_pause_resume),
	    cmocka_unit_test(test_self_signed),
	    cmocka_unit_test(test_tls_errors),
	    cmocka_unit_test(test_direct_tls13),
	    cmocka_unit_test(test_direct_tls12),
	    cmocka_unit_test(test_starttls),
	    cmocka_unit_test(test_tls_handshake_failure),
	    cmocka_unit_test(test_tls_pause_resume),
	    cmocka_unit_test(test_close_timeout),
	    cmocka_unit_test(test_listen_errors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
