/* room.c: one room's occupants and what they say (XEP-0045 §7). It owns the occupant tables (by nick
 * and by real full JID; one user's several sessions may share a nick, §7.2.9), joining (existing
 * occupants' presence first, then the newcomer's to everyone, its own copy last with 110/100/201, then
 * history, then the subject), presence updates, nickname changes (unavailable with 303, then the new
 * presence), leaving, groupchat messages (history ring), the subject and private messages.
 *
 * Broadcasts are serialized once per variant: each occupant keeps its current presence serialized twice
 * (with and without its real JID), so a join costs one send per occupant and no serialization; a
 * groupchat message is serialized once for all. Stanzas carry no 'to' (each stream knows its client).
 * Room lookup, creation and the owner iq are service.c's. */
#include "core/alloc.h"
#include "core/log.h"
#include "muc/muc_internal.h"
#include <string.h>

const char *pl_muc_role_name(int role)
{
	switch (role) {
	case PL_MUC_ROLE_MODERATOR:
		return "moderator";
	case PL_MUC_ROLE_PARTICIPANT:
		return "participant";
	case PL_MUC_ROLE_VISITOR:
		return "visitor";
	default:
		return "none";
	}
}

const char *pl_muc_affiliation_name(int aff)
{
	switch (aff) {
	case PL_MUC_AFF_OWNER:
		return "owner";
	case PL_MUC_AFF_ADMIN:
		return "admin";
	case PL_MUC_AFF_MEMBER:
		return "member";
	case PL_MUC_AFF_OUTCAST:
		return "outcast";
	default:
		return "none";
	}
}

int pl_muc_affiliation_of(const pl_muc_room *r, const char *bare)
{
	pl_muc_aff *a = NULL;
	HASH_FIND_STR(r->affs, bare, a);
	return a ? a->affiliation : PL_MUC_AFF_NONE;
}

static void set_affiliation(pl_muc_room *r, const char *bare, int aff)
{
	pl_muc_aff *a = NULL;
	HASH_FIND_STR(r->affs, bare, a);
	if (aff == PL_MUC_AFF_NONE) {
		if (a) {
			HASH_DEL(r->affs, a);
			free(a->bare);
			free(a);
		}
		return;
	}
	if (!a) {
		a = PL_NEW(pl_muc_aff);
		a->bare = pl_strdup(bare);
		HASH_ADD_KEYPTR(hh, r->affs, a->bare, strlen(a->bare), a);
	}
	a->affiliation = aff;
}

void pl_muc_room_set_affiliation(pl_muc_room *r, const char *bare, int aff)
{
	set_affiliation(r, bare, aff);
}

/* ---- sending ---- */

static void send_to_real(pl_server *srv, const char *full, pl_bytes *b)
{
	pl_session *s = pl_session_find(srv, full);
	if (s) pl_session_send(s, b);
}

void pl_muc_send_to_occupant(const pl_muc_occupant *o, pl_bytes *b)
{
	for (int i = 0; i < o->nfulls; i++)
		send_to_real(o->room->srv, o->fulls[i], b);
}

/* Whether recipient sees real JIDs: non-anonymous room, or a moderator in a semi-anonymous one. */
static int sees_jid(const pl_muc_room *r, const pl_muc_occupant *recipient)
{
	return r->cfg.whois_anyone || recipient->role == PL_MUC_ROLE_MODERATOR;
}

/* ---- presence stanzas ---- */

/* The presence of occupant o (type NULL or "unavailable"): its payload (available only), then the
 * muc#user <x/> with the item (real JID when with_jid, new nick for a 303) and the status codes. */
static pl_xml_node *occupant_presence(const pl_muc_occupant *o, const char *type, int with_jid,
                                      const char *new_nick, const int *codes, int ncodes,
                                      const pl_xml_node *status_from)
{
	pl_xml_node *p = pl_xml_elem_new("presence", PL_NS_CLIENT);
	pl_xml_set_attr(p, "from", o->occ_jid);
	if (type) pl_xml_set_attr(p, "type", type);
	if (!type && o->payload) {
		for (size_t i = 0; i < o->payload->nchildren; i++)
			if (o->payload->children[i]->type == PL_XML_ELEM)
				pl_xml_append(p, pl_xml_copy(o->payload->children[i]));
	} else if (status_from) {
		pl_xml_node *st = pl_xml_child(status_from, "status", NULL);
		if (st) pl_xml_append(p, pl_xml_copy(st));
	}
	pl_xml_node *x = pl_xml_add_elem(p, "x", PL_NS_MUC_USER);
	pl_xml_node *item = pl_xml_add_elem(x, "item", NULL);
	pl_xml_set_attr(item, "affiliation", pl_muc_affiliation_name(o->affiliation));
	pl_xml_set_attr(item, "role", type ? "none" : pl_muc_role_name(o->role));
	if (with_jid && o->nfulls > 0) pl_xml_set_attr(item, "jid", o->fulls[0]);
	if (new_nick) pl_xml_set_attr(item, "nick", new_nick);
	for (int i = 0; i < ncodes; i++) {
		char code[8];
		snprintf(code, sizeof code, "%d", codes[i]);
		pl_xml_set_attr(pl_xml_add_elem(x, "status", NULL), "code", code);
	}
	return p;
}

static pl_bytes *presence_bytes(const pl_muc_occupant *o, const char *type, int with_jid,
                                const char *new_nick, const int *codes, int ncodes,
                                const pl_xml_node *status_from)
{
	pl_xml_node *p = occupant_presence(o, type, with_jid, new_nick, codes, ncodes, status_from);
	pl_bytes *b = pl_stanza_bytes(p);
	pl_xml_free(p);
	return b;
}

/* Keeps what the user's presence says about it (show, status, priority, caps...), without MUC
 * elements and without the stanza's own attributes. */
static void set_payload(pl_muc_occupant *o, const pl_xml_node *p)
{
	pl_xml_free(o->payload);
	o->payload = pl_xml_elem_new("presence", PL_NS_CLIENT);
	for (size_t i = 0; i < p->nchildren; i++) {
		const pl_xml_node *c = p->children[i];
		if (c->type != PL_XML_ELEM) continue;
		if (c->ns && (!strcmp(c->ns, PL_NS_MUC) || !strcmp(c->ns, PL_NS_MUC_USER))) continue;
		if (!strcmp(c->name, "error")) continue;
		pl_xml_append(o->payload, pl_xml_copy(c));
	}
}

static void refresh_presence(pl_muc_occupant *o)
{
	pl_bytes_unref(o->pres_full);
	pl_bytes_unref(o->pres_anon);
	o->pres_full = presence_bytes(o, NULL, 1, NULL, NULL, 0, NULL);
	o->pres_anon = o->room->cfg.whois_anyone ? pl_bytes_ref(o->pres_full)
	                                         : presence_bytes(o, NULL, 0, NULL, NULL, 0, NULL);
}

void pl_muc_room_refresh_presences(pl_muc_room *r)
{
	for (pl_muc_occupant *o = r->by_nick; o; o = o->hh.next)
		refresh_presence(o);
}

/* Sends o's current presence to every other occupant, and o's own copy (110 plus `extra` codes) to
 * o's sessions. */
static void broadcast_presence(pl_muc_occupant *o, const int *extra, int nextra)
{
	pl_muc_room *r = o->room;
	for (pl_muc_occupant *x = r->by_nick; x; x = x->hh.next)
		if (x != o) pl_muc_send_to_occupant(x, sees_jid(r, x) ? o->pres_full : o->pres_anon);
	int codes[8] = {110};
	int n = 1;
	for (int i = 0; i < nextra && n < 8; i++)
		codes[n++] = extra[i];
	pl_bytes *self = presence_bytes(o, NULL, 1, NULL, codes, n, NULL);
	pl_muc_send_to_occupant(o, self);
	pl_bytes_unref(self);
}

/* Unavailable presence of o (a leave, or the first half of a nick change when new_nick is set) to
 * every occupant: one serialization per variant. */
static void broadcast_unavailable(pl_muc_occupant *o, const char *new_nick, const pl_xml_node *status_from)
{
	pl_muc_room *r = o->room;
	int codes[2] = {303};
	int n = new_nick ? 1 : 0;
	pl_bytes *full = presence_bytes(o, "unavailable", 1, new_nick, codes, n, status_from);
	pl_bytes *anon = r->cfg.whois_anyone
	                     ? pl_bytes_ref(full)
	                     : presence_bytes(o, "unavailable", 0, new_nick, codes, n, status_from);
	for (pl_muc_occupant *x = r->by_nick; x; x = x->hh.next)
		if (x != o) pl_muc_send_to_occupant(x, sees_jid(r, x) ? full : anon);
	pl_bytes_unref(full);
	pl_bytes_unref(anon);
	int self_codes[3] = {110, 303};
	pl_bytes *self =
	    presence_bytes(o, "unavailable", 1, new_nick, self_codes, new_nick ? 2 : 1, status_from);
	pl_muc_send_to_occupant(o, self);
	pl_bytes_unref(self);
}

/* ---- occupants ---- */

static void occupant_free(pl_muc_occupant *o)
{
	for (int i = 0; i < o->nfulls; i++)
		free(o->fulls[i]);
	free(o->nick);
	free(o->occ_jid);
	free(o->bare);
	pl_xml_free(o->payload);
	pl_bytes_unref(o->pres_full);
	pl_bytes_unref(o->pres_anon);
	free(o);
}

static char *make_occ_jid(const pl_muc_room *r, const char *nick)
{
	size_t n = strlen(r->jid) + strlen(nick) + 2;
	char *j = pl_malloc(n);
	snprintf(j, n, "%s/%s", r->jid, nick);
	return j;
}

static void add_real(pl_muc_occupant *o, const char *full)
{
	o->fulls[o->nfulls++] = pl_strdup(full);
	pl_muc_real *rl = PL_NEW(pl_muc_real);
	rl->full = pl_strdup(full);
	rl->occ = o;
	HASH_ADD_KEYPTR(hh, o->room->by_real, rl->full, strlen(rl->full), rl);
}

/* Forgets the session `full` of o (its by_real entry rl is freed). */
static void remove_real(pl_muc_occupant *o, pl_muc_real *rl)
{
	for (int i = 0; i < o->nfulls; i++) {
		if (strcmp(o->fulls[i], rl->full) == 0) {
			free(o->fulls[i]);
			memmove(&o->fulls[i], &o->fulls[i + 1], (size_t)(o->nfulls - i - 1) * sizeof(char *));
			o->nfulls--;
			break;
		}
	}
	HASH_DEL(o->room->by_real, rl);
	free(rl->full);
	free(rl);
}

static void remove_occupant(pl_muc_occupant *o)
{
	pl_muc_room *r = o->room;
	while (o->nfulls > 0) {
		pl_muc_real *rl = NULL;
		HASH_FIND_STR(r->by_real, o->fulls[0], rl);
		if (rl) {
			remove_real(o, rl);
		} else {
			free(o->fulls[0]);
			memmove(&o->fulls[0], &o->fulls[1], (size_t)(o->nfulls - 1) * sizeof(char *));
			o->nfulls--;
		}
	}
	HASH_DEL(r->by_nick, o);
	r->noccupants--;
	occupant_free(o);
}

void pl_muc_room_free(pl_muc_room *r)
{
	pl_muc_config_clear(&r->cfg);
	pl_muc_occupant *o, *ot;
	HASH_ITER(hh, r->by_nick, o, ot)
	{
		HASH_DEL(r->by_nick, o);
		occupant_free(o);
	}
	pl_muc_real *rl, *rt;
	HASH_ITER(hh, r->by_real, rl, rt)
	{
		HASH_DEL(r->by_real, rl);
		free(rl->full);
		free(rl);
	}
	pl_muc_aff *a, *at;
	HASH_ITER(hh, r->affs, a, at)
	{
		HASH_DEL(r->affs, a);
		free(a->bare);
		free(a);
	}
	pl_muc_history_clear(&r->history);
	free(r->subject);
	free(r->subject_from);
	free(r->jid);
	free(r->node);
	free(r->service);
	free(r);
}

/* ---- join, leave, nick change ---- */

static void send_history_and_subject(pl_muc_room *r, const char *full, const pl_muc_history_filter *f)
{
	size_t first = pl_muc_history_select(&r->history, f, time(NULL));
	for (size_t i = first; i < r->history.n; i++)
		send_to_real(r->srv, full, pl_muc_history_at(&r->history, i)->bytes);
	/* the subject comes last, always (an empty one when none was set: it ends the join, §7.2.15) */
	pl_xml_node *m = pl_xml_elem_new("message", PL_NS_CLIENT);
	pl_xml_set_attr(m, "type", "groupchat");
	pl_xml_set_attr(m, "from", r->subject_from ? r->subject_from : r->jid);
	pl_xml_node *s = pl_xml_add_elem(m, "subject", NULL);
	if (r->subject) pl_xml_add_text(s, r->subject, strlen(r->subject));
	pl_bytes *b = pl_stanza_bytes(m);
	pl_xml_free(m);
	send_to_real(r->srv, full, b);
	pl_bytes_unref(b);
}

/* 1 when presence.c remembers the session's directed presence to occ_jid: then the session's end reaches
 * the room (it keeps a bounded list; a join past it would leave a ghost occupant behind). */
static int directed_remembered(pl_session *s, const char *occ_jid)
{
	for (size_t i = 0; s && i < s->ndirected; i++)
		if (strcmp(s->directed[i], occ_jid) == 0) return 1;
	return 0;
}

/* The <password/> of a join (XEP-0045 §7.2.6). */
static int password_ok(const pl_muc_room *r, const pl_xml_node *x)
{
	char *pw = x ? pl_xml_child_text(x, "password", NULL) : NULL;
	int ok = pw && r->cfg.password && strcmp(pw, r->cfg.password) == 0;
	free(pw);
	return ok;
}

static void join(pl_muc_room *r, pl_xml_node *p, const char *from, const char *nick, int created)
{
	pl_jid fj;
	if (pl_jid_parse(from, &fj) != 0) {
		pl_xml_free(p);
		return;
	}
	char *bare = pl_jid_bare_string(&fj);
	pl_jid_clear(&fj);
	int aff = pl_muc_affiliation_of(r, bare);
	pl_muc_occupant *o = NULL;
	HASH_FIND_STR(r->by_nick, nick, o);
	pl_muc_history_filter hf;
	pl_xml_node *x = pl_xml_child(p, "x", PL_NS_MUC);
	char *occ_jid = make_occ_jid(r, nick);
	int tracked = directed_remembered(pl_session_find(r->srv, from), occ_jid);
	free(occ_jid);
	if (!tracked) {
		pl_muc_bounce(r->srv, p, "wait", "resource-constraint", "this session is in too many rooms");
	} else if (aff == PL_MUC_AFF_OUTCAST) {
		pl_muc_bounce(r->srv, p, "auth", "forbidden", "you are banned from this room");
	} else if (r->locked && !created && aff != PL_MUC_AFF_OWNER) {
		pl_muc_bounce(r->srv, p, "cancel", "item-not-found",
		              "the room is locked until its owner configures it");
	} else if (!o && r->cfg.password_protected && !password_ok(r, x)) {
		pl_muc_bounce(r->srv, p, "auth", "not-authorized",
		              "a password is required to enter this room");
	} else if (!o && r->cfg.members_only && aff < PL_MUC_AFF_MEMBER && !created) {
		pl_muc_bounce(r->srv, p, "auth", "registration-required", "this room is members-only");
	} else if (o && strcmp(o->bare, bare) != 0) {
		pl_muc_bounce(r->srv, p, "cancel", "conflict", "that nickname is in use");
	} else if ((!o && r->noccupants >= r->cfg.max_occupants) ||
	           (o && o->nfulls >= PL_MUC_MAX_SESSIONS_PER_NICK)) {
		pl_muc_bounce(r->srv, p, "wait", "service-unavailable", "the room is full");
	} else if (pl_muc_history_filter_parse(x ? pl_xml_child(x, "history", NULL) : NULL, &hf) != 0) {
		pl_muc_bounce(r->srv, p, "modify", "bad-request", "invalid history request");
	} else {
		goto ok;
	}
	free(bare);
	return;
ok:;
	int is_new = o == NULL;
	if (is_new) {
		o = PL_NEW(pl_muc_occupant);
		o->room = r;
		o->nick = pl_strdup(nick);
		o->occ_jid = make_occ_jid(r, nick);
		o->bare = bare;
		bare = NULL;
		if (created) {
			set_affiliation(r, o->bare, PL_MUC_AFF_OWNER);
			aff = PL_MUC_AFF_OWNER;
		}
		o->affiliation = aff;
		o->role = aff >= PL_MUC_AFF_ADMIN                       ? PL_MUC_ROLE_MODERATOR
		          : r->cfg.moderated && aff < PL_MUC_AFF_MEMBER ? PL_MUC_ROLE_VISITOR
		                                                        : PL_MUC_ROLE_PARTICIPANT;
		for (int i = 0; i < pl_muc_nhooks; i++) {
			if (pl_muc_hook_table[i]->on_join && pl_muc_hook_table[i]->on_join(r, o, p) < 0) {
				occupant_free(o);
				pl_muc_bounce(r->srv, p, "auth", "not-allowed", NULL);
				return;
			}
		}
		set_payload(o, p);
		HASH_ADD_KEYPTR(hh, r->by_nick, o->nick, strlen(o->nick), o);
		r->noccupants++;
	}
	free(bare);
	add_real(o, from);
	if (is_new) refresh_presence(o);
	/* 1. the occupants already there, to the newcomer's session */
	pl_session *s = pl_session_find(r->srv, from);
	for (pl_muc_occupant *y = r->by_nick; y; y = y->hh.next)
		if (y != o && s) pl_session_send(s, sees_jid(r, o) ? y->pres_full : y->pres_anon);
	/* 2. the newcomer to the others (a second session under the same nick is not news to them) */
	if (is_new)
		for (pl_muc_occupant *y = r->by_nick; y; y = y->hh.next)
			if (y != o) pl_muc_send_to_occupant(y, sees_jid(r, y) ? o->pres_full : o->pres_anon);
	/* 3. its own presence, last */
	int codes[4] = {110};
	int n = 1;
	if (r->cfg.whois_anyone) codes[n++] = 100;
	if (created) codes[n++] = 201;
	pl_bytes *self = presence_bytes(o, NULL, 1, NULL, codes, n, NULL);
	send_to_real(r->srv, from, self);
	pl_bytes_unref(self);
	/* 4. history, 5. subject */
	send_history_and_subject(r, from, &hf);
	PL_DEBUG(0, "%s joined %s as %s", from, r->jid, o->nick);
	pl_xml_free(p);
}

static void leave(pl_muc_room *r, pl_muc_real *rl, pl_xml_node *p)
{
	pl_muc_occupant *o = rl->occ;
	char *full = pl_strdup(rl->full);
	if (o->nfulls > 1) {
		/* another session keeps the nick: only this one learns it left */
		int codes[1] = {110};
		pl_bytes *self = presence_bytes(o, "unavailable", 1, NULL, codes, 1, p);
		send_to_real(r->srv, full, self);
		pl_bytes_unref(self);
		remove_real(o, rl);
		free(full);
		return;
	}
	broadcast_unavailable(o, NULL, p);
	for (int i = 0; i < pl_muc_nhooks; i++)
		if (pl_muc_hook_table[i]->on_leave) pl_muc_hook_table[i]->on_leave(r, o);
	PL_DEBUG(0, "%s left %s", full, r->jid);
	free(full);
	remove_occupant(o);
}

static void change_nick(pl_muc_room *r, pl_muc_occupant *o, pl_xml_node *p, const char *nick)
{
	pl_muc_occupant *other = NULL;
	HASH_FIND_STR(r->by_nick, nick, other);
	if (other) {
		pl_muc_bounce(r->srv, p, "cancel", "conflict", "that nickname is in use");
		return;
	}
	broadcast_unavailable(o, nick, NULL);
	HASH_DEL(r->by_nick, o);
	free(o->nick);
	free(o->occ_jid);
	o->nick = pl_strdup(nick);
	o->occ_jid = make_occ_jid(r, nick);
	HASH_ADD_KEYPTR(hh, r->by_nick, o->nick, strlen(o->nick), o);
	set_payload(o, p);
	refresh_presence(o);
	broadcast_presence(o, NULL, 0);
	pl_xml_free(p);
}

void pl_muc_room_presence(pl_muc_room *r, pl_xml_node *p, const pl_jid *to, int created)
{
	const char *type = pl_xml_attr_get(p, "type");
	char *from = pl_strdup(pl_xml_attr_get(p, "from"));
	pl_muc_real *rl = NULL;
	HASH_FIND_STR(r->by_real, from, rl);
	if (type && (!strcmp(type, "unavailable") || !strcmp(type, "error"))) {
		/* an error from an occupant's client means it is gone (XEP-0045 §7.2.x, as servers do) */
		if (rl) leave(r, rl, p);
		pl_xml_free(p);
	} else if (type) {
		pl_muc_bounce(r->srv, p, "modify", "bad-request", NULL);
	} else if (!to->resource || !*to->resource) {
		pl_muc_bounce(r->srv, p, "modify", "jid-malformed", "a nickname is required");
	} else if (!rl) {
		join(r, p, from, to->resource, created);
	} else if (strcmp(rl->occ->nick, to->resource) != 0) {
		change_nick(r, rl->occ, p, to->resource);
	} else {
		set_payload(rl->occ, p);
		refresh_presence(rl->occ);
		broadcast_presence(rl->occ, NULL, 0);
		pl_xml_free(p);
	}
	free(from);
	if (r->noccupants == 0 && !r->cfg.persistent) pl_muc_room_destroy(r);
}

/* ---- role and affiliation changes (admin.c decides, this applies) ---- */

static void fire_role_change(pl_muc_occupant *o, int old_role, int old_aff)
{
	for (int i = 0; i < pl_muc_nhooks; i++)
		if (pl_muc_hook_table[i]->on_role_change)
			pl_muc_hook_table[i]->on_role_change(o->room, o, old_role, old_aff);
}

void pl_muc_room_set_role(pl_muc_occupant *o, int role, int aff)
{
	int old_role = o->role, old_aff = o->affiliation;
	if (role == old_role && aff == old_aff) return;
	o->role = role;
	o->affiliation = aff;
	refresh_presence(o);
	broadcast_presence(o, NULL, 0);
	fire_role_change(o, old_role, old_aff);
}

/* The item of an unavailable presence built by occupant_presence gets the actor and the reason. */
static pl_bytes *eject_bytes(const pl_muc_occupant *o, int with_jid, const int *codes, int n,
                             const char *actor_nick, const char *reason)
{
	pl_xml_node *p = occupant_presence(o, "unavailable", with_jid, NULL, codes, n, NULL);
	pl_xml_node *item = pl_xml_child(pl_xml_child(p, "x", PL_NS_MUC_USER), "item", NULL);
	if (actor_nick) pl_xml_set_attr(pl_xml_add_elem(item, "actor", NULL), "nick", actor_nick);
	if (reason) pl_xml_add_text_elem(item, "reason", NULL, reason);
	pl_bytes *b = pl_stanza_bytes(p);
	pl_xml_free(p);
	return b;
}

void pl_muc_room_eject(pl_muc_occupant *o, int code, const char *actor_nick, const char *reason)
{
	pl_muc_room *r = o->room;
	int old_role = o->role;
	o->role = PL_MUC_ROLE_NONE;
	int codes[2] = {code, 110};
	pl_bytes *full = eject_bytes(o, 1, codes, 1, actor_nick, reason);
	pl_bytes *anon =
	    r->cfg.whois_anyone ? pl_bytes_ref(full) : eject_bytes(o, 0, codes, 1, actor_nick, reason);
	for (pl_muc_occupant *x = r->by_nick; x; x = x->hh.next)
		if (x != o) pl_muc_send_to_occupant(x, sees_jid(r, x) ? full : anon);
	pl_bytes_unref(full);
	pl_bytes_unref(anon);
	pl_bytes *self = eject_bytes(o, 1, codes, 2, actor_nick, reason);
	pl_muc_send_to_occupant(o, self);
	pl_bytes_unref(self);
	fire_role_change(o, old_role, o->affiliation);
	for (int i = 0; i < pl_muc_nhooks; i++)
		if (pl_muc_hook_table[i]->on_leave) pl_muc_hook_table[i]->on_leave(r, o);
	PL_INFO(0, "%s removed from %s (status %d)", o->occ_jid, r->jid, code);
	remove_occupant(o);
}

/* ---- messages ---- */

static void groupchat(pl_muc_room *r, pl_muc_occupant *o, pl_xml_node *m)
{
	pl_xml_node *subject = pl_xml_child(m, "subject", NULL);
	pl_xml_node *body = pl_xml_child(m, "body", NULL);
	if (o->role == PL_MUC_ROLE_VISITOR) {
		pl_muc_bounce(r->srv, m, "auth", "forbidden", "visitors have no voice");
		return;
	}
	if (subject && !body && o->role != PL_MUC_ROLE_MODERATOR && !r->cfg.change_subject) {
		pl_muc_bounce(r->srv, m, "auth", "forbidden", "only moderators may change the subject");
		return;
	}
	pl_xml_set_attr(m, "from", o->occ_jid);
	pl_xml_set_attr(m, "to", NULL);
	if (subject && !body) {
		free(r->subject);
		free(r->subject_from);
		r->subject = pl_xml_text(subject);
		r->subject_from = pl_strdup(o->occ_jid);
	}
	for (int i = 0; i < pl_muc_nhooks; i++) {
		if (pl_muc_hook_table[i]->on_message && pl_muc_hook_table[i]->on_message(r, o, m) != 0) {
			pl_xml_free(m);
			return;
		}
	}
	pl_bytes *b = pl_stanza_bytes(m);
	for (pl_muc_occupant *x = r->by_nick; x; x = x->hh.next)
		pl_muc_send_to_occupant(x, b);
	pl_bytes_unref(b);
	if (body && r->history.cap > 0) {
		/* kept with its delay (XEP-0203, from the room), serialized once for every replay */
		time_t now = time(NULL);
		char stamp[32];
		pl_muc_format_datetime(now, stamp, sizeof stamp);
		pl_xml_node *d = pl_xml_add_elem(m, "delay", PL_NS_DELAY);
		pl_xml_set_attr(d, "from", r->jid);
		pl_xml_set_attr(d, "stamp", stamp);
		pl_bytes *hb = pl_stanza_bytes(m);
		pl_muc_history_push(&r->history, now, hb, hb->len);
	}
	pl_xml_free(m);
}

static void private_message(pl_muc_room *r, pl_muc_occupant *o, pl_xml_node *m, const char *nick)
{
	pl_muc_occupant *target = NULL;
	int pm = r->cfg.allow_pm;
	if (pm == PL_MUC_PM_NONE || (pm == PL_MUC_PM_PARTICIPANTS && o->role < PL_MUC_ROLE_PARTICIPANT) ||
	    (pm == PL_MUC_PM_MODERATORS && o->role < PL_MUC_ROLE_MODERATOR)) {
		pl_muc_bounce(r->srv, m, "cancel", "not-allowed",
		              "private messages are not allowed in this room");
		return;
	}
	HASH_FIND_STR(r->by_nick, nick, target);
	if (!target) {
		pl_muc_bounce(r->srv, m, "cancel", "item-not-found", "no such occupant");
		return;
	}
	pl_xml_set_attr(m, "from", o->occ_jid);
	pl_xml_set_attr(m, "to", NULL);
	if (!pl_xml_child(m, "x", PL_NS_MUC_USER)) pl_xml_add_elem(m, "x", PL_NS_MUC_USER); /* §7.5 */
	pl_bytes *b = pl_stanza_bytes(m);
	pl_muc_send_to_occupant(target, b);
	pl_bytes_unref(b);
	pl_xml_free(m);
}

void pl_muc_room_message(pl_muc_room *r, pl_xml_node *m, const pl_jid *to)
{
	const char *type = pl_xml_attr_get(m, "type");
	pl_muc_real *rl = NULL;
	HASH_FIND_STR(r->by_real, pl_xml_attr_get(m, "from"), rl);
	if (type && !strcmp(type, "error")) {
		pl_xml_free(m);
	} else if (!rl) {
		pl_muc_bounce(r->srv, m, "cancel", "not-acceptable",
		              "only occupants may send messages to the room");
	} else if (!to->resource) {
		if (type && !strcmp(type, "groupchat"))
			groupchat(r, rl->occ, m);
		else
			pl_muc_bounce(r->srv, m, "modify", "bad-request",
			              "messages to the room must be groupchat");
	} else if (type && !strcmp(type, "groupchat")) {
		pl_muc_bounce(r->srv, m, "modify", "bad-request", "groupchat messages go to the room");
	} else {
		private_message(r, rl->occ, m, to->resource);
	}
}
