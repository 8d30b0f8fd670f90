/* store.h: parley's storage interface: accounts (SCRAM credentials), rosters and offline messages now;
 * rooms and archives later. Callers see one asynchronous API; a backend (store_sqlite.c now, libpq
 * later) implements it. All blocking work runs on one store thread, in submission order, so a write
 * followed by a read of the same data sees the write; completion callbacks run on the libuv loop thread.
 * Results passed to callbacks are valid only during the callback (copy what you keep).
 *
 * Errors: PL_ENOTFOUND (no such account/item), PL_EEXIST (account exists), PL_ELIMIT (offline queue full),
 * PL_ESTORE (backend failure, logged by the store). */
#ifndef PL_STORE_STORE_H
#define PL_STORE_STORE_H
#include <stddef.h>
#include <uv.h>
#include "xmpp/sasl.h"

typedef struct pl_store pl_store;

/* Opens the backend ("sqlite": path is the database file; its directory is created if missing) and
 * applies pending schema migrations, synchronously (start-up). Returns 0 or PL_ESTORE/PL_EINVAL with a
 * message in err. */
int pl_store_open(uv_loop_t *loop, const char *backend, const char *path_or_dsn, pl_store **out,
	char *err, size_t errlen);
/* Finishes every queued operation (their callbacks run), then closes. Synchronous. */
void pl_store_close(pl_store *s);
/* Schema version currently applied. */
int pl_store_schema_version(pl_store *s);

typedef void (*pl_store_done_cb)(void *ud, int status);

/* ---- accounts ---- */
typedef void (*pl_store_creds_cb)(void *ud, int status, const pl_sasl_creds *creds);
typedef void (*pl_store_list_cb)(void *ud, int status, const char *const *names, size_t n);

int pl_store_account_get(pl_store *s, const char *host, const char *user, pl_store_creds_cb cb,
	void *ud);
/* PL_EEXIST if the account exists. */
int pl_store_account_create(pl_store *s, const char *host, const char *user, const pl_sasl_creds *c,
	pl_store_done_cb cb, void *ud);
/* PL_ENOTFOUND if the account does not exist. */
int pl_store_account_set_creds(pl_store *s, const char *host, const char *user,
	const pl_sasl_creds *c, pl_store_done_cb cb, void *ud);
/* Deletes the account with its roster and offline messages. PL_ENOTFOUND if absent. */
int pl_store_account_delete(pl_store *s, const char *host, const char *user, pl_store_done_cb cb,
	void *ud);
/* Sorted user names of a host. */
int pl_store_account_list(pl_store *s, const char *host, pl_store_list_cb cb, void *ud);

/* ---- rosters (RFC 6121) ---- */
enum pl_sub { PL_SUB_NONE = 0, PL_SUB_TO = 1, PL_SUB_FROM = 2, PL_SUB_BOTH = 3 };

typedef struct pl_roster_item {
	char *jid;        /* bare JID of the contact */
	char *name;       /* may be NULL */
	int subscription; /* enum pl_sub */
	int ask;          /* 1 = outbound subscription request pending ("ask='subscribe'") */
	int pending_in;   /* 1 = inbound subscription request awaiting the user's answer */
	char **groups;
	size_t ngroups;
} pl_roster_item;

typedef void (*pl_store_roster_cb)(void *ud, int status, const pl_roster_item *items, size_t n,
	long long version);

/* The whole roster of user@host and its version (incremented on every change). */
int pl_store_roster_get(pl_store *s, const char *host, const char *user, pl_store_roster_cb cb,
	void *ud);
/* Inserts or replaces the item for item->jid; bumps the roster version. */
int pl_store_roster_put(pl_store *s, const char *host, const char *user, const pl_roster_item *item,
	pl_store_done_cb cb, void *ud);
int pl_store_roster_delete(pl_store *s, const char *host, const char *user, const char *jid,
	pl_store_done_cb cb, void *ud);

/* ---- offline messages ---- */
typedef void (*pl_store_offline_cb)(void *ud, int status, const char *const *stanzas, size_t n);

/* Appends a serialized stanza for user@host. PL_ELIMIT when the user already has `max` messages. */
int pl_store_offline_push(pl_store *s, const char *host, const char *user, const char *stanza,
	int max, pl_store_done_cb cb, void *ud);
/* Returns all stored stanzas in arrival order and deletes them (in one transaction). */
int pl_store_offline_take(pl_store *s, const char *host, const char *user, pl_store_offline_cb cb,
	void *ud);

/* Helpers for items: deep copy into dst, and free of the fields. */
void pl_roster_item_copy(const pl_roster_item *src, pl_roster_item *dst);
void pl_roster_item_clear(pl_roster_item *it);

#endif
