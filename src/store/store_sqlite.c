/* store_sqlite.c: the SQLite backend of the store (the table pl_store_sqlite_backend of store_backend.h).
 * It owns the schema and its migrations, the SQL of every operation and the prepared statements; it
 * knows nothing of threads or the loop (store.c calls it on the store thread, one call at a time).
 *
 * The database runs in WAL mode with synchronous=NORMAL, foreign keys on and a busy timeout (parleyctl
 * may write while parleyd runs). The schema version is PRAGMA user_version; `migrations` below is the
 * ordered list of steps, step i bringing the schema from version i to i+1, each applied in its own
 * transaction at open. Only ever append steps: a released step never changes.
 *
 * Rosters and offline messages are keyed by (host, user) without a foreign key to accounts, because
 * anonymous users have rosters but no account; deleting an account deletes those rows explicitly in the
 * same transaction. Roster groups are stored as a JSON array of strings (jansson). */
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "store/store_backend.h"

#define BUSY_TIMEOUT_MS 5000

static const char *const migrations[] = {
    /* 1: accounts, rosters, offline messages */
    "CREATE TABLE accounts ("
    " host TEXT NOT NULL, user TEXT NOT NULL,"
    " salt BLOB NOT NULL, iterations INTEGER NOT NULL,"
    " sha1_stored BLOB NOT NULL, sha1_server BLOB NOT NULL,"
    " sha256_stored BLOB NOT NULL, sha256_server BLOB NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (host, user));"
    "CREATE TABLE roster_items ("
    " host TEXT NOT NULL, user TEXT NOT NULL, jid TEXT NOT NULL,"
    " name TEXT, subscription INTEGER NOT NULL DEFAULT 0, ask INTEGER NOT NULL DEFAULT 0,"
    " pending_in INTEGER NOT NULL DEFAULT 0, groups TEXT NOT NULL DEFAULT '[]',"
    " PRIMARY KEY (host, user, jid));"
    "CREATE TABLE roster_versions ("
    " host TEXT NOT NULL, user TEXT NOT NULL, version INTEGER NOT NULL,"
    " PRIMARY KEY (host, user));"
    "CREATE TABLE offline ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " host TEXT NOT NULL, user TEXT NOT NULL, stanza TEXT NOT NULL, stored_at INTEGER NOT NULL);",
    /* 2: offline messages are counted and read per user */
    "CREATE INDEX offline_by_user ON offline (host, user, id);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* Every statement, prepared once at open. */
enum stmt_id {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_ACCOUNT_GET,
	ST_ACCOUNT_INSERT,
	ST_ACCOUNT_UPDATE,
	ST_ACCOUNT_DELETE,
	ST_ACCOUNT_LIST,
	ST_ROSTER_DELETE_ALL,
	ST_VERSION_DELETE,
	ST_OFFLINE_DELETE,
	ST_ROSTER_ITEMS,
	ST_ROSTER_VERSION,
	ST_ROSTER_UPSERT,
	ST_ROSTER_DELETE,
	ST_VERSION_BUMP,
	ST_OFFLINE_COUNT,
	ST_OFFLINE_INSERT,
	ST_OFFLINE_SELECT,
	NSTMTS
};

static const char *const stmt_sql[NSTMTS] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ACCOUNT_GET] = "SELECT salt, iterations, sha1_stored, sha1_server, sha256_stored, sha256_server"
                       " FROM accounts WHERE host = ?1 AND user = ?2",
    [ST_ACCOUNT_INSERT] =
        "INSERT INTO accounts (host, user, salt, iterations, sha1_stored, sha1_server,"
        " sha256_stored, sha256_server, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_ACCOUNT_UPDATE] = "UPDATE accounts SET salt = ?3, iterations = ?4, sha1_stored = ?5,"
                          " sha1_server = ?6, sha256_stored = ?7, sha256_server = ?8"
                          " WHERE host = ?1 AND user = ?2",
    [ST_ACCOUNT_DELETE] = "DELETE FROM accounts WHERE host = ?1 AND user = ?2",
    [ST_ACCOUNT_LIST] = "SELECT user FROM accounts WHERE host = ?1 ORDER BY user",
    [ST_ROSTER_DELETE_ALL] = "DELETE FROM roster_items WHERE host = ?1 AND user = ?2",
    [ST_VERSION_DELETE] = "DELETE FROM roster_versions WHERE host = ?1 AND user = ?2",
    [ST_OFFLINE_DELETE] = "DELETE FROM offline WHERE host = ?1 AND user = ?2",
    [ST_ROSTER_ITEMS] = "SELECT jid, name, subscription, ask, pending_in, groups FROM roster_items"
                        " WHERE host = ?1 AND user = ?2 ORDER BY rowid",
    [ST_ROSTER_VERSION] = "SELECT version FROM roster_versions WHERE host = ?1 AND user = ?2",
    [ST_ROSTER_UPSERT] = "INSERT INTO roster_items (host, user, jid, name, subscription, ask, pending_in,"
                         " groups) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                         " ON CONFLICT (host, user, jid) DO UPDATE SET name = excluded.name,"
                         " subscription = excluded.subscription, ask = excluded.ask,"
                         " pending_in = excluded.pending_in, groups = excluded.groups",
    [ST_ROSTER_DELETE] = "DELETE FROM roster_items WHERE host = ?1 AND user = ?2 AND jid = ?3",
    [ST_VERSION_BUMP] = "INSERT INTO roster_versions (host, user, version) VALUES (?1, ?2, 1)"
                        " ON CONFLICT (host, user) DO UPDATE SET version = version + 1",
    [ST_OFFLINE_COUNT] = "SELECT count(*) FROM offline WHERE host = ?1 AND user = ?2",
    [ST_OFFLINE_INSERT] = "INSERT INTO offline (host, user, stanza, stored_at) VALUES (?1, ?2, ?3, ?4)",
    [ST_OFFLINE_SELECT] = "SELECT stanza FROM offline WHERE host = ?1 AND user = ?2 ORDER BY id",
};

typedef struct sqlite_db {
	sqlite3 *db;
	sqlite3_stmt *st[NSTMTS];
	int version;
} sqlite_db;

/* Logs the connection's last error for `what` and returns PL_ESTORE. */
static int db_fail(sqlite_db *d, const char *what)
{
	PL_ERROR(0, "store sqlite: %s: %s", what, sqlite3_errmsg(d->db));
	return PL_ESTORE;
}

/* Resets and binds host (?1) and user (?2) of a prepared statement; returns it. */
static sqlite3_stmt *stmt(sqlite_db *d, enum stmt_id id, const char *host, const char *user)
{
	sqlite3_stmt *st = d->st[id];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (host) sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	if (user) sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	return st;
}

/* Runs a statement that returns no rows. */
static int exec_stmt(sqlite_db *d, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) return db_fail(d, what);
	return 0;
}

static int tx_begin(sqlite_db *d)
{
	return exec_stmt(d, stmt(d, ST_BEGIN, NULL, NULL), "begin");
}

static int tx_commit(sqlite_db *d)
{
	return exec_stmt(d, stmt(d, ST_COMMIT, NULL, NULL), "commit");
}

/* Ends a transaction: commits if rc == 0 (the commit's failure becomes rc), else rolls back. */
static int tx_end(sqlite_db *d, int rc)
{
	if (rc == 0) rc = tx_commit(d);
	if (rc != 0 && !sqlite3_get_autocommit(d->db)) {
		sqlite3_stmt *st = stmt(d, ST_ROLLBACK, NULL, NULL);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	return rc;
}

/* ---- open, migrations ---- */

/* Creates the directories leading to path (mode 0750). */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	size_t len = strlen(path);
	if (len >= sizeof buf) {
		snprintf(err, errlen, "database path too long");
		return PL_EINVAL;
	}
	memcpy(buf, path, len + 1);
	char *slash = strrchr(buf, '/');
	if (!slash || slash == buf) return 0; /* in the current directory or in / */
	*slash = '\0';
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0') continue;
		char c = *p;
		*p = '\0';
		struct stat sb;
		if (stat(buf, &sb) != 0) {
			if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
				return PL_ESTORE;
			}
		} else if (!S_ISDIR(sb.st_mode)) {
			snprintf(err, errlen, "%s is not a directory", buf);
			return PL_ESTORE;
		}
		*p = c;
		if (c == '\0') break;
	}
	return 0;
}

static int read_user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) *out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Applies migration steps from the current version up, one transaction each. */
static int migrate(sqlite3 *db, int *version, char *err, size_t errlen)
{
	if (read_user_version(db, version) != 0) {
		snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
		return PL_ESTORE;
	}
	if (*version > NMIGRATIONS) {
		snprintf(err, errlen, "database schema version %d is newer than this parley knows (%d)",
		         *version, NMIGRATIONS);
		return PL_ESTORE;
	}
	while (*version < NMIGRATIONS) {
		int v = *version + 1;
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
		char *msg = NULL;
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) goto failed;
		/* another process (parleyctl next to parleyd) may have migrated since we looked: re-read under
		 * the write lock */
		int now = 0;
		if (read_user_version(db, &now) != 0) goto failed;
		if (now >= v) {
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
			*version = now;
			continue;
		}
		if (sqlite3_exec(db, migrations[v - 1], NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		failed:
			snprintf(err, errlen, "schema migration to version %d failed: %s", v,
			         msg ? msg : sqlite3_errmsg(db));
			PL_ERROR(0, "store sqlite: %s", err);
			sqlite3_free(msg);
			if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return PL_ESTORE;
		}
		PL_INFO(0, "store sqlite: schema migrated to version %d", v);
		*version = v;
	}
	return 0;
}

static void sqlite_close(void *p)
{
	sqlite_db *d = p;
	if (!d) return;
	for (int i = 0; i < NSTMTS; i++)
		sqlite3_finalize(d->st[i]);
	sqlite3_close(d->db);
	pl_free(d);
}

static int sqlite_open(const char *path, void **out, char *err, size_t errlen)
{
	*out = NULL;
	int rc = make_parent_dirs(path, err, errlen);
	if (rc != 0) return rc;
	sqlite_db *d = PL_NEW(sqlite_db);
	const char *what = "open";
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	                    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_extended_result_codes(d->db, 1);
	sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
	/* journal_mode returns a row with the mode in effect: check that WAL was accepted */
	sqlite3_stmt *st;
	what = "journal_mode=WAL";
	if (sqlite3_prepare_v2(d->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) goto fail;
	int ok = sqlite3_step(st) == SQLITE_ROW &&
	         !sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	if (!ok) goto fail;
	what = "pragmas";
	if (sqlite3_exec(d->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto fail;
	rc = migrate(d->db, &d->version, err, errlen);
	if (rc != 0) {
		sqlite_close(d);
		return rc;
	}
	for (int i = 0; i < NSTMTS; i++) {
		what = stmt_sql[i];
		if (sqlite3_prepare_v3(d->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &d->st[i], NULL) !=
		    SQLITE_OK)
			goto fail;
	}
	*out = d;
	return 0;
fail:
	snprintf(err, errlen, "sqlite %s: %s: %s", path, what,
	         d->db ? sqlite3_errmsg(d->db) : "out of memory");
	PL_ERROR(0, "store %s", err);
	sqlite_close(d);
	return PL_ESTORE;
}

static int sqlite_schema_version(void *p)
{
	return ((sqlite_db *)p)->version;
}

/* ---- accounts ---- */

/* Copies a blob column of at most cap bytes; returns its length or -1. */
static int column_blob(sqlite3_stmt *st, int col, unsigned char *dst, size_t cap)
{
	int n = sqlite3_column_bytes(st, col);
	if (n < 0 || (size_t)n > cap) return -1;
	if (n) memcpy(dst, sqlite3_column_blob(st, col), (size_t)n);
	return n;
}

static int sqlite_account_get(void *p, const char *host, const char *user, pl_sasl_creds *c)
{
	sqlite_db *d = p;
	sqlite3_stmt *st = stmt(d, ST_ACCOUNT_GET, host, user);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return PL_ENOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		rc = db_fail(d, "account get");
		sqlite3_reset(st);
		return rc;
	}
	memset(c, 0, sizeof *c);
	int salt = column_blob(st, 0, c->salt, sizeof c->salt);
	c->iterations = sqlite3_column_int(st, 1);
	int k1 = column_blob(st, 2, c->sha1.stored_key, sizeof c->sha1.stored_key);
	int k2 = column_blob(st, 3, c->sha1.server_key, sizeof c->sha1.server_key);
	int k3 = column_blob(st, 4, c->sha256.stored_key, sizeof c->sha256.stored_key);
	int k4 = column_blob(st, 5, c->sha256.server_key, sizeof c->sha256.server_key);
	sqlite3_reset(st);
	if (salt < 0 || k1 < 0 || k1 != k2 || k3 < 0 || k3 != k4) {
		PL_ERROR(0, "store sqlite: account %s@%s has malformed credentials", user, host);
		memset(c, 0, sizeof *c);
		return PL_ESTORE;
	}
	c->salt_len = (size_t)salt;
	c->sha1.key_len = (size_t)k1;
	c->sha256.key_len = (size_t)k3;
	return 0;
}

static void bind_creds(sqlite3_stmt *st, const pl_sasl_creds *c)
{
	sqlite3_bind_blob(st, 3, c->salt, (int)c->salt_len, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, c->iterations);
	sqlite3_bind_blob(st, 5, c->sha1.stored_key, (int)c->sha1.key_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, c->sha1.server_key, (int)c->sha1.key_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, c->sha256.stored_key, (int)c->sha256.key_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, c->sha256.server_key, (int)c->sha256.key_len, SQLITE_STATIC);
}

static int sqlite_account_create(void *p, const char *host, const char *user, const pl_sasl_creds *c)
{
	sqlite_db *d = p;
	sqlite3_stmt *st = stmt(d, ST_ACCOUNT_INSERT, host, user);
	bind_creds(st, c);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) return 0;
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return PL_EEXIST;
	return db_fail(d, "account create");
}

static int sqlite_account_set_creds(void *p, const char *host, const char *user, const pl_sasl_creds *c)
{
	sqlite_db *d = p;
	sqlite3_stmt *st = stmt(d, ST_ACCOUNT_UPDATE, host, user);
	bind_creds(st, c);
	int rc = exec_stmt(d, st, "account set_creds");
	if (rc != 0) return rc;
	return sqlite3_changes(d->db) ? 0 : PL_ENOTFOUND;
}

static int sqlite_account_delete(void *p, const char *host, const char *user)
{
	sqlite_db *d = p;
	int rc = tx_begin(d);
	if (rc != 0) return rc;
	rc = exec_stmt(d, stmt(d, ST_ACCOUNT_DELETE, host, user), "account delete");
	if (rc == 0 && sqlite3_changes(d->db) == 0) rc = PL_ENOTFOUND;
	if (rc == 0) rc = exec_stmt(d, stmt(d, ST_ROSTER_DELETE_ALL, host, user), "account delete roster");
	if (rc == 0) rc = exec_stmt(d, stmt(d, ST_VERSION_DELETE, host, user), "account delete version");
	if (rc == 0) rc = exec_stmt(d, stmt(d, ST_OFFLINE_DELETE, host, user), "account delete offline");
	return tx_end(d, rc);
}

/* Collects the text of column 0 of every row of st into a new vector. */
static int collect_strings(sqlite_db *d, sqlite3_stmt *st, const char *what, char ***out, size_t *n)
{
	size_t cap = 0, len = 0;
	char **v = NULL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			v = pl_realloc(v, cap * sizeof *v);
		}
		const char *t = (const char *)sqlite3_column_text(st, 0);
		v[len++] = pl_strdup(t ? t : "");
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(d, what);
		sqlite3_reset(st);
		pl_store_free_strv(v, len);
		return rc;
	}
	sqlite3_reset(st);
	*out = v;
	*n = len;
	return 0;
}

static int sqlite_account_list(void *p, const char *host, char ***names, size_t *n)
{
	sqlite_db *d = p;
	return collect_strings(d, stmt(d, ST_ACCOUNT_LIST, host, NULL), "account list", names, n);
}

/* ---- rosters ---- */

/* Parses a JSON array of strings into it->groups. */
static int groups_from_json(const char *text, pl_roster_item *it)
{
	json_error_t jerr;
	json_t *a = json_loads(text ? text : "[]", 0, &jerr);
	if (!a || !json_is_array(a)) {
		json_decref(a);
		return -1;
	}
	size_t n = json_array_size(a);
	it->groups = n ? pl_calloc(n, sizeof(char *)) : NULL;
	it->ngroups = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *g = json_array_get(a, i);
		if (!json_is_string(g)) continue;
		it->groups[it->ngroups++] = pl_strndup(json_string_value(g), json_string_length(g));
	}
	json_decref(a);
	return 0;
}

/* Returns the groups as a compact JSON array (caller frees with free), or NULL if a group is not valid
 * UTF-8. */
static char *groups_to_json(const pl_roster_item *it)
{
	json_t *a = json_array();
	for (size_t i = 0; i < it->ngroups; i++) {
		json_t *g = json_string(it->groups[i]);
		if (!g) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, g);
	}
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static int read_version(sqlite_db *d, const char *host, const char *user, long long *version)
{
	sqlite3_stmt *st = stmt(d, ST_ROSTER_VERSION, host, user);
	int rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rc = db_fail(d, "roster version");
	else
		rc = 0;
	sqlite3_reset(st);
	return rc;
}

static int sqlite_roster_get(void *p, const char *host, const char *user, pl_roster_item **out, size_t *n,
                             long long *version)
{
	sqlite_db *d = p;
	/* items and version from one snapshot */
	int rc = exec_stmt(d, stmt(d, ST_BEGIN_READ, NULL, NULL), "begin");
	if (rc != 0) return rc;
	sqlite3_stmt *st = stmt(d, ST_ROSTER_ITEMS, host, user);
	size_t cap = 0, len = 0;
	pl_roster_item *items = NULL;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			items = pl_realloc(items, cap * sizeof *items);
		}
		pl_roster_item *it = &items[len++];
		memset(it, 0, sizeof *it);
		it->jid = pl_strdup((const char *)sqlite3_column_text(st, 0));
		if (!it->jid) it->jid = pl_strdup("");
		it->name = pl_strdup((const char *)sqlite3_column_text(st, 1));
		it->subscription = sqlite3_column_int(st, 2);
		it->ask = sqlite3_column_int(st, 3);
		it->pending_in = sqlite3_column_int(st, 4);
		if (groups_from_json((const char *)sqlite3_column_text(st, 5), it) != 0)
			PL_WARN(0, "store sqlite: roster of %s@%s: item %s has malformed groups", user, host,
			        it->jid);
	}
	if (step != SQLITE_DONE) rc = db_fail(d, "roster get");
	sqlite3_reset(st);
	if (rc == 0) rc = read_version(d, host, user, version);
	rc = tx_end(d, rc);
	if (rc != 0) {
		pl_store_free_items(items, len);
		return rc;
	}
	*out = items;
	*n = len;
	return 0;
}

static int sqlite_roster_put(void *p, const char *host, const char *user, const pl_roster_item *it)
{
	sqlite_db *d = p;
	char *groups = groups_to_json(it);
	if (!groups) return PL_EINVAL;
	int rc = tx_begin(d);
	if (rc == 0) {
		sqlite3_stmt *st = stmt(d, ST_ROSTER_UPSERT, host, user);
		sqlite3_bind_text(st, 3, it->jid, -1, SQLITE_STATIC);
		if (it->name) sqlite3_bind_text(st, 4, it->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, it->subscription);
		sqlite3_bind_int(st, 6, it->ask);
		sqlite3_bind_int(st, 7, it->pending_in);
		sqlite3_bind_text(st, 8, groups, -1, SQLITE_STATIC);
		rc = exec_stmt(d, st, "roster put");
		if (rc == 0) rc = exec_stmt(d, stmt(d, ST_VERSION_BUMP, host, user), "roster version");
		rc = tx_end(d, rc);
	}
	free(groups);
	return rc;
}

static int sqlite_roster_delete(void *p, const char *host, const char *user, const char *jid)
{
	sqlite_db *d = p;
	int rc = tx_begin(d);
	if (rc != 0) return rc;
	sqlite3_stmt *st = stmt(d, ST_ROSTER_DELETE, host, user);
	sqlite3_bind_text(st, 3, jid, -1, SQLITE_STATIC);
	rc = exec_stmt(d, st, "roster delete");
	if (rc == 0 && sqlite3_changes(d->db) == 0) rc = PL_ENOTFOUND;
	if (rc == 0) rc = exec_stmt(d, stmt(d, ST_VERSION_BUMP, host, user), "roster version");
	return tx_end(d, rc);
}

/* ---- offline messages ---- */

static int sqlite_offline_push(void *p, const char *host, const char *user, const char *stanza, int max)
{
	sqlite_db *d = p;
	int rc = tx_begin(d);
	if (rc != 0) return rc;
	sqlite3_stmt *st = stmt(d, ST_OFFLINE_COUNT, host, user);
	long long count = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		count = sqlite3_column_int64(st, 0);
	else
		rc = db_fail(d, "offline count");
	sqlite3_reset(st);
	if (rc == 0 && count >= max) rc = PL_ELIMIT;
	if (rc == 0) {
		st = stmt(d, ST_OFFLINE_INSERT, host, user);
		sqlite3_bind_text(st, 3, stanza, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
		rc = exec_stmt(d, st, "offline push");
	}
	return tx_end(d, rc);
}

static int sqlite_offline_take(void *p, const char *host, const char *user, char ***stanzas, size_t *n)
{
	sqlite_db *d = p;
	int rc = tx_begin(d);
	if (rc != 0) return rc;
	char **v = NULL;
	size_t len = 0;
	rc = collect_strings(d, stmt(d, ST_OFFLINE_SELECT, host, user), "offline take", &v, &len);
	if (rc == 0) rc = exec_stmt(d, stmt(d, ST_OFFLINE_DELETE, host, user), "offline delete");
	rc = tx_end(d, rc);
	if (rc != 0) {
		pl_store_free_strv(v, len);
		return rc;
	}
	*stanzas = v;
	*n = len;
	return 0;
}

int pl_store_sqlite_latest_version(void)
{
	return NMIGRATIONS;
}

const pl_store_backend pl_store_sqlite_backend = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .account_get = sqlite_account_get,
    .account_create = sqlite_account_create,
    .account_set_creds = sqlite_account_set_creds,
    .account_delete = sqlite_account_delete,
    .account_list = sqlite_account_list,
    .roster_get = sqlite_roster_get,
    .roster_put = sqlite_roster_put,
    .roster_delete = sqlite_roster_delete,
    .offline_push = sqlite_offline_push,
    .offline_take = sqlite_offline_take,
};
