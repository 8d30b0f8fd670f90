/* http_static.c: static files from the web root for GET and HEAD, and the path normalization every
 * request goes through. It owns the MIME table, ETag (size + mtime) and If-None-Match -> 304, the choice
 * of a precompressed sibling (file.gz, when the client accepts gzip; Content-Encoding and Vary), index.html
 * for directories (a directory without its trailing '/' is redirected), and the containment check: the
 * realpath() of the file must lie inside the realpath() of the web root, so symlinks leaving it are 404.
 *
 * All file system work runs on libuv's thread pool (uv_fs_realpath/open/fstat/read); the loop never
 * blocks on disk. A file is sent in chunks of STATIC_CHUNK bytes; the next chunk is read only while the
 * connection's output queue is under STATIC_HIGH_WATER (net.h has no write-completion callback, so a
 * short timer re-checks the queue), which keeps memory per transfer bounded for files of any size. */
#include "http/http_internal.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_CHUNK 65536
#define STATIC_HIGH_WATER (4 * STATIC_CHUNK)
#define STATIC_RECHECK_MS 5

/* ---- paths ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

int http_normalize_path(const char *raw, size_t len, char **out)
{
	*out = NULL;
	char *dec = pl_malloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = raw[i];
		if (c == '%') {
			if (i + 2 >= len) {
				free(dec);
				return PL_EPARSE;
			}
			int hi = hexval(raw[i + 1]);
			int lo = hexval(raw[i + 2]);
			if (hi < 0 || lo < 0) {
				free(dec);
				return PL_EPARSE;
			}
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == 0 || c == '\\') {
			free(dec);
			return PL_ENOTFOUND;
		}
		dec[n++] = c;
	}
	dec[n] = 0;
	/* segments: "" and "." vanish, ".." removes the previous one and must not climb above the root */
	char *res = pl_malloc(n + 2);
	size_t rlen = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && dec[i] == '/')
			i++;
		size_t s = i;
		while (i < n && dec[i] != '/')
			i++;
		size_t sl = i - s;
		if (sl == 0 || (sl == 1 && dec[s] == '.')) continue;
		if (sl == 2 && dec[s] == '.' && dec[s + 1] == '.') {
			if (rlen == 0) {
				free(dec);
				free(res);
				return PL_ENOTFOUND;
			}
			while (rlen > 0 && res[rlen - 1] != '/')
				rlen--;
			if (rlen > 0) rlen--; /* the '/' before the removed segment */
			continue;
		}
		res[rlen++] = '/';
		memcpy(res + rlen, dec + s, sl);
		rlen += sl;
	}
	if (rlen == 0 || (n > 0 && dec[n - 1] == '/') ||
	    (n >= 2 && dec[n - 1] == '.' &&
	     (dec[n - 2] == '/' || (n >= 3 && dec[n - 2] == '.' && dec[n - 3] == '/'))))
		res[rlen++] = '/';
	res[rlen] = 0;
	free(dec);
	*out = res;
	return 0;
}

/* ---- MIME types ---- */

static const struct {
	const char *ext, *type;
	int compressible;
} mime_types[] = {
    {"html", "text/html; charset=utf-8", 1},
    {"htm", "text/html; charset=utf-8", 1},
    {"js", "text/javascript; charset=utf-8", 1},
    {"mjs", "text/javascript; charset=utf-8", 1},
    {"css", "text/css; charset=utf-8", 1},
    {"json", "application/json", 1},
    {"map", "application/json", 1},
    {"svg", "image/svg+xml", 1},
    {"txt", "text/plain; charset=utf-8", 1},
    {"xml", "application/xml", 1},
    {"wasm", "application/wasm", 1},
    {"ico", "image/x-icon", 1},
    {"png", "image/png", 0},
    {"jpg", "image/jpeg", 0},
    {"jpeg", "image/jpeg", 0},
    {"gif", "image/gif", 0},
    {"webp", "image/webp", 0},
    {"woff", "font/woff", 0},
    {"woff2", "font/woff2", 0},
    {"ttf", "font/ttf", 0},
    {"mp3", "audio/mpeg", 0},
    {"ogg", "audio/ogg", 0},
};

static const char *mime_for(const char *path, int *compressible)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');
	*compressible = 0;
	if (dot)
		for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
			if (!strcasecmp(dot + 1, mime_types[i].ext)) {
				*compressible = mime_types[i].compressible;
				return mime_types[i].type;
			}
	return "application/octet-stream";
}

/* 1 if the Accept-Encoding value allows gzip (a q=0 refuses it). */
static int accepts_gzip(const char *ae)
{
	for (const char *p = ae; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *tok = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ')
			p++;
		size_t tl = (size_t)(p - tok);
		int q0 = 0;
		while (*p && *p != ',') {
			if (!strncmp(p, "q=0", 3) &&
			    (p[3] == 0 || p[3] == ',' || p[3] == ' ' ||
			     (p[3] == '.' && strspn(p + 4, "0") == strcspn(p + 4, ", "))))
				q0 = 1;
			p++;
		}
		if (tl == 4 && !strncasecmp(tok, "gzip", 4)) return !q0;
	}
	return 0;
}

/* ---- transfers ---- */

enum job_stage { ST_REALPATH, ST_OPEN, ST_STAT, ST_GZ_REALPATH, ST_GZ_OPEN, ST_GZ_STAT, ST_READ };

struct static_job {
	hreq *r; /* NULL once aborted */
	hconn *hc;
	pl_http *h;
	uv_fs_t fs;
	enum job_stage stage;
	int fd, gz_fd;
	int gz;
	int compressible;
	const char *mime;
	char *real;
	uint64_t size, off;
	struct timespec mtime;
	char *buf;
	uv_timer_t *wait;
};

static void job_step(uv_fs_t *fs);

static void timer_freed(uv_handle_t *hd)
{
	free(hd);
}

/* Releases everything of the job; r (when still attached) is detached but not answered. */
static void job_free(static_job *j)
{
	if (j->fd >= 0) close(j->fd); /* closing a regular file does not block */
	if (j->gz_fd >= 0) close(j->gz_fd);
	if (j->r) j->r->sj = NULL;
	if (j->wait) uv_close((uv_handle_t *)j->wait, timer_freed);
	free(j->real);
	free(j->buf);
	hconn *hc = j->hc;
	free(j);
	hconn_unref(hc);
}

/* Ends the job with an error response (status) or, with status 0, after a complete transfer. */
static void job_finish(static_job *j, int status)
{
	hreq *r = j->r;
	hconn *hc = j->hc;
	hconn_ref(hc);
	job_free(j);
	if (r) {
		if (status)
			pl_http_respond_error(&r->pub, status, status == 404 ? "not-found" : "error",
			                      status == 404 ? "no such file" : "cannot read the file");
		else
			http_response_done(r);
	}
	hconn_unref(hc);
}

static int inside_root(const pl_http *h, const char *real)
{
	const char *root = h->web_root_real;
	size_t n = strlen(root);
	if (n == 1 && root[0] == '/') return 1;
	return !strncmp(real, root, n) && (real[n] == '/' || real[n] == 0);
}

static void send_headers(static_job *j, int status)
{
	hreq *r = j->r;
	pl_buf out = PL_BUF_INIT;
	http_head_start(r, &out, status);
	pl_buf_printf(&out, "ETag: \"%" PRIx64 "-%" PRIx64 "%s\"\r\nCache-Control: no-cache\r\n", j->size,
	              (uint64_t)j->mtime.tv_sec * 1000000000u + (uint64_t)j->mtime.tv_nsec,
	              j->gz ? "-gz" : "");
	if (j->compressible) pl_buf_appends(&out, "Vary: Accept-Encoding\r\n");
	if (status == 200) {
		pl_buf_printf(&out, "Content-Type: %s\r\nContent-Length: %" PRIu64 "\r\n", j->mime, j->size);
		if (j->gz) pl_buf_appends(&out, "Content-Encoding: gzip\r\n");
	}
	pl_buf_appends(&out, "\r\n");
	r->answered = 1;
	http_write(j->hc, out.data, out.len);
	pl_buf_free(&out);
}

/* 1 if If-None-Match names the entity tag (or is "*"). */
static int etag_matches(const char *inm, const char *tag)
{
	if (!inm) return 0;
	if (!strcmp(inm, "*")) return 1;
	size_t tl = strlen(tag);
	for (const char *p = inm; (p = strstr(p, tag)); p += tl) {
		const char *before = p;
		if (before >= inm + 2 && before[-2] == 'W' && before[-1] == '/') before -= 2;
		while (before > inm && before[-1] == ' ')
			before--;
		if ((before == inm || before[-1] == ',') && (p[tl] == 0 || p[tl] == ',' || p[tl] == ' '))
			return 1;
	}
	return 0;
}

static void read_next(static_job *j);

static void on_wait(uv_timer_t *t)
{
	read_next(t->data);
}

static void read_next(static_job *j)
{
	if (!j->r || !j->hc->conn) {
		job_finish(j, 0);
		return;
	}
	if (j->off >= j->size) {
		job_finish(j, 0);
		return;
	}
	if (pl_conn_queued(j->hc->conn) > STATIC_HIGH_WATER) {
		if (!j->wait) {
			j->wait = PL_NEW(uv_timer_t);
			uv_timer_init(j->h->loop, j->wait);
			j->wait->data = j;
		}
		uv_timer_start(j->wait, on_wait, STATIC_RECHECK_MS, 0);
		return;
	}
	if (!j->buf) j->buf = pl_malloc(STATIC_CHUNK);
	uint64_t left = j->size - j->off;
	uv_buf_t b = uv_buf_init(j->buf, (unsigned)(left < STATIC_CHUNK ? left : STATIC_CHUNK));
	j->stage = ST_READ;
	if (uv_fs_read(j->h->loop, &j->fs, j->fd, &b, 1, (int64_t)j->off, job_step) != 0) {
		pl_conn_abort(j->hc->conn);
		job_finish(j, 0);
	}
}

/* The file to send is chosen (j->fd, size, mtime): answer 304 or 200, then stream the body. */
static void start_response(static_job *j)
{
	hreq *r = j->r;
	char tag[80];
	snprintf(tag, sizeof tag, "\"%" PRIx64 "-%" PRIx64 "%s\"", j->size,
	         (uint64_t)j->mtime.tv_sec * 1000000000u + (uint64_t)j->mtime.tv_nsec, j->gz ? "-gz" : "");
	if (etag_matches(pl_http_header(&r->pub, "If-None-Match"), tag)) {
		send_headers(j, 304);
		job_finish(j, 0);
		return;
	}
	send_headers(j, 200);
	if (r->head || j->size == 0) {
		job_finish(j, 0);
		return;
	}
	read_next(j);
}

static void redirect_dir(static_job *j)
{
	hreq *r = j->r;
	pl_buf loc = PL_BUF_INIT;
	pl_buf_appends(&loc, "Location: ");
	for (const unsigned char *p = (const unsigned char *)r->pub.path; *p; p++) {
		if (*p > 0x20 && *p < 0x7f && !strchr("%\"<>?#", *p))
			pl_buf_appendc(&loc, (char)*p);
		else
			pl_buf_printf(&loc, "%%%02X", *p);
	}
	pl_buf_appends(&loc, "/\r\n");
	j->r = NULL;
	r->sj = NULL;
	hconn *hc = j->hc;
	hconn_ref(hc);
	job_free(j);
	pl_http_respond(&r->pub, 301, "text/plain", "", 0, loc.data);
	pl_buf_free(&loc);
	hconn_unref(hc);
}

static void job_step(uv_fs_t *fs)
{
	static_job *j = fs->data;
	ssize_t res = fs->result;
	const char *path = fs->ptr;
	char *resolved = (j->stage == ST_REALPATH || j->stage == ST_GZ_REALPATH) && res == 0 && path
	                     ? pl_strdup(path)
	                     : NULL;
	uv_stat_t st = fs->statbuf;
	uv_fs_req_cleanup(fs);
	if (!j->r) { /* the connection went */
		if (j->stage == ST_OPEN && res >= 0) j->fd = (int)res;
		if (j->stage == ST_GZ_OPEN && res >= 0) j->gz_fd = (int)res;
		free(resolved);
		job_finish(j, 0);
		return;
	}
	switch (j->stage) {
	case ST_REALPATH:
		if (res < 0 || !inside_root(j->h, resolved)) {
			free(resolved);
			job_finish(j, 404);
			return;
		}
		j->real = resolved;
		j->stage = ST_OPEN;
		if (uv_fs_open(j->h->loop, &j->fs, j->real, O_RDONLY | O_CLOEXEC, 0, job_step) != 0)
			job_finish(j, 404);
		return;
	case ST_OPEN:
		if (res < 0) {
			job_finish(j, 404);
			return;
		}
		j->fd = (int)res;
		j->stage = ST_STAT;
		if (uv_fs_fstat(j->h->loop, &j->fs, j->fd, job_step) != 0) job_finish(j, 500);
		return;
	case ST_STAT:
		if (res < 0) {
			job_finish(j, 500);
			return;
		}
		if ((st.st_mode & S_IFMT) == S_IFDIR) {
			size_t pl = strlen(j->r->pub.path);
			if (pl && j->r->pub.path[pl - 1] == '/')
				job_finish(j, 404); /* index.html is a directory */
			else
				redirect_dir(j);
			return;
		}
		if ((st.st_mode & S_IFMT) != S_IFREG) {
			job_finish(j, 404);
			return;
		}
		j->size = st.st_size;
		j->mtime.tv_sec = st.st_mtim.tv_sec;
		j->mtime.tv_nsec = st.st_mtim.tv_nsec;
		if (j->compressible && accepts_gzip(pl_http_header(&j->r->pub, "Accept-Encoding"))) {
			char *gzpath = pl_malloc(strlen(j->real) + 4);
			sprintf(gzpath, "%s.gz", j->real);
			j->stage = ST_GZ_REALPATH;
			int rc = uv_fs_realpath(j->h->loop, &j->fs, gzpath, job_step);
			free(gzpath);
			if (rc == 0) return;
		}
		start_response(j);
		return;
	case ST_GZ_REALPATH:
		if (res < 0 || !inside_root(j->h, resolved)) {
			free(resolved);
			start_response(j);
			return;
		}
		j->stage = ST_GZ_OPEN;
		if (uv_fs_open(j->h->loop, &j->fs, resolved, O_RDONLY | O_CLOEXEC, 0, job_step) != 0)
			start_response(j);
		free(resolved);
		return;
	case ST_GZ_OPEN:
		if (res < 0) {
			start_response(j);
			return;
		}
		j->gz_fd = (int)res;
		j->stage = ST_GZ_STAT;
		if (uv_fs_fstat(j->h->loop, &j->fs, j->gz_fd, job_step) != 0) start_response(j);
		return;
	case ST_GZ_STAT:
		if (res == 0 && (st.st_mode & S_IFMT) == S_IFREG) {
			close(j->fd);
			j->fd = j->gz_fd;
			j->gz_fd = -1;
			j->gz = 1;
			j->size = st.st_size;
			j->mtime.tv_sec = st.st_mtim.tv_sec;
			j->mtime.tv_nsec = st.st_mtim.tv_nsec;
		}
		start_response(j);
		return;
	case ST_READ:
		if (res <= 0) { /* the file shrank or failed: the response cannot be completed */
			if (j->hc->conn) pl_conn_abort(j->hc->conn);
			job_finish(j, 0);
			return;
		}
		j->off += (uint64_t)res;
		if (http_write(j->hc, j->buf, (size_t)res) != 0) {
			job_finish(j, 0);
			return;
		}
		read_next(j);
		return;
	}
}

void http_serve_static(hreq *r)
{
	pl_http *h = r->hc->h;
	if (!h->web_root_real || !r->pub.path || r->pub.path[0] != '/') {
		pl_http_respond_error(&r->pub, 404, "not-found", "no such file");
		return;
	}
	static_job *j = PL_NEW(static_job);
	j->r = r;
	j->hc = r->hc;
	j->h = h;
	j->fd = j->gz_fd = -1;
	j->fs.data = j;
	hconn_ref(j->hc);
	r->sj = j;
	size_t pl = strlen(r->pub.path);
	int dir = r->pub.path[pl - 1] == '/';
	char *full = pl_malloc(strlen(h->web_root_real) + pl + 16);
	sprintf(full, "%s%s%s", h->web_root_real, r->pub.path, dir ? "index.html" : "");
	j->mime = mime_for(full, &j->compressible);
	j->stage = ST_REALPATH;
	int rc = uv_fs_realpath(h->loop, &j->fs, full, job_step);
	free(full);
	if (rc != 0) job_finish(j, 404);
}

void http_static_abort(hreq *r)
{
	static_job *j = r->sj;
	if (!j) return;
	r->sj = NULL;
	j->r = NULL;
	/* a file operation or the wait timer is in flight: its callback frees the job */
}
