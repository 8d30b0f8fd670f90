/* store.c: the generic half of the store: picks the backend by name, runs one store thread per store
 * with a bounded FIFO of jobs, and brings results back to the libuv loop thread. Each pl_store_* call
 * copies its arguments into a job and queues it; the store thread runs the job's backend function and
 * moves the job to the done queue, then wakes the loop through a uv_async_t; the loop runs the callbacks
 * in submission order and frees each job with its results after the callback. The backend functions
 * themselves (SQL and so on) live in store_<backend>.c behind the table of store_backend.h.
 *
 * Threads: pl_store_* are called on the loop thread only. The mutex protects the two queues and the
 * thread's state; the async handle's reference is taken while jobs are in flight, so an idle store does
 * not keep uv_run(UV_RUN_DEFAULT) from returning.
 *
 * Closing: pl_store_close waits for the queue to empty, running every callback (callbacks may queue more
 * work; it is finished too), joins the thread, closes the backend and uv_close()s the async handle; the
 * pl_store itself is freed by the handle's close callback. When the loop has no other open handle and no
 * active request (a command-line tool calling close outside uv_run), close runs the loop with
 * UV_RUN_NOWAIT until that callback has fired, so uv_loop_close may follow at once. Otherwise (the daemon
 * closing from a timer callback, or close from a store callback) the running loop finishes the handle at
 * the end of its current iteration, or the caller runs the loop once more before uv_loop_close. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "store/store.h"
#include "store/store_backend.h"

/* At most this many jobs in flight (queued, running or waiting for their callback); beyond, PL_ELIMIT. */
#define STORE_MAX_JOBS 100000

enum job_op {
	OP_ACCOUNT_GET,
	OP_ACCOUNT_CREATE,
	OP_ACCOUNT_SET_CREDS,
	OP_ACCOUNT_DELETE,
	OP_ACCOUNT_LIST,
	OP_ROSTER_GET,
	OP_ROSTER_PUT,
	OP_ROSTER_DELETE,
	OP_OFFLINE_PUSH,
	OP_OFFLINE_TAKE,
};

typedef struct store_job {
	struct store_job *next;
	enum job_op op;
	char *host, *user;
	char *arg;           /* jid (roster delete) or stanza (offline push) */
	int max;             /* offline push */
	pl_sasl_creds creds; /* account create/set_creds input, account get output */
	pl_roster_item item; /* roster put input */
	void (*cb)(void);    /* the typed callback, cast back by op */
	void *ud;
	/* results, owned by the job */
	int status;
	char **strv; /* account names or offline stanzas */
	pl_roster_item *items;
	size_t n;
	long long version;
} store_job;

struct pl_store {
	uv_loop_t *loop;
	const pl_store_backend *be;
	void *db;
	int schema_version;

	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t work_cond; /* jobs queued or stop requested */
	uv_cond_t idle_cond; /* a job finished */
	store_job *queue_head, *queue_tail;
	store_job *done_head, *done_tail;
	int running; /* the thread is inside a backend call */
	int stop;

	uv_async_t async;
	/* loop thread only */
	size_t inflight;
	int dispatching;  /* inside run_done: the loop is running, a nested uv_run is forbidden */
	int closed;       /* pl_store_close was called; s lives until the async handle's close callback */
	int *closed_flag; /* set by the close callback when pl_store_close waits for it */
};

static const pl_store_backend *const backends[] = {
    &pl_store_sqlite_backend,
};

void pl_store_free_items(pl_roster_item *items, size_t n)
{
	if (!items) return;
	for (size_t i = 0; i < n; i++)
		pl_roster_item_clear(&items[i]);
	pl_free(items);
}

void pl_store_free_strv(char **v, size_t n)
{
	if (!v) return;
	for (size_t i = 0; i < n; i++)
		pl_free(v[i]);
	pl_free(v);
}

void pl_roster_item_copy(const pl_roster_item *src, pl_roster_item *dst)
{
	dst->jid = pl_strdup(src->jid);
	dst->name = pl_strdup(src->name);
	dst->subscription = src->subscription;
	dst->ask = src->ask;
	dst->pending_in = src->pending_in;
	dst->ngroups = src->ngroups;
	dst->groups = NULL;
	if (src->ngroups) {
		dst->groups = pl_calloc(src->ngroups, sizeof(char *));
		for (size_t i = 0; i < src->ngroups; i++)
			dst->groups[i] = pl_strdup(src->groups[i]);
	}
}

void pl_roster_item_clear(pl_roster_item *it)
{
	if (!it) return;
	pl_free(it->jid);
	pl_free(it->name);
	pl_store_free_strv(it->groups, it->ngroups);
	memset(it, 0, sizeof *it);
}

static void job_free(store_job *j)
{
	pl_free(j->host);
	pl_free(j->user);
	pl_free(j->arg);
	pl_roster_item_clear(&j->item);
	pl_store_free_strv(j->strv, j->n);
	pl_store_free_items(j->items, j->n);
	memset(&j->creds, 0, sizeof j->creds);
	pl_free(j);
}

/* ---- the store thread ---- */

/* Runs the job's backend call; results go into the job. */
static void job_run(pl_store *s, store_job *j)
{
	const pl_store_backend *be = s->be;
	switch (j->op) {
	case OP_ACCOUNT_GET:
		j->status = be->account_get(s->db, j->host, j->user, &j->creds);
		break;
	case OP_ACCOUNT_CREATE:
		j->status = be->account_create(s->db, j->host, j->user, &j->creds);
		break;
	case OP_ACCOUNT_SET_CREDS:
		j->status = be->account_set_creds(s->db, j->host, j->user, &j->creds);
		break;
	case OP_ACCOUNT_DELETE:
		j->status = be->account_delete(s->db, j->host, j->user);
		break;
	case OP_ACCOUNT_LIST:
		j->status = be->account_list(s->db, j->host, &j->strv, &j->n);
		break;
	case OP_ROSTER_GET:
		j->status = be->roster_get(s->db, j->host, j->user, &j->items, &j->n, &j->version);
		break;
	case OP_ROSTER_PUT:
		j->status = be->roster_put(s->db, j->host, j->user, &j->item);
		break;
	case OP_ROSTER_DELETE:
		j->status = be->roster_delete(s->db, j->host, j->user, j->arg);
		break;
	case OP_OFFLINE_PUSH:
		j->status = be->offline_push(s->db, j->host, j->user, j->arg, j->max);
		break;
	case OP_OFFLINE_TAKE:
		j->status = be->offline_take(s->db, j->host, j->user, &j->strv, &j->n);
		break;
	}
}

static void store_thread(void *arg)
{
	pl_store *s = arg;
	uv_mutex_lock(&s->mu);
	for (;;) {
		while (!s->queue_head && !s->stop)
			uv_cond_wait(&s->work_cond, &s->mu);
		if (!s->queue_head) break; /* stop requested and nothing left */
		store_job *j = s->queue_head;
		s->queue_head = j->next;
		if (!s->queue_head) s->queue_tail = NULL;
		j->next = NULL;
		s->running = 1;
		uv_mutex_unlock(&s->mu);

		job_run(s, j);

		uv_mutex_lock(&s->mu);
		s->running = 0;
		if (s->done_tail)
			s->done_tail->next = j;
		else
			s->done_head = j;
		s->done_tail = j;
		uv_cond_broadcast(&s->idle_cond);
		uv_async_send(&s->async);
	}
	uv_mutex_unlock(&s->mu);
}

/* ---- the loop side ---- */

static void job_callback(store_job *j)
{
	if (!j->cb) return;
	switch (j->op) {
	case OP_ACCOUNT_GET:
		((pl_store_creds_cb)j->cb)(j->ud, j->status, j->status == 0 ? &j->creds : NULL);
		break;
	case OP_ACCOUNT_LIST:
		((pl_store_list_cb)j->cb)(j->ud, j->status, (const char *const *)j->strv, j->n);
		break;
	case OP_ROSTER_GET:
		((pl_store_roster_cb)j->cb)(j->ud, j->status, j->items, j->n, j->version);
		break;
	case OP_OFFLINE_TAKE:
		((pl_store_offline_cb)j->cb)(j->ud, j->status, (const char *const *)j->strv, j->n);
		break;
	default:
		((pl_store_done_cb)j->cb)(j->ud, j->status);
		break;
	}
}

/* Runs the callbacks of finished jobs, oldest first, one job at a time so that a callback may submit
 * more work or close the store. */
static void run_done(pl_store *s)
{
	int was = s->dispatching;
	s->dispatching = 1;
	while (!s->closed) { /* a callback may close the store: then s->mu is gone */
		uv_mutex_lock(&s->mu);
		store_job *j = s->done_head;
		if (j) {
			s->done_head = j->next;
			if (!s->done_head) s->done_tail = NULL;
		}
		uv_mutex_unlock(&s->mu);
		if (!j) break;
		job_callback(j);
		job_free(j);
		if (--s->inflight == 0 && !s->closed) uv_unref((uv_handle_t *)&s->async);
	}
	s->dispatching = was;
}

static void on_async(uv_async_t *a)
{
	pl_store *s = a->data;
	if (s->closed) return;
	run_done(s);
}

static int submit(pl_store *s, store_job *j)
{
	if (s->closed) {
		job_free(j);
		return PL_ECLOSED;
	}
	if (s->inflight >= STORE_MAX_JOBS) {
		PL_WARN(0, "store: %d operations already queued, refusing more", STORE_MAX_JOBS);
		job_free(j);
		return PL_ELIMIT;
	}
	if (s->inflight++ == 0 && !s->closed) uv_ref((uv_handle_t *)&s->async);
	uv_mutex_lock(&s->mu);
	if (s->queue_tail)
		s->queue_tail->next = j;
	else
		s->queue_head = j;
	s->queue_tail = j;
	uv_cond_signal(&s->work_cond);
	uv_mutex_unlock(&s->mu);
	return 0;
}

static store_job *job_new(enum job_op op, const char *host, const char *user, void (*cb)(void), void *ud)
{
	store_job *j = PL_NEW(store_job);
	j->op = op;
	j->host = pl_strdup(host);
	j->user = pl_strdup(user);
	j->cb = cb;
	j->ud = ud;
	return j;
}

/* ---- open / close ---- */

static void on_closed(uv_handle_t *h)
{
	pl_store *s = h->data;
	if (s->closed_flag) *s->closed_flag = 1;
	pl_free(s);
}

int pl_store_open(uv_loop_t *loop, const char *backend, const char *path_or_dsn, pl_store **out, char *err,
                  size_t errlen)
{
	*out = NULL;
	if (errlen) err[0] = '\0';
	const pl_store_backend *be = NULL;
	for (size_t i = 0; backend && i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->name, backend) == 0) be = backends[i];
	if (!be) {
		snprintf(err, errlen, "unknown store backend '%s' (known: sqlite)", backend ? backend : "");
		return PL_EINVAL;
	}
	if (!path_or_dsn || !*path_or_dsn) {
		snprintf(err, errlen, "store %s: no database path or DSN given", be->name);
		return PL_EINVAL;
	}
	void *db = NULL;
	int rc = be->open(path_or_dsn, &db, err, errlen);
	if (rc != 0) return rc;

	pl_store *s = PL_NEW(pl_store);
	s->loop = loop;
	s->be = be;
	s->db = db;
	s->schema_version = be->schema_version(db);
	if (uv_mutex_init(&s->mu) != 0 || uv_cond_init(&s->work_cond) != 0 ||
	    uv_cond_init(&s->idle_cond) != 0)
		abort(); /* only fails on resource exhaustion, like an allocation */
	if (uv_async_init(loop, &s->async, on_async) != 0) {
		snprintf(err, errlen, "store: cannot create the loop wake-up handle");
		goto fail;
	}
	s->async.data = s;
	uv_unref((uv_handle_t *)&s->async);
	if (uv_thread_create(&s->thread, store_thread, s) != 0) {
		snprintf(err, errlen, "store: cannot start the store thread");
		uv_cond_destroy(&s->idle_cond);
		uv_cond_destroy(&s->work_cond);
		uv_mutex_destroy(&s->mu);
		be->close(db);
		uv_close((uv_handle_t *)&s->async, on_closed); /* frees s on the loop's next turn */
		return PL_ESTORE;
	}
	PL_INFO(0, "store: %s opened (%s, schema version %d)", be->name, path_or_dsn, s->schema_version);
	*out = s;
	return 0;
fail:
	uv_cond_destroy(&s->idle_cond);
	uv_cond_destroy(&s->work_cond);
	uv_mutex_destroy(&s->mu);
	be->close(db);
	pl_free(s);
	return PL_ESTORE;
}

/* Counts the loop's handles, other than skip, that are not closing. */
static void count_open(uv_handle_t *h, void *arg)
{
	void **a = arg;
	if (h != a[0] && !uv_is_closing(h)) ++*(size_t *)a[1];
}

/* True if nothing but the store's own handle could produce a callback, i.e. the caller is a command-line
 * tool that runs the loop only to wait for store operations: then running the loop here cannot call back
 * into anyone else's code at an unexpected time. */
static int loop_is_ours_only(pl_store *s)
{
	size_t n = 0;
	void *a[2] = {&s->async, &n};
	uv_walk(s->loop, count_open, a);
	return n == 0 && s->loop->active_reqs.count == 0;
}

void pl_store_close(pl_store *s)
{
	if (!s || s->closed) return;
	/* finish every queued job; callbacks may queue more, which are finished too */
	uv_mutex_lock(&s->mu);
	for (;;) {
		while (s->queue_head || s->running)
			uv_cond_wait(&s->idle_cond, &s->mu);
		if (!s->done_head) break;
		uv_mutex_unlock(&s->mu);
		run_done(s);
		uv_mutex_lock(&s->mu);
	}
	s->closed = 1;
	s->stop = 1;
	uv_cond_signal(&s->work_cond);
	uv_mutex_unlock(&s->mu);
	uv_thread_join(&s->thread);

	s->be->close(s->db);
	s->db = NULL;
	uv_cond_destroy(&s->idle_cond);
	uv_cond_destroy(&s->work_cond);
	uv_mutex_destroy(&s->mu);
	PL_INFO(0, "store: %s closed", s->be->name);

	int closed = 0;
	int wait_here = !s->dispatching && loop_is_ours_only(s);
	if (wait_here) s->closed_flag = &closed;
	uv_close((uv_handle_t *)&s->async, on_closed);
	/* With the loop idle and no other handle, finish the close now so uv_loop_close can follow;
	 * otherwise the running loop closes the handle at the end of its current iteration. */
	while (wait_here && !closed)
		uv_run(s->loop, UV_RUN_NOWAIT);
}

int pl_store_schema_version(pl_store *s)
{
	return s->schema_version;
}

/* ---- operations ---- */

#define CHECK_ARGS(s, host, user)                                                                            \
	do {                                                                                                 \
		if (!(s) || !(host) || !(user)) return PL_EINVAL;                                            \
	} while (0)

int pl_store_account_get(pl_store *s, const char *host, const char *user, pl_store_creds_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	return submit(s, job_new(OP_ACCOUNT_GET, host, user, (void (*)(void))cb, ud));
}

static int creds_ok(const pl_sasl_creds *c)
{
	return c && c->salt_len <= sizeof c->salt && c->sha1.key_len <= sizeof c->sha1.stored_key &&
	       c->sha256.key_len <= sizeof c->sha256.stored_key;
}

int pl_store_account_create(pl_store *s, const char *host, const char *user, const pl_sasl_creds *c,
                            pl_store_done_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	if (!creds_ok(c)) return PL_EINVAL;
	store_job *j = job_new(OP_ACCOUNT_CREATE, host, user, (void (*)(void))cb, ud);
	j->creds = *c;
	return submit(s, j);
}

int pl_store_account_set_creds(pl_store *s, const char *host, const char *user, const pl_sasl_creds *c,
                               pl_store_done_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	if (!creds_ok(c)) return PL_EINVAL;
	store_job *j = job_new(OP_ACCOUNT_SET_CREDS, host, user, (void (*)(void))cb, ud);
	j->creds = *c;
	return submit(s, j);
}

int pl_store_account_delete(pl_store *s, const char *host, const char *user, pl_store_done_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	return submit(s, job_new(OP_ACCOUNT_DELETE, host, user, (void (*)(void))cb, ud));
}

int pl_store_account_list(pl_store *s, const char *host, pl_store_list_cb cb, void *ud)
{
	CHECK_ARGS(s, host, "");
	return submit(s, job_new(OP_ACCOUNT_LIST, host, NULL, (void (*)(void))cb, ud));
}

int pl_store_roster_get(pl_store *s, const char *host, const char *user, pl_store_roster_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	return submit(s, job_new(OP_ROSTER_GET, host, user, (void (*)(void))cb, ud));
}

int pl_store_roster_put(pl_store *s, const char *host, const char *user, const pl_roster_item *item,
                        pl_store_done_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	if (!item || !item->jid || (item->ngroups && !item->groups)) return PL_EINVAL;
	for (size_t i = 0; i < item->ngroups; i++)
		if (!item->groups[i]) return PL_EINVAL;
	store_job *j = job_new(OP_ROSTER_PUT, host, user, (void (*)(void))cb, ud);
	pl_roster_item_copy(item, &j->item);
	return submit(s, j);
}

int pl_store_roster_delete(pl_store *s, const char *host, const char *user, const char *jid,
                           pl_store_done_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	if (!jid) return PL_EINVAL;
	store_job *j = job_new(OP_ROSTER_DELETE, host, user, (void (*)(void))cb, ud);
	j->arg = pl_strdup(jid);
	return submit(s, j);
}

int pl_store_offline_push(pl_store *s, const char *host, const char *user, const char *stanza, int max,
                          pl_store_done_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	if (!stanza) return PL_EINVAL;
	store_job *j = job_new(OP_OFFLINE_PUSH, host, user, (void (*)(void))cb, ud);
	j->arg = pl_strdup(stanza);
	j->max = max;
	return submit(s, j);
}

int pl_store_offline_take(pl_store *s, const char *host, const char *user, pl_store_offline_cb cb, void *ud)
{
	CHECK_ARGS(s, host, user);
	return submit(s, job_new(OP_OFFLINE_TAKE, host, user, (void (*)(void))cb, ud));
}
