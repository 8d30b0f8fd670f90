/* test_admin.c: unit tests for src/core/admin.c: the admin socket server runs on a libuv loop in a
 * second thread while the test talks to it with pl_admin_request and raw sockets: status via the
 * provider, ping, unknown and over-long commands, a command ended by EOF instead of a newline, the 0600
 * mode, stale socket removal, refusal to replace a live socket or a regular file, clean stop (socket file
 * removed, every handle closed so the loop closes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/alloc.h"
#include "core/error.h"

typedef struct server {
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	pl_admin *admin;
	char path[108];
	int calls;
	int null_status;
} server;

static char *status_fn(void *ud)
{
	server *s = ud;
	s->calls++;
	if (s->null_status) return NULL;
	char buf[64];
	snprintf(buf, sizeof buf, "{\"connections\":%d}\n", s->calls);
	return pl_strdup(buf);
}

static void on_stop(uv_async_t *h)
{
	server *s = h->data;
	pl_admin_stop(s->admin);
	uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *run_loop(void *arg)
{
	server *s = arg;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void server_start(server *s, int null_status)
{
	memset(s, 0, sizeof *s);
	snprintf(s->path, sizeof s->path, "/tmp/parley-test-admin-%d.sock", (int)getpid());
	s->null_status = null_status;
	unlink(s->path);
	assert_int_equal(uv_loop_init(&s->loop), 0);
	assert_int_equal(pl_admin_start(&s->loop, s->path, status_fn, s, &s->admin), 0);
	uv_async_init(&s->loop, &s->stop, on_stop);
	s->stop.data = s;
	assert_int_equal(pthread_create(&s->thread, NULL, run_loop, s), 0);
}

static void server_stop(server *s)
{
	uv_async_send(&s->stop);
	pthread_join(s->thread, NULL);
	/* every handle of the admin server is closed, or uv_loop_close says UV_EBUSY */
	assert_int_equal(uv_loop_close(&s->loop), 0);
	struct stat st;
	assert_int_not_equal(lstat(s->path, &st), 0);
}

static char *request(server *s, const char *cmd)
{
	char *reply = NULL, err[256];
	assert_int_equal(pl_admin_request(s->path, cmd, 3000, &reply, err, sizeof err), 0);
	return reply;
}

/* Sends raw bytes (optionally shutting down the write side), returns everything read until EOF. */
static char *raw_exchange(const char *path, const char *data, size_t len, int shut)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
		if (n <= 0) break; /* the server may answer and close before reading everything */
		off += (size_t)n;
	}
	if (shut) shutdown(fd, SHUT_WR);
	static char buf[4096];
	size_t got = 0;
	for (;;) {
		ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (n <= 0) break;
		got += (size_t)n;
	}
	buf[got] = 0;
	close(fd);
	return buf;
}

static void test_commands(void **state)
{
	server s;
	server_start(&s, 0);
	struct stat st;
	assert_int_equal(lstat(s.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	char *r = request(&s, "status");
	assert_string_equal(r, "{\"connections\":1}");
	free(r);
	r = request(&s, "  status\r");
	assert_string_equal(r, "{\"connections\":2}");
	free(r);
	r = request(&s, "ping");
	assert_string_equal(r, "{\"ok\":true}");
	free(r);
	r = request(&s, "shutdown");
	assert_string_equal(r, "{\"error\":\"unknown command\"}");
	free(r);
	r = request(&s, "");
	assert_string_equal(r, "{\"error\":\"unknown command\"}");
	free(r);

	/* exactly one line comes back, then the server closes */
	assert_string_equal(raw_exchange(s.path, "status\nstatus\n", 14, 0), "{\"connections\":3}\n");
	/* EOF ends a command without newline */
	assert_string_equal(raw_exchange(s.path, "ping", 4, 1), "{\"ok\":true}\n");
	/* input is bounded: 1 KiB without a newline is refused */
	char big[3000];
	memset(big, 'a', sizeof big);
	assert_string_equal(raw_exchange(s.path, big, sizeof big, 0), "{\"error\":\"command too long\"}\n");
	/* a client that sends nothing and closes gets nothing, and the server goes on */
	assert_string_equal(raw_exchange(s.path, "", 0, 1), "");
	r = request(&s, "status");
	assert_string_equal(r, "{\"connections\":4}");
	free(r);
	assert_int_equal(s.calls, 4);
	server_stop(&s);

	/* once stopped: not running */
	char err[256];
	r = NULL;
	assert_int_equal(pl_admin_request(s.path, "status", 1000, &r, err, sizeof err), PL_ECLOSED);
	assert_null(r);
	assert_non_null(strstr(err, s.path));
}

static void test_status_unavailable(void **state)
{
	server s;
	server_start(&s, 1);
	char *r = request(&s, "status");
	assert_string_equal(r, "{\"error\":\"status unavailable\"}");
	free(r);
	server_stop(&s);
}

static void test_socket_file_handling(void **state)
{
	char path[108];
	snprintf(path, sizeof path, "/tmp/parley-test-admin2-%d.sock", (int)getpid());
	unlink(path);
	uv_loop_t loop;
	uv_loop_init(&loop);
	pl_admin *a = NULL;

	/* a stale socket (bound, nobody listening) is replaced */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	assert_int_equal(pl_admin_start(&loop, path, status_fn, NULL, &a), 0);
	assert_non_null(a);

	/* a live one is not: the second server refuses to start */
	uv_loop_t loop2;
	uv_loop_init(&loop2);
	pl_admin *b = (pl_admin *)0x1;
	assert_int_equal(pl_admin_start(&loop2, path, status_fn, NULL, &b), PL_EEXIST);
	assert_null(b);
	assert_int_equal(uv_loop_close(&loop2), 0);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);

	pl_admin_stop(a);
	pl_admin_stop(NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_not_equal(lstat(path, &st), 0);

	/* a regular file is never removed */
	FILE *f = fopen(path, "w");
	fputs("data", f);
	fclose(f);
	uv_loop_init(&loop);
	assert_int_equal(pl_admin_start(&loop, path, status_fn, NULL, &a), PL_EEXIST);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);

	/* a path that does not fit a unix socket address, and a directory that does not exist */
	char longp[200];
	memset(longp, 'x', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = 0;
	assert_int_equal(pl_admin_start(&loop, longp, status_fn, NULL, &a), PL_EINVAL);
	assert_int_equal(pl_admin_start(&loop, "/tmp/parley-no-such-dir/x.sock", status_fn, NULL, &a),
	                 PL_EIO);
	assert_null(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);

	/* the client side without any server */
	char *r = NULL, err[256];
	assert_int_equal(pl_admin_request(path, "status", 1000, &r, err, sizeof err), PL_ECLOSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_commands),
	    cmocka_unit_test(test_status_unavailable),
	    cmocka_unit_test(test_socket_file_handling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
