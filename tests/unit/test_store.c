/* test_store.c: unit tests for src/store/ (store.c and the SQLite backend): accounts (create, get,
 * duplicate, set_creds, delete, sorted list), rosters (put, replace, delete, versions, unicode groups),
 * offline messages (order, limit, take empties), account deletion cascading, persistence and schema
 * migrations across reopen, callback order over a long mixed sequence, the queue limit, close draining
 * the queue (outside the loop and from a loop callback), and open errors. Each test works on a fresh
 * database in a directory made with mkdtemp under /tmp, and runs a private uv loop until its callbacks
 * have fired (with a 10 s guard timer so a lost callback fails instead of hanging). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"
#include "store/store_backend.h"

typedef struct fixture {
	char dir[64];
	char path[128];
	uv_loop_t loop;
	pl_store *s;
} fixture;

/* What a callback saw; results are deep-copied so they outlive the callback. */
typedef struct result {
	int fired;
	int status;
	int have_creds;
	pl_sasl_creds creds;
	char **strv;
	size_t n;
	pl_roster_item *items;
	long long version;
} result;

static void result_clear(result *r)
{
	pl_store_free_strv(r->strv, r->n);
	if (r->items) {
		for (size_t i = 0; i < r->n; i++)
			pl_roster_item_clear(&r->items[i]);
		free(r->items);
	}
	memset(r, 0, sizeof *r);
}

/* ---- running the loop ---- */

static void guard_fired(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

static void guard_closed(uv_handle_t *h)
{
	*(int *)h->data = 1;
}

/* Runs the loop until *counter reaches target; fails after 10 s. Leaves no handle of its own behind. */
static void run_until_n(uv_loop_t *loop, const int *counter, int target)
{
	int expired = 0, closed = 0;
	uv_timer_t guard;
	uv_timer_init(loop, &guard);
	guard.data = &expired;
	uv_timer_start(&guard, guard_fired, 10000, 0);
	while (*counter < target && !expired)
		uv_run(loop, UV_RUN_ONCE);
	guard.data = &closed;
	uv_close((uv_handle_t *)&guard, guard_closed);
	while (!closed)
		uv_run(loop, UV_RUN_NOWAIT);
	assert_false(expired);
}

static void run_until(uv_loop_t *loop, const int *flag)
{
	run_until_n(loop, flag, 1);
}

/* ---- callbacks ---- */

static void on_done(void *ud, int status)
{
	result *r = ud;
	r->fired++;
	r->status = status;
}

static void on_creds(void *ud, int status, const pl_sasl_creds *c)
{
	result *r = ud;
	r->fired++;
	r->status = status;
	r->have_creds = c != NULL;
	if (c) r->creds = *c;
}

static void copy_strv(result *r, const char *const *v, size_t n)
{
	r->n = n;
	r->strv = n ? pl_calloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++)
		r->strv[i] = pl_strdup(v[i]);
}

static void on_list(void *ud, int status, const char *const *names, size_t n)
{
	result *r = ud;
	r->fired++;
	r->status = status;
	copy_strv(r, names, n);
}

static void on_offline(void *ud, int status, const char *const *stanzas, size_t n)
{
	on_list(ud, status, stanzas, n);
}

static void on_roster(void *ud, int status, const pl_roster_item *items, size_t n, long long version)
{
	result *r = ud;
	r->fired++;
	r->status = status;
	r->version = version;
	r->n = n;
	r->items = n ? pl_calloc(n, sizeof *r->items) : NULL;
	for (size_t i = 0; i < n; i++)
		pl_roster_item_copy(&items[i], &r->items[i]);
}

/* ---- synchronous wrappers: submit, run the loop, return the callback's status ---- */

static int acct_create(fixture *f, const char *host, const char *user, const pl_sasl_creds *c)
{
	result r = {0};
	assert_int_equal(pl_store_account_create(f->s, host, user, c, on_done, &r), 0);
	run_until(&f->loop, &r.fired);
	assert_int_equal(r.fired, 1);
	return r.status;
}

static int acct_set(fixture *f, const char *host, const char *user, const pl_sasl_creds *c)
{
	result r = {0};
	assert_int_equal(pl_store_account_set_creds(f->s, host, user, c, on_done, &r), 0);
	run_until(&f->loop, &r.fired);
	return r.status;
}

static int acct_delete(fixture *f, const char *host, const char *user)
{
	result r = {0};
	assert_int_equal(pl_store_account_delete(f->s, host, user, on_done, &r), 0);
	run_until(&f->loop, &r.fired);
	return r.status;
}

static int acct_get(fixture *f, const char *host, const char *user, pl_sasl_creds *out)
{
	result r = {0};
	assert_int_equal(pl_store_account_get(f->s, host, user, on_creds, &r), 0);
	run_until(&f->loop, &r.fired);
	assert_int_equal(r.have_creds, r.status == 0);
	if (out) *out = r.creds;
	return r.status;
}

static void acct_list(fixture *f, const char *host, result *r)
{
	assert_int_equal(pl_store_account_list(f->s, host, on_list, r), 0);
	run_until(&f->loop, &r->fired);
	assert_int_equal(r->status, 0);
}

static int roster_put(fixture *f, const char *user, const pl_roster_item *it)
{
	result r = {0};
	assert_int_equal(pl_store_roster_put(f->s, "example.org", user, it, on_done, &r), 0);
	run_until(&f->loop, &r.fired);
	return r.status;
}

static int roster_del(fixture *f, const char *user, const char *jid)
{
	result r = {0};
	assert_int_equal(pl_store_roster_delete(f->s, "example.org", user, jid, on_done, &r), 0);
	run_until(&f->loop, &r.fired);
	return r.status;
}

static void roster_get(fixture *f, const char *user, result *r)
{
	assert_int_equal(pl_store_roster_get(f->s, "example.org", user, on_roster, r), 0);
	run_until(&f->loop, &r->fired);
	assert_int_equal(r->status, 0);
}

static int off_push(fixture *f, const char *user, const char *stanza, int max)
{
	result r = {0};
	assert_int_equal(pl_store_offline_push(f->s, "example.org", user, stanza, max, on_done, &r), 0);
	run_until(&f->loop, &r.fired);
	return r.status;
}

static void off_take(fixture *f, const char *user, result *r)
{
	assert_int_equal(pl_store_offline_take(f->s, "example.org", user, on_offline, r), 0);
	run_until(&f->loop, &r->fired);
	assert_int_equal(r->status, 0);
}

/* Deterministic credentials; `seed` changes every byte. */
static pl_sasl_creds make_creds(int seed)
{
	pl_sasl_creds c;
	memset(&c, 0, sizeof c);
	c.salt_len = 16;
	for (size_t i = 0; i < c.salt_len; i++)
		c.salt[i] = (unsigned char)(seed * 7 + i);
	c.iterations = 4096 + seed;
	c.sha1.key_len = 20;
	c.sha256.key_len = 32;
	for (size_t i = 0; i < 32; i++) {
		if (i < 20) {
			c.sha1.stored_key[i] = (unsigned char)(seed + i);
			c.sha1.server_key[i] = (unsigned char)(seed + 2 * i);
		}
		c.sha256.stored_key[i] = (unsigned char)(seed + 3 * i);
		c.sha256.server_key[i] = (unsigned char)(seed + 5 * i + 1);
	}
	return c;
}

static void assert_creds_equal(const pl_sasl_creds *a, const pl_sasl_creds *b)
{
	assert_int_equal(a->salt_len, b->salt_len);
	assert_memory_equal(a->salt, b->salt, a->salt_len);
	assert_int_equal(a->iterations, b->iterations);
	assert_int_equal(a->sha1.key_len, b->sha1.key_len);
	assert_memory_equal(a->sha1.stored_key, b->sha1.stored_key, a->sha1.key_len);
	assert_memory_equal(a->sha1.server_key, b->sha1.server_key, a->sha1.key_len);
	assert_int_equal(a->sha256.key_len, b->sha256.key_len);
	assert_memory_equal(a->sha256.stored_key, b->sha256.stored_key, a->sha256.key_len);
	assert_memory_equal(a->sha256.server_key, b->sha256.server_key, a->sha256.key_len);
}

/* ---- fixture ---- */

static void open_store(fixture *f)
{
	char err[256] = "x";
	int rc = pl_store_open(&f->loop, "sqlite", f->path, &f->s, err, sizeof err);
	if (rc != 0) fail_msg("open %s: %s", f->path, err);
	assert_non_null(f->s);
}

/* Closes the store outside the loop; the loop must then have no handle left (parleyctl's pattern). */
static void close_store(fixture *f)
{
	pl_store_close(f->s);
	f->s = NULL;
	assert_int_equal(uv_loop_alive(&f->loop), 0);
}

static int setup(void **state)
{
	fixture *f = PL_NEW(fixture);
	snprintf(f->dir, sizeof f->dir, "/tmp/parley-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* two directory levels that do not exist yet: open creates them */
	snprintf(f->path, sizeof f->path, "%s/data/db/parley.db", f->dir);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	open_store(f);
	struct stat sb;
	char sub[128];
	snprintf(sub, sizeof sub, "%s/data/db", f->dir);
	assert_int_equal(stat(sub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0750);
	*state = f;
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int teardown(void **state)
{
	fixture *f = *state;
	if (f->s) close_store(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- accounts ---- */

static void test_accounts(void **state)
{
	fixture *f = *state;
	pl_sasl_creds c1 = make_creds(1), c2 = make_creds(2), got;

	assert_int_equal(acct_get(f, "example.org", "alice", &got), PL_ENOTFOUND);
	assert_int_equal(acct_create(f, "example.org", "alice", &c1), 0);
	assert_int_equal(acct_get(f, "example.org", "alice", &got), 0);
	assert_creds_equal(&got, &c1);
	/* same user on another host is another account */
	assert_int_equal(acct_get(f, "other.org", "alice", &got), PL_ENOTFOUND);

	assert_int_equal(acct_create(f, "example.org", "alice", &c2), PL_EEXIST);
	assert_int_equal(acct_get(f, "example.org", "alice", &got), 0);
	assert_creds_equal(&got, &c1); /* the failed create changed nothing */

	assert_int_equal(acct_set(f, "example.org", "alice", &c2), 0);
	assert_int_equal(acct_get(f, "example.org", "alice", &got), 0);
	assert_creds_equal(&got, &c2);
	assert_int_equal(acct_set(f, "example.org", "bob", &c2), PL_ENOTFOUND);
	assert_int_equal(acct_get(f, "example.org", "bob", &got), PL_ENOTFOUND);

	/* credentials with only SHA-256 keys and a short salt round-trip too */
	pl_sasl_creds c3 = make_creds(3);
	c3.sha1.key_len = 0;
	c3.salt_len = 8;
	assert_int_equal(acct_create(f, "example.org", "carol", &c3), 0);
	assert_int_equal(acct_get(f, "example.org", "carol", &got), 0);
	assert_creds_equal(&got, &c3);

	assert_int_equal(acct_delete(f, "example.org", "bob"), PL_ENOTFOUND);
	assert_int_equal(acct_delete(f, "example.org", "alice"), 0);
	assert_int_equal(acct_get(f, "example.org", "alice", &got), PL_ENOTFOUND);
	assert_int_equal(acct_delete(f, "example.org", "alice"), PL_ENOTFOUND);
	/* deleted name can be created again */
	assert_int_equal(acct_create(f, "example.org", "alice", &c1), 0);

	/* invalid arguments are refused before queueing */
	assert_int_equal(pl_store_account_get(f->s, NULL, "x", on_creds, NULL), PL_EINVAL);
	pl_sasl_creds bad = make_creds(4);
	bad.salt_len = 33;
	assert_int_equal(pl_store_account_create(f->s, "example.org", "x", &bad, on_done, NULL), PL_EINVAL);
}

static void test_account_list(void **state)
{
	fixture *f = *state;
	pl_sasl_creds c = make_creds(5);
	result r = {0};
	acct_list(f, "example.org", &r);
	assert_int_equal(r.n, 0);
	result_clear(&r);

	const char *users[] = {"zed", "mike", "alice", "bob", "ålesund", "0day"};
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(acct_create(f, "example.org", users[i], &c), 0);
	assert_int_equal(acct_create(f, "other.org", "aaron", &c), 0);

	acct_list(f, "example.org", &r);
	const char *want[] = {"0day", "alice", "bob", "mike", "zed", "ålesund"}; /* byte order */
	assert_int_equal(r.n, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(r.strv[i], want[i]);
	result_clear(&r);

	assert_int_equal(acct_delete(f, "example.org", "bob"), 0);
	acct_list(f, "example.org", &r);
	assert_int_equal(r.n, 5);
	assert_string_equal(r.strv[1], "alice");
	assert_string_equal(r.strv[2], "mike");
	result_clear(&r);

	acct_list(f, "other.org", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.strv[0], "aaron");
	result_clear(&r);
}

/* ---- rosters ---- */

static const pl_roster_item *find_item(const result *r, const char *jid)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->items[i].jid, jid) == 0) return &r->items[i];
	return NULL;
}

static void test_roster(void **state)
{
	fixture *f = *state;
	result r = {0};
	roster_get(f, "alice", &r);
	assert_int_equal(r.n, 0);
	assert_null(r.items);
	assert_int_equal(r.version, 0);
	result_clear(&r);

	char *groups_a[] = {"Friends", "Ünïcødé 日本語 🎉", "with \"quotes\" and \\ and [brackets]"};
	pl_roster_item a = {.jid = "bob@example.org",
	                    .name = "Bob “the builder”",
	                    .subscription = PL_SUB_TO,
	                    .ask = 0,
	                    .pending_in = 1,
	                    .groups = groups_a,
	                    .ngroups = 3};
	pl_roster_item b = {.jid = "carol@example.net", .name = NULL, .subscription = PL_SUB_NONE, .ask = 1};
	assert_int_equal(roster_put(f, "alice", &a), 0);
	roster_get(f, "alice", &r);
	assert_int_equal(r.version, 1);
	result_clear(&r);
	assert_int_equal(roster_put(f, "alice", &b), 0);

	roster_get(f, "alice", &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.version, 2);
	const pl_roster_item *ga = find_item(&r, "bob@example.org");
	assert_non_null(ga);
	assert_string_equal(ga->name, a.name);
	assert_int_equal(ga->subscription, PL_SUB_TO);
	assert_int_equal(ga->ask, 0);
	assert_int_equal(ga->pending_in, 1);
	assert_int_equal(ga->ngroups, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(ga->groups[i], groups_a[i]);
	const pl_roster_item *gb = find_item(&r, "carol@example.net");
	assert_non_null(gb);
	assert_null(gb->name);
	assert_int_equal(gb->ask, 1);
	assert_int_equal(gb->ngroups, 0);
	result_clear(&r);

	/* replace: same jid, every field changed; still two items */
	char *groups_a2[] = {"Ωmega"};
	pl_roster_item a2 = {.jid = "bob@example.org",
	                     .name = NULL,
	                     .subscription = PL_SUB_BOTH,
	                     .ask = 1,
	                     .pending_in = 0,
	                     .groups = groups_a2,
	                     .ngroups = 1};
	assert_int_equal(roster_put(f, "alice", &a2), 0);
	roster_get(f, "alice", &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.version, 3);
	ga = find_item(&r, "bob@example.org");
	assert_null(ga->name);
	assert_int_equal(ga->subscription, PL_SUB_BOTH);
	assert_int_equal(ga->ask, 1);
	assert_int_equal(ga->pending_in, 0);
	assert_int_equal(ga->ngroups, 1);
	assert_string_equal(ga->groups[0], "Ωmega");
	result_clear(&r);

	/* another user's roster is separate */
	roster_get(f, "bob", &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.version, 0);
	result_clear(&r);

	assert_int_equal(roster_del(f, "alice", "carol@example.net"), 0);
	assert_int_equal(roster_del(f, "alice", "carol@example.net"), PL_ENOTFOUND);
	assert_int_equal(roster_del(f, "alice", "nobody@example.net"), PL_ENOTFOUND);
	roster_get(f, "alice", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.version, 4); /* the failed deletes did not bump it */
	assert_string_equal(r.items[0].jid, "bob@example.org");
	result_clear(&r);

	/* a group that is not UTF-8 cannot be stored as JSON: refused, nothing changes */
	char *bad_groups[] = {"\xff\xfe"};
	pl_roster_item bad = {.jid = "dave@example.org", .groups = bad_groups, .ngroups = 1};
	assert_int_equal(roster_put(f, "alice", &bad), PL_EINVAL);
	roster_get(f, "alice", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.version, 4);
	result_clear(&r);

	pl_roster_item nojid = {0};
	assert_int_equal(pl_store_roster_put(f->s, "example.org", "alice", &nojid, on_done, NULL), PL_EINVAL);
}

static void test_roster_item_copy(void **state)
{
	char *groups[] = {"a", "béta"};
	pl_roster_item src = {.jid = "x@y",
	                      .name = "X",
	                      .subscription = PL_SUB_FROM,
	                      .ask = 1,
	                      .pending_in = 1,
	                      .groups = groups,
	                      .ngroups = 2};
	pl_roster_item dst;
	pl_roster_item_copy(&src, &dst);
	assert_ptr_not_equal(dst.jid, src.jid);
	assert_string_equal(dst.jid, "x@y");
	assert_string_equal(dst.name, "X");
	assert_int_equal(dst.subscription, PL_SUB_FROM);
	assert_int_equal(dst.ask, 1);
	assert_int_equal(dst.pending_in, 1);
	assert_int_equal(dst.ngroups, 2);
	assert_ptr_not_equal(dst.groups, src.groups);
	assert_ptr_not_equal(dst.groups[1], groups[1]);
	assert_string_equal(dst.groups[1], "béta");
	pl_roster_item_clear(&dst);
	assert_null(dst.jid);
	assert_null(dst.groups);
	assert_int_equal(dst.ngroups, 0);

	pl_roster_item empty = {.jid = "z@y"};
	pl_roster_item_copy(&empty, &dst);
	assert_null(dst.name);
	assert_null(dst.groups);
	pl_roster_item_clear(&dst);
	pl_roster_item_clear(&dst); /* clearing twice is harmless */
}

/* ---- offline ---- */

static void test_offline(void **state)
{
	fixture *f = *state;
	result r = {0};
	off_take(f, "alice", &r);
	assert_int_equal(r.n, 0);
	result_clear(&r);

	assert_int_equal(off_push(f, "alice", "<message id='1'>é</message>", 3), 0);
	assert_int_equal(off_push(f, "bob", "<message id='b'/>", 3), 0);
	assert_int_equal(off_push(f, "alice", "<message id='2'/>", 3), 0);
	assert_int_equal(off_push(f, "alice", "<message id='3'/>", 3), 0);
	assert_int_equal(off_push(f, "alice", "<message id='4'/>", 3), PL_ELIMIT);
	assert_int_equal(off_push(f, "alice", "<message id='4'/>", 4), 0);

	off_take(f, "alice", &r);
	assert_int_equal(r.n, 4);
	assert_string_equal(r.strv[0], "<message id='1'>é</message>");
	assert_string_equal(r.strv[1], "<message id='2'/>");
	assert_string_equal(r.strv[2], "<message id='3'/>");
	assert_string_equal(r.strv[3], "<message id='4'/>");
	result_clear(&r);

	off_take(f, "alice", &r);
	assert_int_equal(r.n, 0);
	result_clear(&r);

	/* the queue is free again after a take; bob's message was untouched */
	assert_int_equal(off_push(f, "alice", "<message id='5'/>", 1), 0);
	assert_int_equal(off_push(f, "alice", "<message id='6'/>", 1), PL_ELIMIT);
	off_take(f, "bob", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.strv[0], "<message id='b'/>");
	result_clear(&r);
	off_take(f, "alice", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.strv[0], "<message id='5'/>");
	result_clear(&r);
}

/* ---- cascades, persistence, migrations ---- */

static void fill_user(fixture *f, const char *user)
{
	pl_sasl_creds c = make_creds(9);
	char *groups[] = {"G"};
	pl_roster_item it = {.jid = "friend@example.org", .name = "F", .groups = groups, .ngroups = 1};
	assert_int_equal(acct_create(f, "example.org", user, &c), 0);
	assert_int_equal(roster_put(f, user, &it), 0);
	assert_int_equal(off_push(f, user, "<message/>", 10), 0);
}

static void test_delete_cascades(void **state)
{
	fixture *f = *state;
	fill_user(f, "alice");
	fill_user(f, "bob");
	assert_int_equal(acct_delete(f, "example.org", "alice"), 0);

	result r = {0};
	roster_get(f, "alice", &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.version, 0); /* the version row went too */
	result_clear(&r);
	off_take(f, "alice", &r);
	assert_int_equal(r.n, 0);
	result_clear(&r);

	/* bob is untouched */
	assert_int_equal(acct_get(f, "example.org", "bob", NULL), 0);
	roster_get(f, "bob", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.version, 1);
	result_clear(&r);
	off_take(f, "bob", &r);
	assert_int_equal(r.n, 1);
	result_clear(&r);
}

/* Runs one SQL statement on the database file directly; returns the integer of the first row or -1. */
static int sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	int rc = sqlite3_step(st);
	assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
	int v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_persist_reopen(void **state)
{
	fixture *f = *state;
	int latest = pl_store_sqlite_latest_version();
	assert_true(latest >= 2);
	assert_int_equal(pl_store_schema_version(f->s), latest);
	fill_user(f, "alice");
	close_store(f);

	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), latest);
	/* WAL is recorded in the file header: read and write format versions 2 (bytes 18, 19) */
	unsigned char hdr[20];
	FILE *fp = fopen(f->path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(hdr, 1, sizeof hdr, fp), sizeof hdr);
	fclose(fp);
	assert_int_equal(hdr[18], 2);
	assert_int_equal(hdr[19], 2);
	open_store(f);
	assert_int_equal(pl_store_schema_version(f->s), latest);
	pl_sasl_creds got, want = make_creds(9);
	assert_int_equal(acct_get(f, "example.org", "alice", &got), 0);
	assert_creds_equal(&got, &want);
	result r = {0};
	roster_get(f, "alice", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.version, 1);
	assert_string_equal(r.items[0].groups[0], "G");
	result_clear(&r);
	close_store(f);

	/* reopening again applies nothing: same version, one offline index, data still there */
	open_store(f);
	assert_int_equal(pl_store_schema_version(f->s), latest);
	off_take(f, "alice", &r);
	assert_int_equal(r.n, 1);
	result_clear(&r);
	close_store(f);
	assert_int_equal(
	    sql_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'offline_by_user'"), 1);
}

static void test_migrations(void **state)
{
	fixture *f = *state;
	int latest = pl_store_sqlite_latest_version();
	fill_user(f, "alice");
	close_store(f);

	/* roll the database back to version 1 (as an older parley left it): only step 2 must run */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "DROP INDEX offline_by_user; PRAGMA user_version = 1", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	open_store(f);
	assert_int_equal(pl_store_schema_version(f->s), latest);
	assert_int_equal(acct_get(f, "example.org", "alice", NULL), 0); /* step 1 did not run again */
	close_store(f);
	assert_int_equal(
	    sql_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'offline_by_user'"), 1);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), latest);

	/* a schema newer than this build knows is refused */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	char err[256] = "";
	pl_store *s = (pl_store *)0x1;
	assert_int_equal(pl_store_open(&f->loop, "sqlite", f->path, &s, err, sizeof err), PL_ESTORE);
	assert_null(s);
	assert_non_null(strstr(err, "999"));

	/* a failing step is rolled back: the version stays where it was */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db); /* the index still exists, so step 2 (CREATE INDEX) fails */
	assert_int_equal(pl_store_open(&f->loop, "sqlite", f->path, &s, err, sizeof err), PL_ESTORE);
	assert_non_null(strstr(err, "version 2"));
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 1);
}

/* ---- ordering, limits, close ---- */

typedef struct order_state {
	int next;     /* index the next callback must carry */
	int bad;      /* callbacks out of order or with a wrong result */
	int versions; /* roster puts submitted before each get, to check the get saw them */
} order_state;

typedef struct order_op {
	order_state *st;
	int index;
	int expect_status;
	long long expect_version; /* roster gets */
	size_t expect_n;          /* offline takes */
} order_op;

static void order_check(order_op *op, int status)
{
	if (op->index != op->st->next || status != op->expect_status) op->st->bad++;
	op->st->next++;
}

static void order_done(void *ud, int status)
{
	order_check(ud, status);
}

static void order_roster(void *ud, int status, const pl_roster_item *items, size_t n, long long version)
{
	order_op *op = ud;
	if (version != op->expect_version) op->st->bad++;
	order_check(op, status);
}

static void order_offline(void *ud, int status, const char *const *stanzas, size_t n)
{
	order_op *op = ud;
	if (n != op->expect_n) op->st->bad++;
	for (size_t i = 0; i < n; i++)
		if (atoi(stanzas[i]) != op->index - (int)(n - i))
			op->st->bad++; /* pushed just before, in order */
	order_check(op, status);
}

static void order_creds(void *ud, int status, const pl_sasl_creds *c)
{
	order_check(ud, status);
}

static void test_callback_order(void **state)
{
	fixture *f = *state;
	enum { N = 1000 };
	order_state st = {0};
	order_op *ops = calloc(N, sizeof *ops);
	pl_sasl_creds c = make_creds(1);
	long long version = 0;
	size_t pending_off = 0;
	int have_account = 0;
	char stanza[32];
	for (int i = 0; i < N; i++) {
		order_op *op = &ops[i];
		op->st = &st;
		op->index = i;
		switch (i % 6) {
		case 0: /* put: the version grows */
		{
			char jid[32];
			snprintf(jid, sizeof jid, "c%d@example.org", i % 50);
			pl_roster_item it = {.jid = jid};
			version++;
			assert_int_equal(pl_store_roster_put(f->s, "example.org", "u", &it, order_done, op),
			                 0);
			break;
		}
		case 1: /* get sees every earlier put */
			op->expect_version = version;
			assert_int_equal(pl_store_roster_get(f->s, "example.org", "u", order_roster, op), 0);
			break;
		case 2:
		case 3: /* two pushes, tagged with their index */
			snprintf(stanza, sizeof stanza, "%d", i);
			pending_off++;
			assert_int_equal(
			    pl_store_offline_push(f->s, "example.org", "u", stanza, 1000, order_done, op), 0);
			break;
		case 4: /* take returns exactly the two pushes just before */
			op->expect_n = pending_off;
			pending_off = 0;
			assert_int_equal(pl_store_offline_take(f->s, "example.org", "u", order_offline, op),
			                 0);
			break;
		case 5: /* alternate create / delete of an account, then a get */
			if (i % 12 == 5) {
				op->expect_status = have_account ? PL_EEXIST : 0;
				have_account = 1;
				assert_int_equal(
				    pl_store_account_create(f->s, "example.org", "u", &c, order_done, op), 0);
			} else {
				op->expect_status = PL_ENOTFOUND;
				assert_int_equal(
				    pl_store_account_get(f->s, "example.org", "nobody", order_creds, op), 0);
			}
			break;
		}
	}
	run_until_n(&f->loop, &st.next, N);
	assert_int_equal(st.next, N);
	assert_int_equal(st.bad, 0);
	free(ops);
}

static void count_cb(void *ud, int status, const pl_sasl_creds *c)
{
	(*(int *)ud)++;
}

static void test_queue_limit(void **state)
{
	fixture *f = *state;
	enum { LIMIT = 100000 };
	int count = 0;
	/* without running the loop, nothing is delivered, so every job stays in flight */
	for (int i = 0; i < LIMIT; i++)
		assert_int_equal(pl_store_account_get(f->s, "example.org", "nobody", count_cb, &count), 0);
	assert_int_equal(pl_store_account_get(f->s, "example.org", "nobody", count_cb, &count), PL_ELIMIT);
	assert_int_equal(count, 0);
	run_until_n(&f->loop, &count, LIMIT);
	assert_int_equal(count, LIMIT);
	/* room again */
	result r = {0};
	assert_int_equal(pl_store_account_get(f->s, "example.org", "nobody", on_creds, &r), 0);
	run_until(&f->loop, &r.fired);
	assert_int_equal(r.status, PL_ENOTFOUND);
}

/* A callback that queues one more operation: close must finish that one too. */
static void chain_cb(void *ud, int status)
{
	result *r = ud;
	r->fired++;
	if (r->fired == 1)
		pl_store_offline_push((pl_store *)r->strv, "example.org", "u", "<m/>", 10, chain_cb, r);
}

static void test_close_drains(void **state)
{
	fixture *f = *state;
	result pushes[20] = {{0}}, take = {0}, chain = {0};
	for (int i = 0; i < 20; i++)
		assert_int_equal(
		    pl_store_offline_push(f->s, "example.org", "u", "<m/>", 100, on_done, &pushes[i]), 0);
	assert_int_equal(pl_store_offline_take(f->s, "example.org", "u", on_offline, &take), 0);
	chain.strv = (char **)f->s;
	assert_int_equal(pl_store_offline_push(f->s, "example.org", "u", "<m/>", 100, chain_cb, &chain), 0);
	/* close without having run the loop: every callback runs inside close */
	close_store(f);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(pushes[i].fired, 1);
		assert_int_equal(pushes[i].status, 0);
	}
	assert_int_equal(take.fired, 1);
	assert_int_equal(take.n, 20);
	result_clear(&take);
	assert_int_equal(chain.fired, 2);
	chain.strv = NULL;

	/* the chained push was stored before the close */
	open_store(f);
	off_take(f, "u", &take);
	assert_int_equal(take.n, 2);
	result_clear(&take);
}

/* The daemon's pattern: close from a timer callback while the loop runs, with other handles open. */
typedef struct timer_close {
	fixture *f;
	result *r;
	int closed_in_cb;
} timer_close;

static void close_from_timer(uv_timer_t *t)
{
	timer_close *tc = t->data;
	pl_store_close(tc->f->s);
	tc->f->s = NULL;
	tc->closed_in_cb = tc->r->fired;
	uv_close((uv_handle_t *)t, NULL);
}

static void test_close_in_loop(void **state)
{
	fixture *f = *state;
	result r = {0};
	assert_int_equal(pl_store_offline_push(f->s, "example.org", "u", "<m/>", 10, on_done, &r), 0);
	uv_timer_t t, other;
	timer_close tc = {f, &r, 0};
	uv_timer_init(&f->loop, &t);
	uv_timer_init(&f->loop, &other); /* an open, inactive handle like the daemon's signal watchers */
	t.data = &tc;
	uv_timer_start(&t, close_from_timer, 0, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(tc.closed_in_cb, 1);
	uv_close((uv_handle_t *)&other, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* teardown checks uv_loop_close succeeds: the store's handle was closed by the running loop */
}

/* Close called from inside one of the store's own callbacks. */
static void close_from_store_cb(void *ud, int status)
{
	fixture *f = ud;
	pl_store_close(f->s);
	f->s = NULL;
}

static void test_close_in_callback(void **state)
{
	fixture *f = *state;
	result later = {0};
	assert_int_equal(pl_store_offline_push(f->s, "example.org", "u", "<m/>", 10, close_from_store_cb, f),
	                 0);
	assert_int_equal(pl_store_offline_push(f->s, "example.org", "u", "<m/>", 10, on_done, &later), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_null(f->s);
	assert_int_equal(later.fired, 1); /* drained by the close */
	assert_int_equal(later.status, 0);
}

/* ---- open errors ---- */

static void test_open_errors(void **state)
{
	fixture *f = *state;
	char err[256] = "";
	pl_store *s = (pl_store *)0x1;
	assert_int_equal(pl_store_open(&f->loop, "mongodb", "/tmp/x", &s, err, sizeof err), PL_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "mongodb"));

	err[0] = '\0';
	assert_int_equal(pl_store_open(&f->loop, "sqlite", "", &s, err, sizeof err), PL_EINVAL);
	assert_true(err[0] != '\0');

	/* /proc refuses new directories, even to root */
	err[0] = '\0';
	assert_int_not_equal(
	    pl_store_open(&f->loop, "sqlite", "/proc/parley-test/db/x.db", &s, err, sizeof err), 0);
	assert_null(s);
	assert_non_null(strstr(err, "/proc/parley-test"));

	/* a regular file where a directory should be */
	char file[160], path[200];
	snprintf(file, sizeof file, "%s/plainfile", f->dir);
	FILE *fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof path, "%s/sub/x.db", file);
	err[0] = '\0';
	assert_int_not_equal(pl_store_open(&f->loop, "sqlite", path, &s, err, sizeof err), 0);
	assert_null(s);
	assert_true(err[0] != '\0');

	/* the database path is a directory */
	err[0] = '\0';
	assert_int_equal(pl_store_open(&f->loop, "sqlite", f->dir, &s, err, sizeof err), PL_ESTORE);
	assert_null(s);
	assert_true(err[0] != '\0');

	/* a file that is not a database */
	snprintf(path, sizeof path, "%s/garbage.db", f->dir);
	fp = fopen(path, "w");
	for (int i = 0; i < 200; i++)
		fputs("this is not an sqlite database. ", fp);
	fclose(fp);
	err[0] = '\0';
	assert_int_equal(pl_store_open(&f->loop, "sqlite", path, &s, err, sizeof err), PL_ESTORE);
	assert_null(s);
	assert_true(err[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_roster, setup, teardown),
	    cmocka_unit_test(test_roster_item_copy),
	    cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_cascades, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persist_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_callback_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_drains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_in_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_in_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
