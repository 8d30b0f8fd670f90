/* iq.c: iqs addressed to the server or to a user's bare JID. It owns the table of iq handlers by payload
 * namespace (the extension point later modules register into), the server's disco#info features and
 * the built-in handlers: service discovery (XEP-0030), software version (XEP-0092) and ping (XEP-0199).
 * Roster iqs are registered here and implemented in roster.c. Anything nobody handles gets
 * service-unavailable (RFC 6120 §8.4). */
#include "core/alloc.h"
#include "core/log.h"
#include "xmpp/server.h"
#include <string.h>

#define MAX_HANDLERS 64
#define MAX_FEATURES 64

static struct {
	const char *ns;
	int for_server, for_user;
	pl_iq_handler h;
} handlers[MAX_HANDLERS];
static int nhandlers;
static const char *features[MAX_FEATURES];
static int nfeatures;

int pl_iq_register(const char *ns, int for_server, int for_user, pl_iq_handler h)
{
	if (nhandlers >= MAX_HANDLERS) return -1;
	handlers[nhandlers].ns = ns;
	handlers[nhandlers].for_server = for_server;
	handlers[nhandlers].for_user = for_user;
	handlers[nhandlers].h = h;
	nhandlers++;
	return 0;
}

void pl_disco_add_feature(const char *feature)
{
	for (int i = 0; i < nfeatures; i++)
		if (strcmp(features[i], feature) == 0) return;
	if (nfeatures < MAX_FEATURES) features[nfeatures++] = feature;
}

static void reply(pl_session *from, pl_xml_node *res)
{
	pl_session_send_xml(from, res);
	pl_xml_free(res);
}

static int is_get(const pl_xml_node *iq)
{
	const char *t = pl_xml_attr_get(iq, "type");
	return t && strcmp(t, "get") == 0;
}

static int disco_info(pl_session *from, pl_xml_node *iq, pl_user *to_user)
{
	if (!is_get(iq)) return 0;
	pl_xml_node *q = pl_xml_first_elem(iq);
	const char *node = pl_xml_attr_get(q, "node");
	if (node) {
		pl_send_error(from, iq, "cancel", "item-not-found", NULL);
		return 1;
	}
	pl_xml_node *res = pl_iq_result(iq);
	pl_xml_node *rq = pl_xml_add_elem(res, "query", PL_NS_DISCO_INFO);
	if (!to_user) {
		pl_xml_node *id = pl_xml_add_elem(rq, "identity", NULL);
		pl_xml_set_attr(id, "category", "server");
		pl_xml_set_attr(id, "type", "im");
		pl_xml_set_attr(id, "name", "parley");
		for (int i = 0; i < nfeatures; i++)
			pl_xml_set_attr(pl_xml_add_elem(rq, "feature", NULL), "var", features[i]);
	} else {
		/* a user's account (XEP-0030 §3.1 for accounts; only the owner learns about it here) */
		pl_xml_node *id = pl_xml_add_elem(rq, "identity", NULL);
		pl_xml_set_attr(id, "category", "account");
		pl_xml_set_attr(id, "type", "registered");
		pl_xml_set_attr(pl_xml_add_elem(rq, "feature", NULL), "var", PL_NS_DISCO_INFO);
	}
	reply(from, res);
	return 1;
}

static int disco_items(pl_session *from, pl_xml_node *iq, pl_user *to_user)
{
	if (!is_get(iq)) return 0;
	pl_xml_node *res = pl_iq_result(iq);
	pl_xml_node *q = pl_xml_add_elem(res, "query", PL_NS_DISCO_ITEMS);
	const char *node = pl_xml_attr_get(pl_xml_first_elem(iq), "node");
	if (node) pl_xml_set_attr(q, "node", node);
	reply(from, res);
	return 1;
}

static int version(pl_session *from, pl_xml_node *iq, pl_user *to_user)
{
	if (!is_get(iq)) return 0;
	pl_xml_node *res = pl_iq_result(iq);
	pl_xml_node *q = pl_xml_add_elem(res, "query", PL_NS_VERSION);
	pl_xml_add_text_elem(q, "name", NULL, "parley");
	pl_xml_add_text_elem(q, "version", NULL, "0.1.0");
	pl_xml_add_text_elem(q, "os", NULL, "Linux");
	reply(from, res);
	return 1;
}

static int ping(pl_session *from, pl_xml_node *iq, pl_user *to_user)
{
	if (!is_get(iq)) return 0;
	reply(from, pl_iq_result(iq));
	return 1;
}

void pl_iq_init(void)
{
	if (nhandlers) return;
	pl_iq_register(PL_NS_DISCO_INFO, 1, 1, disco_info);
	pl_iq_register(PL_NS_DISCO_ITEMS, 1, 1, disco_items);
	pl_iq_register(PL_NS_VERSION, 1, 0, version);
	pl_iq_register(PL_NS_PING, 1, 1, ping);
	pl_iq_register(PL_NS_ROSTER, 0, 1, pl_roster_iq);
	pl_disco_add_feature(PL_NS_DISCO_INFO);
	pl_disco_add_feature(PL_NS_DISCO_ITEMS);
	pl_disco_add_feature(PL_NS_VERSION);
	pl_disco_add_feature(PL_NS_PING);
	pl_disco_add_feature(PL_NS_ROSTER);
	pl_disco_add_feature("urn:xmpp:sm:3");
	pl_disco_add_feature("msgoffline");
	pl_disco_add_feature(PL_NS_LIMITS);
}

typedef struct iq_ctx {
	pl_session *from;
	pl_xml_node *iq;
	char *full; /* to re-find the session: it may have ended while the user loaded */
} iq_ctx;

static void iq_dispatch(pl_session *from, pl_xml_node *iq, pl_user *to_user)
{
	pl_xml_node *payload = pl_xml_first_elem(iq);
	const char *ns = payload && payload->ns ? payload->ns : "";
	for (int i = 0; i < nhandlers; i++) {
		if (strcmp(handlers[i].ns, ns) != 0) continue;
		if (to_user ? !handlers[i].for_user : !handlers[i].for_server) continue;
		if (handlers[i].h(from, iq, to_user)) return;
	}
	pl_send_error(from, iq, "cancel", "service-unavailable", NULL);
}

static void iq_user_loaded(pl_server *srv, pl_user *u, int status, void *ud)
{
	iq_ctx *c = ud;
	pl_session *from = pl_session_find(srv, c->full);
	if (from && from == c->from) {
		if (status != 0) pl_send_error(from, c->iq, "cancel", "service-unavailable", NULL);
		else iq_dispatch(from, c->iq, u);
	}
	pl_xml_free(c->iq);
	free(c->full);
	free(c);
}

void pl_iq_handle(pl_session *from, pl_xml_node *iq, const pl_jid *to)
{
	const char *type = pl_xml_attr_get(iq, "type");
	if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)) {
		pl_xml_free(iq); /* results and errors addressed to the server or a bare JID end here */
		return;
	}
	if (!to->node) {
		iq_dispatch(from, iq, NULL);
		pl_xml_free(iq);
		return;
	}
	if (!to->resource && from->user->node && strcmp(to->node, from->user->node) == 0 &&
		strcmp(to->domain, from->user->domain) == 0) {
		iq_dispatch(from, iq, from->user);
		pl_xml_free(iq);
		return;
	}
	/* another user's bare JID: the server answers on the account's behalf (XEP-0030 and ping
	 * answered by the server; the rest is service-unavailable) */
	iq_ctx *c = PL_NEW(iq_ctx);
	c->from = from;
	c->iq = iq;
	c->full = pl_strdup(from->full);
	pl_user_with(from->srv, to->node, to->domain, 0, iq_user_loaded, c);
}
