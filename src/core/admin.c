/* admin.c: the local admin socket (see admin.h). The server side is a uv_pipe_t listener on the daemon's
 * loop: each client gets a bounded line buffer and a timer; the first complete line is the command, the
 * answer is one JSON line, then the connection is closed. The JSON of the status comes from the
 * provider callback (the XMPP server builds it); error answers are built here with jansson. The blocking
 * client used by parleyctl lives here too, so both ends of the protocol are in one file. */
#include "core/admin.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_MAX_LINE 1024
#define ADMIN_MAX_CLIENTS 32
#define ADMIN_CLIENT_TIMEOUT_MS 5000
#define ADMIN_MAX_REPLY (1024 * 1024) /* client side bound */

typedef struct admin_client admin_client;

struct pl_admin {
	uv_pipe_t pipe;
	char *path;
	pl_admin_status_fn fn;
	void *ud;
	admin_client *clients; /* doubly linked */
	int nclients;
	int handles; /* open uv handles (listener + 2 per client); freed at 0 after stop */
	int stopped;
};

struct admin_client {
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_write_t wr;
	pl_admin *admin;
	admin_client *prev, *next;
	char buf[ADMIN_MAX_LINE];
	size_t len;
	char *reply;
	int answered; /* a reply is being written: ignore further input */
	int closing;
};

static void admin_release(pl_admin *a)
{
	if (--a->handles > 0) return;
	free(a->path);
	free(a);
}

static void on_listener_closed(uv_handle_t *h)
{
	admin_release(h->data);
}

static void on_client_handle_closed(uv_handle_t *h)
{
	admin_client *c = h->data;
	pl_admin *a = c->admin;
	/* the client is freed when its second handle is closed */
	if (h == (uv_handle_t *)&c->pipe) {
		c->pipe.data = NULL;
	} else {
		c->timer.data = NULL;
	}
	if (!c->pipe.data && !c->timer.data) {
		free(c->reply);
		free(c);
	}
	admin_release(a);
}

static void client_close(admin_client *c)
{
	if (c->closing) return;
	c->closing = 1;
	pl_admin *a = c->admin;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->clients = c->next;
	if (c->next) c->next->prev = c->prev;
	a->nclients--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_client_handle_closed);
	uv_close((uv_handle_t *)&c->pipe, on_client_handle_closed);
}

static void on_written(uv_write_t *req, int status)
{
	admin_client *c = req->data;
	if (status == UV_ECANCELED || c->closing) return;
	client_close(c);
}

static void client_reply(admin_client *c, char *text)
{
	size_t n = strlen(text);
	c->reply = pl_realloc(text, n + 2);
	c->reply[n] = '\n';
	c->reply[n + 1] = 0;
	c->answered = 1;
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_buf_t b = uv_buf_init(c->reply, (unsigned)(n + 1));
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0) client_close(c);
}

static void client_reply_error(admin_client *c, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	/* jansson allocates with malloc by default: hand over a pl_ copy to keep one owner rule */
	char *text = pl_strdup(s ? s : "{\"error\":\"internal\"}");
	free(s);
	client_reply(c, text);
}

static void client_command(admin_client *c, char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = 0;
	while (*line == ' ' || *line == '\t')
		line++;
	if (!strcmp(line, "status")) {
		char *s = c->admin->fn ? c->admin->fn(c->admin->ud) : NULL;
		if (!s) {
			client_reply_error(c, "status unavailable");
			return;
		}
		/* the provider may end its text with a newline: keep exactly one */
		size_t sl = strlen(s);
		while (sl && (s[sl - 1] == '\n' || s[sl - 1] == '\r'))
			s[--sl] = 0;
		client_reply(c, s);
	} else if (!strcmp(line, "ping")) {
		client_reply(c, pl_strdup("{\"ok\":true}"));
	} else {
		client_reply_error(c, "unknown command");
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	admin_client *c = h->data;
	size_t room = sizeof c->buf - 1 - c->len;
	*buf = uv_buf_init(c->buf + c->len, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	admin_client *c = s->data;
	if (c->closing || c->answered) return;
	if (nread < 0) {
		/* EOF after an unterminated command still counts as a command */
		if (nread == UV_EOF && c->len > 0) {
			c->buf[c->len] = 0;
			client_command(c, c->buf);
		} else {
			client_close(c);
		}
		return;
	}
	c->len += (size_t)nread;
	c->buf[c->len] = 0;
	char *nl = memchr(c->buf, '\n', c->len);
	if (nl) {
		*nl = 0;
		client_command(c, c->buf);
	} else if (c->len >= sizeof c->buf - 1) {
		client_reply_error(c, "command too long");
	}
}

static void on_timeout(uv_timer_t *t)
{
	admin_client *c = t->data;
	if (!c->answered) client_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	pl_admin *a = server->data;
	if (status < 0 || a->stopped) return;
	admin_client *c = PL_NEW(admin_client);
	c->admin = a;
	uv_pipe_init(server->loop, &c->pipe, 0);
	uv_timer_init(server->loop, &c->timer);
	c->pipe.data = c;
	c->timer.data = c;
	a->handles += 2;
	c->next = a->clients;
	if (a->clients) a->clients->prev = c;
	a->clients = c;
	a->nclients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 || a->nclients > ADMIN_MAX_CLIENTS) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timeout, ADMIN_CLIENT_TIMEOUT_MS, 0);
	if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) client_close(c);
}

/* Connects a blocking socket to path. Returns the fd, or -errno. */
static int connect_unix(const char *path)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Removes a socket file nobody accepts on. Returns 0 (path free), or an error. */
static int remove_stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : PL_EIO;
	if (!S_ISSOCK(st.st_mode)) {
		PL_ERROR(0, "admin socket: %s exists and is not a socket", path);
		return PL_EEXIST;
	}
	int fd = connect_unix(path);
	if (fd >= 0) {
		close(fd);
		PL_ERROR(0, "admin socket: another server is listening on %s", path);
		return PL_EEXIST;
	}
	if (fd != -ECONNREFUSED) {
		PL_ERROR(0, "admin socket: cannot probe %s: %s", path, strerror(-fd));
		return PL_EIO;
	}
	if (unlink(path) != 0 && errno != ENOENT) return PL_EIO;
	PL_INFO(0, "admin socket: removed stale %s", path);
	return 0;
}

int pl_admin_start(uv_loop_t *loop, const char *path, pl_admin_status_fn fn, void *ud, pl_admin **out)
{
	*out = NULL;
	struct sockaddr_un sa;
	if (!path || !*path || strlen(path) >= sizeof sa.sun_path) return PL_EINVAL;
	int rc = remove_stale(path);
	if (rc != 0) return rc;
	pl_admin *a = PL_NEW(pl_admin);
	a->path = pl_strdup(path);
	a->fn = fn;
	a->ud = ud;
	uv_pipe_init(loop, &a->pipe, 0);
	a->pipe.data = a;
	a->handles = 1;
	int e = uv_pipe_bind(&a->pipe, path);
	if (e == 0) {
		/* nobody can connect before listen(), so tightening the mode here has no window */
		if (chmod(path, 0600) != 0) e = -errno;
		if (e == 0) e = uv_listen((uv_stream_t *)&a->pipe, 16, on_connection);
		if (e != 0) unlink(path);
	}
	if (e != 0) {
		PL_ERROR(0, "admin socket: cannot listen on %s: %s", path, uv_strerror(e));
		a->stopped = 1;
		uv_close((uv_handle_t *)&a->pipe, on_listener_closed);
		return PL_EIO;
	}
	PL_INFO(0, "admin socket listening on %s", path);
	*out = a;
	return 0;
}

void pl_admin_stop(pl_admin *a)
{
	if (!a || a->stopped) return;
	a->stopped = 1;
	while (a->clients)
		client_close(a->clients);
	unlink(a->path);
	uv_close((uv_handle_t *)&a->pipe, on_listener_closed);
}

/* ---- client ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pl_admin_request(const char *path, const char *cmd, int timeout_ms, char **reply, char *err,
                     size_t errlen)
{
	*reply = NULL;
	if (err && errlen) err[0] = 0;
	int fd = connect_unix(path);
	if (fd < 0) {
		int e = -fd;
		if (err && errlen) snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
		return (e == ENOENT || e == ECONNREFUSED) ? PL_ECLOSED : PL_EIO;
	}
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
	size_t clen = strlen(cmd);
	char *line = pl_malloc(clen + 2);
	memcpy(line, cmd, clen);
	line[clen] = '\n';
	line[clen + 1] = 0;
	size_t off = 0;
	int rc = 0;
	while (off < clen + 1) {
		ssize_t n = send(fd, line + off, clen + 1 - off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR) continue;
			if (err && errlen)
				snprintf(err, errlen, "cannot send to %s: %s", path, strerror(errno));
			rc = PL_EIO;
			break;
		}
		off += (size_t)n;
	}
	free(line);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	while (rc == 0) {
		long long left = deadline - now_ms();
		if (left <= 0) {
			if (err && errlen) snprintf(err, errlen, "no answer from %s (timeout)", path);
			rc = PL_EIO;
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR) continue;
		if (pr <= 0) continue; /* timeout is checked above */
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = pl_realloc(buf, cap);
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			if (err && errlen)
				snprintf(err, errlen, "cannot read from %s: %s", path, strerror(errno));
			rc = PL_EIO;
			break;
		}
		if (n == 0) break;
		len += (size_t)n;
		buf[len] = 0;
		if (memchr(buf, '\n', len)) break;
		if (len > ADMIN_MAX_REPLY) {
			if (err && errlen) snprintf(err, errlen, "answer from %s too long", path);
			rc = PL_EIO;
		}
	}
	close(fd);
	if (rc == 0 && len == 0) {
		if (err && errlen) snprintf(err, errlen, "%s closed the connection without an answer", path);
		rc = PL_EIO;
	}
	if (rc != 0) {
		free(buf);
		return rc;
	}
	char *nl = memchr(buf, '\n', len);
	if (nl) *nl = 0;
	*reply = buf;
	return 0;
}
