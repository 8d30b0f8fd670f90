/* session.c: users in use and their bound sessions.
 *
 * It owns the srv->users table (pl_user: an account with online sessions or operations in flight, with
 * its roster loaded from the store once) and the srv->sessions table (pl_session by full JID): binding
 * with resource conflicts (the newest session wins, the old one gets a <conflict/> stream error),
 * sending to a session (through XEP-0198 counting in sm.c), detaching a resumable session whose
 * connection dropped, and ending a session (unavailable presence, unacknowledged stanzas).
 * Roster contents are handled by roster.c, presence by presence.c. */
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "xmpp/server.h"
#include "xmpp/sasl.h"
#include <sodium.h>
#include <string.h>

typedef struct pl_user_wait {
	pl_user_cb cb;
	void *ud;
	struct pl_user_wait *next;
} pl_user_wait;

pl_user *pl_user_find(pl_server *srv, const char *bare)
{
	pl_user *u = NULL;
	HASH_FIND_STR(srv->users, bare, u);
	return u;
}

void pl_user_ref(pl_user *u) { u->refs++; }

void pl_user_unref(pl_user *u)
{
	if (--u->refs > 0) return;
	pl_contact *c, *tmp;
	HASH_ITER(hh, u->contacts, c, tmp)
	{
		HASH_DEL(u->contacts, c);
		pl_roster_item_clear(&c->item);
		free(c);
	}
	HASH_DEL(u->srv->users, u);
	free(u->bare);
	free(u->node);
	free(u->domain);
	free(u);
}

static void user_run_waiting(pl_server *srv, pl_user *u)
{
	pl_user_wait *w = u->waiting;
	u->waiting = NULL;
	/* callbacks run in arrival order */
	pl_user_wait *rev = NULL;
	while (w) {
		pl_user_wait *n = w->next;
		w->next = rev;
		rev = w;
		w = n;
	}
	while (rev) {
		pl_user_wait *n = rev->next;
		rev->cb(srv, u, u->load_status, rev->ud);
		free(rev);
		pl_user_unref(u);
		rev = n;
	}
}

typedef struct load_ctx {
	pl_server *srv;
	pl_user *u;
} load_ctx;

static void user_roster_loaded(void *ud, int status, const pl_roster_item *items, size_t n,
	long long version)
{
	load_ctx *lc = ud;
	pl_user *u = lc->u;
	for (size_t i = 0; i < n && status == 0; i++) {
		pl_contact *c = PL_NEW(pl_contact);
		pl_roster_item_copy(&items[i], &c->item);
		/* an entry that only remembers an inbound request is stored with groups = ["\x01pending"] */
		c->visible = !(c->item.ngroups == 1 && strcmp(c->item.groups[0], "\x01pending") == 0);
		HASH_ADD_KEYPTR(hh, u->contacts, c->item.jid, strlen(c->item.jid), c);
	}
	u->roster_ver = version;
	u->loaded = 1;
	user_run_waiting(lc->srv, u);
	pl_user_unref(u);
	free(lc);
}

static void user_account_checked(void *ud, int status, const pl_sasl_creds *creds)
{
	load_ctx *lc = ud;
	pl_user *u = lc->u;
	if (status != 0) {
		u->load_status = status == PL_ENOTFOUND ? PL_ENOTFOUND : PL_ESTORE;
		u->loaded = 1;
		user_run_waiting(lc->srv, u);
		pl_user_unref(u);
		free(lc);
		return;
	}
	if (pl_store_roster_get(lc->srv->store, u->domain, u->node, user_roster_loaded, lc) != 0) {
		u->load_status = PL_ESTORE;
		u->loaded = 1;
		user_run_waiting(lc->srv, u);
		pl_user_unref(u);
		free(lc);
	}
}

void pl_user_with(pl_server *srv, const char *node, const char *domain, int anonymous, pl_user_cb cb,
	void *ud)
{
	char *bare = pl_malloc(strlen(node) + strlen(domain) + 2);
	sprintf(bare, "%s@%s", node, domain);
	pl_user *u = pl_user_find(srv, bare);
	if (!u) {
		u = PL_NEW(pl_user);
		u->srv = srv;
		u->bare = bare;
		u->node = pl_strdup(node);
		u->domain = pl_strdup(domain);
		u->anonymous = anonymous;
		HASH_ADD_KEYPTR(hh, srv->users, u->bare, strlen(u->bare), u);
		if (anonymous) {
			u->loaded = 1;
		} else {
			load_ctx *lc = PL_NEW(load_ctx);
			lc->srv = srv;
			lc->u = u;
			u->refs++;
			if (pl_store_account_get(srv->store, domain, node, user_account_checked, lc) != 0) {
				free(lc);
				u->refs--;
				u->loaded = 1;
				u->load_status = PL_ESTORE;
			}
		}
	} else {
		free(bare);
	}
	u->refs++;
	if (u->loaded) {
		cb(srv, u, u->load_status, ud);
		pl_user_unref(u);
		return;
	}
	pl_user_wait *w = PL_NEW(pl_user_wait);
	w->cb = cb;
	w->ud = ud;
	w->next = u->waiting;
	u->waiting = w;
}

pl_session *pl_session_find(pl_server *srv, const char *full)
{
	pl_session *s = NULL;
	HASH_FIND_STR(srv->sessions, full, s);
	return s;
}

pl_session *pl_session_bind(pl_user *u, const char *resource, const pl_session_ops *ops, void *transport,
	uint64_t conn_id)
{
	pl_server *srv = u->srv;
	char res[40];
	if (!resource) {
		unsigned char rnd[12];
		randombytes_buf(rnd, sizeof rnd);
		char *b = pl_base64_encode(rnd, sizeof rnd);
		snprintf(res, sizeof res, "parley-%s", b);
		for (char *p = res; *p; p++)
			if (*p == '/' || *p == '+' || *p == '=') *p = 'x';
		free(b);
		resource = res;
	}
	size_t flen = strlen(u->bare) + strlen(resource) + 2;
	char *full = pl_malloc(flen);
	snprintf(full, flen, "%s/%s", u->bare, resource);
	pl_session *old = pl_session_find(srv, full);
	if (old) {
		PL_INFO(conn_id, "resource conflict: replacing the session of %s", full);
		if (old->ops) old->ops->close(old, "conflict", "replaced by a new connection");
		pl_session_end(old);
	}
	pl_session *s = PL_NEW(pl_session);
	s->srv = srv;
	s->user = u;
	pl_user_ref(u);
	s->resource = pl_strdup(resource);
	s->full = full;
	pl_jid_make(u->node, u->domain, resource, &s->jid);
	s->ops = ops;
	s->transport = transport;
	s->conn_id = conn_id;
	s->next_in_user = u->sessions;
	u->sessions = s;
	u->nsessions++;
	HASH_ADD_KEYPTR(hh, srv->sessions, s->full, strlen(s->full), s);
	return s;
}

static void session_sm_timeout(uv_timer_t *t);

/* A stanza the transport refused is not counted for XEP-0198 (it never went out, and the caller keeps
 * it); a stanza kept in the XEP-0198 queue of a detached session counts as sent: it is resent on
 * resumption or handled with the queue when the session ends. */
int pl_session_send(pl_session *s, pl_bytes *b)
{
	if (s->closing) return PL_ECLOSED;
	if (s->ops) {
		int rc = s->ops->send(s, b);
		if (rc != 0) return rc;
	} else if (!s->sm_enabled) {
		return PL_ECLOSED;
	}
	s->srv->stats.stanzas_out++;
	if (s->sm_enabled) pl_sm_count_out(s, b);
	if (!s->ops && s->sm_queued > (size_t)s->srv->cfg->sm_max_unacked && s->sm_timer) {
		/* detached and over the limit: end it on the next loop turn (callers may be iterating the
		 * user's sessions), its queue going to offline storage */
		uv_timer_start(s->sm_timer, session_sm_timeout, 0, 0);
	}
	return 0;
}

int pl_session_send_xml(pl_session *s, const pl_xml_node *stanza)
{
	pl_bytes *b = pl_stanza_bytes(stanza);
	int rc = pl_session_send(s, b);
	pl_bytes_unref(b);
	return rc;
}

static void session_sm_timeout(uv_timer_t *t)
{
	pl_session *s = t->data;
	if (s->sm_queued > (size_t)s->srv->cfg->sm_max_unacked)
		PL_INFO(0, "%s: too many stanzas queued while detached, ending the session", s->full);
	else
		PL_INFO(0, "resumption of %s timed out", s->full);
	pl_session_end(s);
}

void pl_session_transport_lost(pl_session *s)
{
	if (s->sm_resumable && !s->closing && !s->srv->shutting_down) {
		PL_INFO(s->conn_id, "%s detached, resumable for %d s", s->full, s->srv->cfg->sm_resume_timeout);
		s->conn_id = 0;
		if (!s->sm_timer) {
			s->sm_timer = PL_NEW(uv_timer_t);
			uv_timer_init(s->srv->loop, s->sm_timer);
			s->sm_timer->data = s;
		}
		uv_timer_start(s->sm_timer, session_sm_timeout, (uint64_t)s->srv->cfg->sm_resume_timeout * 1000, 0);
		return;
	}
	pl_session_end(s);
}

static void timer_free(uv_handle_t *h) { free(h); }

void pl_session_end(pl_session *s)
{
	if (s->closing) return;
	s->closing = 1;
	pl_server *srv = s->srv;
	pl_user *u = s->user;
	if (s->ops) {
		const pl_session_ops *ops = s->ops;
		s->ops = NULL;
		ops->close(s, NULL, NULL);
	}
	HASH_DEL(srv->sessions, s);
	if (s->sm_id) HASH_DELETE(hh_sm, srv->sm_sessions, s);
	for (pl_session **pp = &u->sessions; *pp; pp = &(*pp)->next_in_user) {
		if (*pp == s) {
			*pp = s->next_in_user;
			break;
		}
	}
	u->nsessions--;
	/* presence goes out after the session left the tables, so it does not receive its own */
	pl_presence_session_ended(s);
	pl_sm_drop_queue(s, 1);
	if (s->sm_timer) {
		uv_timer_stop(s->sm_timer);
		uv_close((uv_handle_t *)s->sm_timer, timer_free);
	}
	PL_DEBUG(0, "session %s ended", s->full);
	pl_bytes_unref(s->presence);
	for (size_t i = 0; i < s->ndirected; i++) free(s->directed[i]);
	free(s->directed);
	free(s->resource);
	free(s->full);
	free(s->sm_id);
	pl_jid_clear(&s->jid);
	free(s);
	pl_user_unref(u);
}
