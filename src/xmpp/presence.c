/* presence.c: presence (RFC 6121 §3-4): availability broadcast to subscribed contacts and to the user's
 * own resources, probes answered from the presence of online contacts, directed presence (remembered
 * so that going offline reaches the same entities), and the subscription state machine for both ends
 * (subscribe, subscribed, unsubscribe, unsubscribed), including requests kept for contacts who are
 * offline and redelivered at their next initial presence. A subscription that would add a contact to a
 * full roster (PL_MAX_ROSTER_ITEMS) is refused with resource-constraint (outbound) or dropped
 * (inbound). Both ends are local until federation exists.
 * Roster storage and pushes are roster.c's; offline message delivery is offline.c's. */
#include "core/alloc.h"
#include "core/log.h"
#include "muc/muc.h"
#include "xmpp/server.h"
#include <string.h>

#define MAX_DIRECTED 100

/* Sends bytes to every available session of a local user given by bare JID (if online). */
static void send_to_user_available(pl_server *srv, const char *bare, pl_bytes *b)
{
	pl_user *u = pl_user_find(srv, bare);
	if (!u) return;
	for (pl_session *s = u->sessions; s; s = s->next_in_user)
		if (s->available) pl_session_send(s, b);
}

static pl_xml_node *presence_new(const char *type, const char *from, const char *to)
{
	pl_xml_node *p = pl_xml_elem_new("presence", PL_NS_CLIENT);
	if (type) pl_xml_set_attr(p, "type", type);
	if (from) pl_xml_set_attr(p, "from", from);
	if (to) pl_xml_set_attr(p, "to", to);
	return p;
}

/* Broadcast of a session's presence bytes to contacts with a 'from' subscription and to the user's own
 * available sessions. */
static void broadcast(pl_session *s, pl_bytes *b)
{
	pl_user *u = s->user;
	pl_contact *c, *tmp;
	HASH_ITER(hh, u->contacts, c, tmp)
	{
		if (c->item.subscription & PL_SUB_FROM) send_to_user_available(s->srv, c->item.jid, b);
	}
	for (pl_session *o = u->sessions; o; o = o->next_in_user)
		if (o->available || o == s) pl_session_send(o, b);
}

/* Sends the presence of every available session of `of` to session `to` (probe answer). */
static void send_current_presence(pl_server *srv, const char *of_bare, pl_session *to)
{
	pl_user *u = pl_user_find(srv, of_bare);
	if (!u) return;
	for (pl_session *s = u->sessions; s; s = s->next_in_user)
		if (s->available && s->presence) pl_session_send(to, s->presence);
}

/* Sends the presence of every available session of user `of` to every available session of the user
 * `to_bare` (after a subscription was approved), or unavailable when `unavailable`. */
static void send_presence_of_user_to(pl_server *srv, pl_user *of, const char *to_bare, int unavailable)
{
	/* serialized once per session, the same bytes to every session of to_bare */
	for (pl_session *s = of->sessions; s; s = s->next_in_user) {
		if (!s->available || !s->presence) continue;
		if (unavailable) {
			pl_xml_node *p = presence_new("unavailable", s->full, to_bare);
			pl_bytes *b = pl_stanza_bytes(p);
			pl_xml_free(p);
			send_to_user_available(srv, to_bare, b);
			pl_bytes_unref(b);
		} else {
			send_to_user_available(srv, to_bare, s->presence);
		}
	}
}

static void remember_directed(pl_session *s, const char *to)
{
	for (size_t i = 0; i < s->ndirected; i++)
		if (strcmp(s->directed[i], to) == 0) return;
	if (s->ndirected >= MAX_DIRECTED) return;
	s->directed = pl_realloc(s->directed, (s->ndirected + 1) * sizeof(char *));
	s->directed[s->ndirected++] = pl_strdup(to);
}

static void forget_directed(pl_session *s, const char *to)
{
	for (size_t i = 0; i < s->ndirected; i++) {
		if (strcmp(s->directed[i], to) == 0) {
			free(s->directed[i]);
			s->directed[i] = s->directed[--s->ndirected];
			return;
		}
	}
}

static void send_unavailable_to_directed(pl_session *s)
{
	for (size_t i = 0; i < s->ndirected; i++) {
		pl_xml_node *p = presence_new("unavailable", s->full, s->directed[i]);
		pl_route_local(s->srv, p);
		free(s->directed[i]);
	}
	s->ndirected = 0;
}

static void initial_presence(pl_session *s)
{
	pl_user *u = s->user;
	pl_contact *c, *tmp;
	HASH_ITER(hh, u->contacts, c, tmp)
	{
		if (c->item.subscription & PL_SUB_TO) send_current_presence(s->srv, c->item.jid, s);
		if (c->item.pending_in) { /* redeliver requests that waited (RFC 6121 §3.1.3) */
			pl_xml_node *p = presence_new("subscribe", c->item.jid, u->bare);
			pl_session_send_xml(s, p);
			pl_xml_free(p);
		}
	}
	/* the user's other available resources: their presence to the new one */
	for (pl_session *o = u->sessions; o; o = o->next_in_user)
		if (o != s && o->available && o->presence) pl_session_send(s, o->presence);
}

/* ---- subscriptions ---- */

typedef struct sub_ctx {
	char *type;
	char *from_bare; /* the user who sent the subscription stanza */
	char *to_bare;   /* the contact */
	pl_xml_node *stanza; /* as delivered to the contact (from/to bare JIDs) */
} sub_ctx;

static void sub_ctx_free(sub_ctx *x)
{
	free(x->type);
	free(x->from_bare);
	free(x->to_bare);
	pl_xml_free(x->stanza);
	free(x);
}

static void deliver_to_available(pl_user *u, const pl_xml_node *st)
{
	pl_bytes *b = pl_stanza_bytes(st);
	for (pl_session *s = u->sessions; s; s = s->next_in_user)
		if (s->available) pl_session_send(s, b);
	pl_bytes_unref(b);
}

static void inbound_subscription(pl_server *srv, pl_user *u, int status, void *ud);

/* Hands a subscription stanza to the contact's side (loading the contact's roster if needed). */
static void route_subscription(pl_server *srv, const char *type, const char *from_bare, const char *to_bare,
	const pl_xml_node *orig)
{
	pl_jid to;
	if (pl_jid_parse(to_bare, &to) != 0) return;
	if (!to.node || !pl_server_is_local_domain(srv, to.domain)) {
		pl_jid_clear(&to);
		return; /* the server itself and remote domains: nothing to do without federation */
	}
	sub_ctx *x = PL_NEW(sub_ctx);
	x->type = pl_strdup(type);
	x->from_bare = pl_strdup(from_bare);
	x->to_bare = pl_strdup(to_bare);
	x->stanza = orig ? pl_xml_copy(orig) : presence_new(type, NULL, NULL);
	pl_xml_set_attr(x->stanza, "from", from_bare);
	pl_xml_set_attr(x->stanza, "to", to_bare);
	pl_xml_set_attr(x->stanza, "type", type);
	pl_xml_set_attr(x->stanza, "id", pl_xml_attr_get(orig, "id"));
	pl_user *existing = pl_user_find(srv, to_bare);
	pl_user_with(srv, to.node, to.domain, existing ? existing->anonymous : 0, inbound_subscription, x);
	pl_jid_clear(&to);
}

/* The contact's side of a subscription stanza (RFC 6121 §3.1.3, 3.1.6, 3.2.3, 3.3.3). `u` is the
 * receiving user, x->from_bare the sender. */
static void inbound_subscription(pl_server *srv, pl_user *u, int status, void *ud)
{
	sub_ctx *x = ud;
	if (status != 0) { /* no such account: subscription stanzas are dropped silently */
		sub_ctx_free(x);
		return;
	}
	pl_contact *c = pl_roster_find(u, x->from_bare);
	const char *t = x->type;
	if (!strcmp(t, "subscribe")) {
		if (c && (c->item.subscription & PL_SUB_FROM)) {
			/* already approved: answer for the user */
			route_subscription(srv, "subscribed", u->bare, x->from_bare, NULL);
		} else if (!c && HASH_COUNT(u->contacts) >= PL_MAX_ROSTER_ITEMS) {
			/* the contact's roster is full: the request is dropped */
			PL_INFO(0, "subscription request from %s to %s dropped: roster full", x->from_bare, u->bare);
		} else {
			c = pl_roster_get_or_add(u, x->from_bare);
			if (!c->item.pending_in) {
				c->item.pending_in = 1;
				pl_roster_update(u, c);
			}
			deliver_to_available(u, x->stanza);
		}
	} else if (!strcmp(t, "subscribed")) {
		if (c && c->item.ask) {
			c->item.ask = 0;
			c->item.subscription |= PL_SUB_TO;
			pl_roster_update(u, c);
			deliver_to_available(u, x->stanza);
			/* the contact's current presence follows (sent by the contact's side) */
		}
	} else if (!strcmp(t, "unsubscribe")) {
		if (c && ((c->item.subscription & PL_SUB_FROM) || c->item.pending_in)) {
			int had_from = c->item.subscription & PL_SUB_FROM;
			c->item.subscription &= ~PL_SUB_FROM;
			c->item.pending_in = 0;
			deliver_to_available(u, x->stanza);
			pl_roster_update(u, c);
			if (had_from) {
				pl_user *sender = pl_user_find(srv, x->from_bare);
				if (sender) send_presence_of_user_to(srv, u, sender->bare, 1);
			}
		}
	} else if (!strcmp(t, "unsubscribed")) {
		if (c && ((c->item.subscription & PL_SUB_TO) || c->item.ask)) {
			c->item.subscription &= ~PL_SUB_TO;
			c->item.ask = 0;
			deliver_to_available(u, x->stanza);
			pl_roster_update(u, c);
		}
	}
	sub_ctx_free(x);
}

/* The user's side of an outbound subscription stanza (RFC 6121 §3.1.2, 3.1.5, 3.2.2, 3.3.2). */
static void outbound_subscription(pl_session *s, pl_xml_node *p, const pl_jid *to)
{
	pl_user *u = s->user;
	const char *type = pl_xml_attr_get(p, "type");
	char *to_bare = pl_jid_bare_string(to);
	if (strcmp(to_bare, u->bare) == 0) {
		free(to_bare);
		pl_xml_free(p);
		return;
	}
	pl_contact *c = pl_roster_find(u, to_bare);
	int route = 1;
	if (!strcmp(type, "subscribe")) {
		if (!c && HASH_COUNT(u->contacts) >= PL_MAX_ROSTER_ITEMS) {
			pl_send_error(s, p, "wait", "resource-constraint", "roster limit reached");
			free(to_bare);
			pl_xml_free(p);
			return;
		}
		c = pl_roster_get_or_add(u, to_bare);
		if (!(c->item.subscription & PL_SUB_TO) && (!c->item.ask || !c->visible)) {
			c->item.ask = 1;
			c->visible = 1;
			pl_roster_update(u, c);
		}
	} else if (!strcmp(type, "subscribed")) {
		if (c && c->item.pending_in) {
			c->item.pending_in = 0;
			c->item.subscription |= PL_SUB_FROM;
			c->visible = 1;
			pl_roster_update(u, c);
			route_subscription(s->srv, "subscribed", u->bare, to_bare, p);
			/* the user's current presence goes to the new subscriber (RFC 6121 §3.1.5) */
			send_presence_of_user_to(s->srv, u, to_bare, 0);
			route = 0;
		} else {
			route = 0; /* no pending request: pre-approval is not supported, ignore */
		}
	} else if (!strcmp(type, "unsubscribe")) {
		if (c && ((c->item.subscription & PL_SUB_TO) || c->item.ask)) {
			c->item.subscription &= ~PL_SUB_TO;
			c->item.ask = 0;
			pl_roster_update(u, c);
		}
	} else if (!strcmp(type, "unsubscribed")) {
		if (c && ((c->item.subscription & PL_SUB_FROM) || c->item.pending_in)) {
			int had_from = c->item.subscription & PL_SUB_FROM;
			c->item.subscription &= ~PL_SUB_FROM;
			c->item.pending_in = 0;
			pl_roster_update(u, c);
			if (had_from) send_presence_of_user_to(s->srv, u, to_bare, 1);
		}
	}
	if (route) route_subscription(s->srv, type, u->bare, to_bare, p);
	free(to_bare);
	pl_xml_free(p);
}

/* ---- from the client ---- */

void pl_presence_from_client(pl_session *s, pl_xml_node *p, const pl_jid *to)
{
	const char *type = pl_xml_attr_get(p, "type");
	if (type && (!strcmp(type, "subscribe") || !strcmp(type, "subscribed") || !strcmp(type, "unsubscribe") ||
			    !strcmp(type, "unsubscribed"))) {
		if (!to) {
			pl_send_error(s, p, "modify", "bad-request", "subscription requests need a 'to'");
			pl_xml_free(p);
			return;
		}
		outbound_subscription(s, p, to);
		return;
	}
	if (type && (!strcmp(type, "probe") || !strcmp(type, "error"))) {
		pl_xml_free(p); /* probes are the server's business */
		return;
	}
	int unavailable = type && !strcmp(type, "unavailable");
	if (to) { /* directed presence */
		char *target = pl_jid_to_string(to);
		char *bare = pl_jid_bare_string(to);
		pl_contact *c = pl_roster_find(s->user, bare);
		int subscribed = c && (c->item.subscription & PL_SUB_FROM);
		if (!subscribed && strcmp(bare, s->user->bare) != 0) {
			if (unavailable) forget_directed(s, target);
			/* a MUC join counts even before initial presence: the room must learn when the
			 * session ends */
			else if (s->available || pl_muc_is_service(s->srv, to->domain))
				remember_directed(s, target);
		}
		free(target);
		free(bare);
		pl_route_local(s->srv, p);
		return;
	}
	if (!unavailable) {
		char *prio = pl_xml_child_text(p, "priority", NULL);
		long pr = 0;
		if (prio) {
			char *end = NULL;
			pr = strtol(prio, &end, 10);
			if (!*prio || *end || pr < -128 || pr > 127) {
				free(prio);
				pl_send_error(s, p, "modify", "bad-request", "priority must be -128..127");
				pl_xml_free(p);
				return;
			}
			free(prio);
		}
		int initial = !s->available;
		s->available = 1;
		s->priority = (int)pr;
		pl_bytes_unref(s->presence);
		pl_xml_set_attr(p, "to", NULL);
		s->presence = pl_stanza_bytes(p);
		broadcast(s, s->presence);
		if (initial) {
			initial_presence(s);
			if (s->priority >= 0) pl_offline_deliver(s);
		}
		pl_xml_free(p);
		return;
	}
	if (!s->available) {
		pl_xml_free(p);
		return;
	}
	pl_xml_set_attr(p, "to", NULL);
	pl_bytes *b = pl_stanza_bytes(p);
	broadcast(s, b);
	pl_bytes_unref(b);
	s->available = 0;
	pl_bytes_unref(s->presence);
	s->presence = NULL;
	send_unavailable_to_directed(s);
	pl_xml_free(p);
}

void pl_presence_session_ended(pl_session *s)
{
	if (!s->available) {
		send_unavailable_to_directed(s);
		return;
	}
	pl_xml_node *p = presence_new("unavailable", s->full, NULL);
	pl_bytes *b = pl_stanza_bytes(p);
	pl_xml_free(p);
	s->available = 0;
	broadcast(s, b); /* s left the session list already: reaches contacts and other resources */
	pl_bytes_unref(b);
	send_unavailable_to_directed(s);
}

void pl_presence_unavailable_to(pl_user *of, const char *to_bare)
{
	send_presence_of_user_to(of->srv, of, to_bare, 1);
}
