/* roster.c: rosters (RFC 6121 §2): the jabber:iq:roster get and set handler with roster versioning,
 * roster pushes to interested resources, and the write-through of every change to the store. The
 * in-memory roster of a user is loaded by session.c; subscription states are changed by presence.c
 * through pl_roster_update. Entries that only remember a pending inbound subscription request are kept
 * invisible (never listed nor pushed) and stored with the reserved group "\x01pending", which no XML
 * client can send (U+0001 is not allowed in XML). */
#include "core/alloc.h"
#include "core/log.h"
#include "xmpp/server.h"
#include <string.h>

#define PENDING_GROUP "\x01pending"
#define MAX_GROUPS 64

static const char *sub_names[] = {"none", "to", "from", "both"};

pl_contact *pl_roster_find(pl_user *u, const char *jid)
{
	pl_contact *c = NULL;
	HASH_FIND_STR(u->contacts, jid, c);
	return c;
}

pl_contact *pl_roster_get_or_add(pl_user *u, const char *jid)
{
	pl_contact *c = pl_roster_find(u, jid);
	if (c) return c;
	c = PL_NEW(pl_contact);
	c->item.jid = pl_strdup(jid);
	HASH_ADD_KEYPTR(hh, u->contacts, c->item.jid, strlen(c->item.jid), c);
	return c;
}

static void add_item_xml(pl_xml_node *q, const pl_contact *c, int removed)
{
	pl_xml_node *it = pl_xml_add_elem(q, "item", NULL);
	pl_xml_set_attr(it, "jid", c->item.jid);
	if (removed) {
		pl_xml_set_attr(it, "subscription", "remove");
		return;
	}
	if (c->item.name) pl_xml_set_attr(it, "name", c->item.name);
	pl_xml_set_attr(it, "subscription", sub_names[c->item.subscription & 3]);
	if (c->item.ask) pl_xml_set_attr(it, "ask", "subscribe");
	for (size_t i = 0; i < c->item.ngroups; i++) pl_xml_add_text_elem(it, "group", NULL, c->item.groups[i]);
}

static void store_done(void *ud, int status)
{
	if (status != 0) PL_ERROR(0, "roster write failed: %d", status);
}

static void push(pl_user *u, pl_contact *c, int removed)
{
	char ver[32];
	snprintf(ver, sizeof ver, "%lld", u->roster_ver);
	pl_xml_node *iq = pl_xml_elem_new("iq", PL_NS_CLIENT);
	pl_xml_set_attr(iq, "type", "set");
	pl_xml_set_attr(iq, "id", "push");
	pl_xml_node *q = pl_xml_add_elem(iq, "query", PL_NS_ROSTER);
	pl_xml_set_attr(q, "ver", ver);
	add_item_xml(q, c, removed);
	pl_bytes *b = pl_stanza_bytes(iq);
	pl_xml_free(iq);
	for (pl_session *s = u->sessions; s; s = s->next_in_user)
		if (s->interested) pl_session_send(s, b);
	pl_bytes_unref(b);
}

static void contact_free(pl_contact *c)
{
	pl_roster_item_clear(&c->item);
	free(c);
}

/* Removes a contact entirely (store, memory) and pushes the removal when it was visible. */
static void roster_remove(pl_user *u, pl_contact *c)
{
	u->roster_ver++;
	if (!u->anonymous)
		pl_store_roster_delete(u->srv->store, u->domain, u->node, c->item.jid, store_done, NULL);
	HASH_DEL(u->contacts, c);
	if (c->visible) push(u, c, 1);
	contact_free(c);
}

void pl_roster_update(pl_user *u, pl_contact *c)
{
	if (!c->visible && c->item.subscription == PL_SUB_NONE && !c->item.ask && !c->item.pending_in) {
		roster_remove(u, c);
		return;
	}
	u->roster_ver++;
	if (!u->anonymous) {
		pl_roster_item tmp = c->item;
		char *pending[1] = {PENDING_GROUP};
		if (!c->visible) {
			tmp.groups = pending;
			tmp.ngroups = 1;
		}
		pl_store_roster_put(u->srv->store, u->domain, u->node, &tmp, store_done, NULL);
	}
	if (c->visible) push(u, c, 0);
}

static int roster_get(pl_session *from, pl_xml_node *iq, pl_user *u)
{
	pl_xml_node *q = pl_xml_first_elem(iq);
	const char *ver = pl_xml_attr_get(q, "ver");
	char cur[32];
	snprintf(cur, sizeof cur, "%lld", u->roster_ver);
	from->interested = 1;
	pl_xml_node *res = pl_iq_result(iq);
	if (ver && strcmp(ver, cur) == 0) { /* RFC 6121 §2.6.3: unchanged, pushes follow */
		pl_session_send_xml(from, res);
		pl_xml_free(res);
		return 1;
	}
	pl_xml_node *rq = pl_xml_add_elem(res, "query", PL_NS_ROSTER);
	pl_xml_set_attr(rq, "ver", cur);
	pl_contact *c, *tmp;
	HASH_ITER(hh, u->contacts, c, tmp)
	{
		if (c->visible) add_item_xml(rq, c, 0);
	}
	pl_session_send_xml(from, res);
	pl_xml_free(res);
	return 1;
}

static int roster_set(pl_session *from, pl_xml_node *iq, pl_user *u)
{
	pl_xml_node *q = pl_xml_first_elem(iq);
	if (pl_xml_count_elems(q) != 1) {
		pl_send_error(from, iq, "modify", "bad-request", "a roster set holds exactly one item");
		return 1;
	}
	pl_xml_node *it = pl_xml_child(q, "item", PL_NS_ROSTER);
	const char *jid = it ? pl_xml_attr_get(it, "jid") : NULL;
	pl_jid j;
	if (!jid || pl_jid_parse(jid, &j) != 0 || j.resource) {
		if (jid) pl_jid_clear(&j);
		pl_send_error(from, iq, "modify", "bad-request", "item needs a bare JID");
		return 1;
	}
	char *bare = pl_jid_bare_string(&j);
	pl_jid_clear(&j);
	if (strcmp(bare, u->bare) == 0) {
		free(bare);
		pl_send_error(from, iq, "cancel", "not-allowed", "the roster cannot hold the user's own JID");
		return 1;
	}
	const char *sub = pl_xml_attr_get(it, "subscription");
	pl_contact *c = pl_roster_find(u, bare);
	if (sub && strcmp(sub, "remove") == 0) {
		if (!c || !c->visible) {
			free(bare);
			pl_send_error(from, iq, "cancel", "item-not-found", NULL);
			return 1;
		}
		/* RFC 6121 §2.5.2: cancel both directions of the subscription */
		int had_to = c->item.subscription & PL_SUB_TO, had_from = c->item.subscription & PL_SUB_FROM;
		int ask = c->item.ask, pend = c->item.pending_in;
		if (had_from) {
			/* the contact stops seeing the user: unavailable from every available resource (RFC 6121
			 * §2.5.2, §3.2.2), sent while the contact is still known */
			pl_presence_unavailable_to(u, bare);
		}
		roster_remove(u, c);
		pl_xml_node *res = pl_iq_result(iq);
		pl_session_send_xml(from, res);
		pl_xml_free(res);
		if (had_to || ask) {
			pl_xml_node *p = pl_xml_elem_new("presence", PL_NS_CLIENT);
			pl_xml_set_attr(p, "type", "unsubscribe");
			pl_xml_set_attr(p, "to", bare);
			pl_jid tj;
			pl_jid_parse(bare, &tj);
			pl_presence_from_client(from, p, &tj);
			pl_jid_clear(&tj);
		}
		if (had_from || pend) {
			pl_xml_node *p = pl_xml_elem_new("presence", PL_NS_CLIENT);
			pl_xml_set_attr(p, "type", "unsubscribed");
			pl_xml_set_attr(p, "to", bare);
			pl_jid tj;
			pl_jid_parse(bare, &tj);
			pl_presence_from_client(from, p, &tj);
			pl_jid_clear(&tj);
		}
		free(bare);
		return 1;
	}
	size_t ngroups = 0;
	for (pl_xml_node *g = pl_xml_child(it, "group", NULL); g; g = pl_xml_next_child(it, g, "group", NULL))
		ngroups++;
	if (ngroups > MAX_GROUPS || (!c && HASH_COUNT(u->contacts) >= PL_MAX_ROSTER_ITEMS)) {
		free(bare);
		pl_send_error(from, iq, "wait", "resource-constraint", "roster limit reached");
		return 1;
	}
	char **groups = pl_calloc(ngroups + 1, sizeof(char *));
	size_t k = 0;
	for (pl_xml_node *g = pl_xml_child(it, "group", NULL); g; g = pl_xml_next_child(it, g, "group", NULL)) {
		char *t = pl_xml_text(g);
		int dup = !*t;
		for (size_t i = 0; i < k && !dup; i++) dup = strcmp(groups[i], t) == 0;
		if (dup) { /* RFC 6121 §2.3.3: empty or duplicate groups are errors */
			free(t);
			for (size_t i = 0; i < k; i++) free(groups[i]);
			free(groups);
			free(bare);
			pl_send_error(from, iq, "modify", "bad-request", "empty or duplicate group");
			return 1;
		}
		groups[k++] = t;
	}
	c = pl_roster_get_or_add(u, bare);
	free(bare);
	free(c->item.name);
	const char *name = pl_xml_attr_get(it, "name");
	c->item.name = name && *name ? pl_strdup(name) : NULL;
	for (size_t i = 0; i < c->item.ngroups; i++) free(c->item.groups[i]);
	free(c->item.groups);
	c->item.groups = groups;
	c->item.ngroups = k;
	c->visible = 1;
	pl_roster_update(u, c);
	pl_xml_node *res = pl_iq_result(iq);
	pl_session_send_xml(from, res);
	pl_xml_free(res);
	return 1;
}

int pl_roster_iq(pl_session *from, pl_xml_node *iq, pl_user *to_user)
{
	if (to_user != from->user) {
		pl_send_error(from, iq, "auth", "forbidden", NULL);
		return 1;
	}
	const char *type = pl_xml_attr_get(iq, "type");
	if (strcmp(type, "get") == 0) return roster_get(from, iq, to_user);
	return roster_set(from, iq, to_user);
}
