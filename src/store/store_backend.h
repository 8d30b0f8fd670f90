/* store_backend.h: the internal interface between the generic store (store.c: queue, store thread,
 * callbacks on the loop) and a storage backend (store_sqlite.c now). A backend is a table of synchronous
 * functions. open and close run on the thread that calls pl_store_open/pl_store_close (start-up and
 * shutdown, while the store thread is not running); every other function runs on the store thread, one
 * call at a time, so a backend needs no locking of its own. Adding a backend (libpq later) means writing
 * one more table and naming it in store.c's list: callers of pl_store_* do not change.
 *
 * Conventions for every operation: return 0 or PL_ENOTFOUND / PL_EEXIST / PL_ELIMIT / PL_EINVAL /
 * PL_ESTORE (a backend failure, which the backend logs with PL_ERROR). Results are returned in memory
 * allocated with pl_malloc and friends; store.c owns and frees them (pl_store_free_strv for string
 * vectors, pl_roster_item_clear + free for items). On error nothing is returned. */
#ifndef PL_STORE_STORE_BACKEND_H
#define PL_STORE_STORE_BACKEND_H
#include <stddef.h>
#include "store/store.h"

typedef struct pl_store_backend {
	const char *name; /* the name given to pl_store_open ("sqlite") */
	/* Opens the database and applies pending schema migrations. Returns 0 and *out, or an error with
	 * a message in err. */
	int (*open)(const char *path_or_dsn, void **out, char *err, size_t errlen);
	void (*close)(void *db);
	/* Schema version applied (read once after open). */
	int (*schema_version)(void *db);

	int (*account_get)(void *db, const char *host, const char *user, pl_sasl_creds *out);
	int (*account_create)(void *db, const char *host, const char *user, const pl_sasl_creds *c);
	int (*account_set_creds)(void *db, const char *host, const char *user, const pl_sasl_creds *c);
	/* Deletes the account, its roster, roster version and offline messages. */
	int (*account_delete)(void *db, const char *host, const char *user);
	/* User names of host sorted (byte order); *names has *n entries. */
	int (*account_list)(void *db, const char *host, char ***names, size_t *n);

	/* All items (*items has *n entries, NULL when 0) and the roster version (0 if never changed). */
	int (*roster_get)(void *db, const char *host, const char *user, pl_roster_item **items, size_t *n,
	                  long long *version);
	/* Inserts or replaces item->jid and increments the version, in one transaction. */
	int (*roster_put)(void *db, const char *host, const char *user, const pl_roster_item *item);
	/* Deletes jid and increments the version; PL_ENOTFOUND if there is no such item. */
	int (*roster_delete)(void *db, const char *host, const char *user, const char *jid);

	/* PL_ELIMIT if the user already has max messages. */
	int (*offline_push)(void *db, const char *host, const char *user, const char *stanza, int max);
	/* Reads (arrival order) and deletes in one transaction. */
	int (*offline_take)(void *db, const char *host, const char *user, char ***stanzas, size_t *n);
} pl_store_backend;

extern const pl_store_backend pl_store_sqlite_backend;

/* The schema version a freshly opened SQLite database has (the number of migration steps). */
int pl_store_sqlite_latest_version(void);

/* Frees a vector of n strings and the vector. */
void pl_store_free_strv(char **v, size_t n);
/* Clears n roster items and frees the array (NULL is a no-op). */
void pl_store_free_items(pl_roster_item *items, size_t n);

#endif
