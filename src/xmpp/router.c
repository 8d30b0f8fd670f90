/* router.c: where a stanza goes (RFC 6120 §10, RFC 6121 §8).
 *
 * It stamps the sender's full JID on what a client sends, checks the 'to' address, and dispatches:
 * presence to presence.c, iqs for the server or a user's bare JID to iq.c, everything else to the
 * addressed sessions by the delivery rules for bare and full JIDs (highest non-negative priority,
 * offline storage for chat and normal messages, errors for what cannot be delivered). Domains that are
 * not served here get remote-server-not-found until federation exists. It also builds stanza errors and
 * the shared serialization of a stanza. */
#include "core/alloc.h"
#include "core/log.h"
#include "muc/muc.h"
#include "xmpp/server.h"
#include <string.h>

pl_bytes *pl_stanza_bytes(const pl_xml_node *stanza)
{
	pl_buf b = PL_BUF_INIT;
	pl_xml_serialize(stanza, NULL, &b);
	return pl_bytes_from_buf(&b);
}

pl_xml_node *pl_stanza_error(const pl_xml_node *req, const char *type, const char *condition,
	const char *text)
{
	pl_xml_node *e = pl_xml_copy(req);
	const char *from = pl_xml_attr_get(req, "from");
	const char *to = pl_xml_attr_get(req, "to");
	char *f = pl_strdup(from), *t = pl_strdup(to);
	pl_xml_set_attr(e, "from", t);
	pl_xml_set_attr(e, "to", f);
	free(f);
	free(t);
	pl_xml_set_attr(e, "type", "error");
	/* an iq error carries no payload other than the error; messages keep their content (RFC 6120 §8.3.1) */
	if (strcmp(e->name, "iq") == 0) {
		while (e->nchildren) pl_xml_free(e->children[e->nchildren - 1]);
	}
	pl_xml_node *err = pl_xml_add_elem(e, "error", NULL);
	pl_xml_set_attr(err, "type", type);
	pl_xml_add_elem(err, condition, PL_NS_STANZAS);
	if (text) {
		pl_xml_node *t2 = pl_xml_add_text_elem(err, "text", PL_NS_STANZAS, text);
		pl_xml_set_attr(t2, "xml:lang", "en");
	}
	return e;
}

pl_xml_node *pl_iq_result(const pl_xml_node *req)
{
	pl_xml_node *r = pl_xml_elem_new("iq", PL_NS_CLIENT);
	const char *id = pl_xml_attr_get(req, "id");
	const char *from = pl_xml_attr_get(req, "from");
	const char *to = pl_xml_attr_get(req, "to");
	pl_xml_set_attr(r, "type", "result");
	if (id) pl_xml_set_attr(r, "id", id);
	if (to) pl_xml_set_attr(r, "from", to);
	if (from) pl_xml_set_attr(r, "to", from);
	return r;
}

void pl_send_error(pl_session *s, const pl_xml_node *req, const char *type, const char *condition,
	const char *text)
{
	const char *t = pl_xml_attr_get(req, "type");
	if (t && strcmp(t, "error") == 0) return; /* never answer an error with an error */
	pl_xml_node *e = pl_stanza_error(req, type, condition, text);
	if (!pl_xml_attr_get(e, "from")) pl_xml_set_attr(e, "from", s->user->domain);
	pl_xml_set_attr(e, "to", s->full);
	pl_session_send_xml(s, e);
	pl_xml_free(e);
}

/* Sends an error for a stanza to its sender, wherever that is (used for stanzas routed locally). */
static void bounce(pl_server *srv, pl_xml_node *st, const char *type, const char *condition)
{
	const char *t = pl_xml_attr_get(st, "type");
	const char *from = pl_xml_attr_get(st, "from");
	if ((t && strcmp(t, "error") == 0) || !from) {
		pl_xml_free(st);
		return;
	}
	if (strcmp(st->name, "presence") == 0) { /* presence is never bounced */
		pl_xml_free(st);
		return;
	}
	pl_xml_node *e = pl_stanza_error(st, type, condition, NULL);
	pl_xml_free(st);
	pl_route_local(srv, e);
}

static int valid_type(const char *name, const char *type)
{
	if (strcmp(name, "message") == 0)
		return !type || !strcmp(type, "chat") || !strcmp(type, "normal") || !strcmp(type, "groupchat") ||
		       !strcmp(type, "headline") || !strcmp(type, "error");
	if (strcmp(name, "iq") == 0)
		return type && (!strcmp(type, "get") || !strcmp(type, "set") || !strcmp(type, "result") ||
				       !strcmp(type, "error"));
	return !type || !strcmp(type, "unavailable") || !strcmp(type, "subscribe") ||
	       !strcmp(type, "subscribed") || !strcmp(type, "unsubscribe") || !strcmp(type, "unsubscribed") ||
	       !strcmp(type, "probe") || !strcmp(type, "error");
}

void pl_route_from_client(pl_session *from, pl_xml_node *st)
{
	const char *type = pl_xml_attr_get(st, "type");
	const char *to = pl_xml_attr_get(st, "to");
	int is_iq = strcmp(st->name, "iq") == 0;
	if (!valid_type(st->name, type)) {
		pl_send_error(from, st, "modify", "bad-request", "invalid type attribute");
		pl_xml_free(st);
		return;
	}
	if (is_iq) {
		/* RFC 6120 §8.2.3: a get/set has exactly one payload; result at most one (an error may carry
		 * the original payload besides <error/>) */
		size_t n = pl_xml_count_elems(st);
		if (!pl_xml_attr_get(st, "id") || ((!strcmp(type, "get") || !strcmp(type, "set")) && n != 1) ||
			(!strcmp(type, "result") && n > 1)) {
			pl_send_error(from, st, "modify", "bad-request", "malformed iq");
			pl_xml_free(st);
			return;
		}
	}
	pl_xml_set_attr(st, "from", from->full);
	pl_jid jid;
	memset(&jid, 0, sizeof jid);
	if (to && pl_jid_parse(to, &jid) != 0) {
		pl_send_error(from, st, "modify", "jid-malformed", NULL);
		pl_xml_free(st);
		return;
	}
	if (to) {
		char *canon = pl_jid_to_string(&jid);
		pl_xml_set_attr(st, "to", canon);
		free(canon);
	}
	if (strcmp(st->name, "presence") == 0) {
		pl_presence_from_client(from, st, to ? &jid : NULL);
		pl_jid_clear(&jid);
		return;
	}
	if (!to) {
		/* no 'to': addressed to the sender's own account (RFC 6120 §10.3.3) */
		if (is_iq) {
			pl_jid_make(from->user->node, from->user->domain, NULL, &jid);
			pl_iq_handle(from, st, &jid);
		} else {
			pl_xml_set_attr(st, "to", from->user->bare);
			pl_route_local(from->srv, st);
		}
		pl_jid_clear(&jid);
		return;
	}
	if (pl_muc_is_service(from->srv, jid.domain)) {
		/* a MUC service domain: the service, its rooms and their occupants are src/muc's */
		pl_jid_clear(&jid);
		pl_muc_route(from->srv, st);
		return;
	}
	if (!pl_server_is_local_domain(from->srv, jid.domain)) {
		pl_send_error(from, st, "cancel", "remote-server-not-found", "federation is not enabled");
		pl_xml_free(st);
		pl_jid_clear(&jid);
		return;
	}
	if (is_iq && !jid.resource && (!strcmp(type, "get") || !strcmp(type, "set"))) {
		pl_iq_handle(from, st, &jid);
		pl_jid_clear(&jid);
		return;
	}
	pl_jid_clear(&jid);
	pl_route_local(from->srv, st);
}

static int deliverable(const pl_session *s) { return s->available && s->priority >= 0; }

/* Delivers to the best sessions of a user for a message to the bare JID; returns how many took it (a
 * session whose transport refused it does not count, so the message can still go to offline storage). */
static int deliver_bare_message(pl_user *u, pl_xml_node *st, int all_nonneg)
{
	int best = -129;
	for (pl_session *s = u->sessions; s; s = s->next_in_user)
		if (deliverable(s) && s->priority > best) best = s->priority;
	if (best < 0) return 0;
	pl_bytes *b = pl_stanza_bytes(st);
	int n = 0;
	for (pl_session *s = u->sessions; s; s = s->next_in_user) {
		if (!deliverable(s) || (!all_nonneg && s->priority != best)) continue;
		if (pl_session_send(s, b) == 0) n++;
	}
	pl_bytes_unref(b);
	return n;
}

void pl_route_local(pl_server *srv, pl_xml_node *st)
{
	const char *to = pl_xml_attr_get(st, "to");
	const char *type = pl_xml_attr_get(st, "type");
	pl_jid jid;
	if (!to || pl_jid_parse(to, &jid) != 0) {
		pl_xml_free(st);
		return;
	}
	if (pl_muc_is_service(srv, jid.domain)) {
		/* to a MUC domain: directed presence (joins, and the unavailable presence presence.c sends to
		 * directed-presence targets when a session ends, which makes the occupant leave) */
		pl_jid_clear(&jid);
		pl_muc_route(srv, st);
		return;
	}
	if (!pl_server_is_local_domain(srv, jid.domain)) {
		pl_jid_clear(&jid);
		bounce(srv, st, "cancel", "remote-server-not-found");
		return;
	}
	if (!jid.node) {
		/* addressed to the server itself: iq results/errors to the server end here; messages are
		 * not handled by the server yet */
		pl_jid_clear(&jid);
		if (strcmp(st->name, "message") == 0 && (!type || strcmp(type, "error") != 0))
			bounce(srv, st, "cancel", "service-unavailable");
		else
			pl_xml_free(st);
		return;
	}
	char *bare = pl_jid_bare_string(&jid);
	pl_user *u = pl_user_find(srv, bare);
	free(bare);
	int is_msg = strcmp(st->name, "message") == 0;
	if (jid.resource) {
		pl_session *s = NULL;
		if (u) {
			char *full = pl_jid_to_string(&jid);
			s = pl_session_find(srv, full);
			free(full);
		}
		/* a chat or normal message the resource's transport refused falls back to the bare JID */
		int fallback = is_msg && (!type || !strcmp(type, "chat") || !strcmp(type, "normal"));
		if (s && (pl_session_send_xml(s, st) == 0 || !fallback)) {
			pl_xml_free(st);
			pl_jid_clear(&jid);
			return;
		}
		/* RFC 6121 §8.5.3.2: no such resource */
		if (strcmp(st->name, "iq") == 0) {
			if (type && (!strcmp(type, "get") || !strcmp(type, "set")))
				bounce(srv, st, "cancel", "service-unavailable");
			else
				pl_xml_free(st);
			pl_jid_clear(&jid);
			return;
		}
		if (!is_msg || (type && (!strcmp(type, "groupchat") || !strcmp(type, "headline") ||
					       !strcmp(type, "error")))) {
			if (is_msg && type && !strcmp(type, "groupchat"))
				bounce(srv, st, "cancel", "service-unavailable");
			else
				pl_xml_free(st);
			pl_jid_clear(&jid);
			return;
		}
		/* chat and normal messages fall back to the bare JID */
	}
	if (is_msg) {
		if (type && !strcmp(type, "groupchat")) {
			bounce(srv, st, "cancel", "service-unavailable");
		} else if (type && !strcmp(type, "error")) {
			if (u) deliver_bare_message(u, st, 1);
			pl_xml_free(st);
		} else {
			int headline = type && !strcmp(type, "headline");
			int n = u ? deliver_bare_message(u, st, 1) : 0;
			if (n == 0 && !headline)
				pl_offline_store(srv, &jid, st); /* takes ownership */
			else
				pl_xml_free(st);
		}
		pl_jid_clear(&jid);
		return;
	}
	if (strcmp(st->name, "iq") == 0) {
		/* iq results/errors to a bare JID: nobody waits for them */
		pl_xml_free(st);
		pl_jid_clear(&jid);
		return;
	}
	/* presence from the server side (probes answered, subscriptions) is handled by presence.c;
	 * presence routed here is delivered to every available session */
	if (u) {
		pl_bytes *b = pl_stanza_bytes(st);
		for (pl_session *s = u->sessions; s; s = s->next_in_user)
			if (s->available) pl_session_send(s, b);
		pl_bytes_unref(b);
	}
	pl_xml_free(st);
	pl_jid_clear(&jid);
}
