/* service.c: the MUC service (XEP-0045) on the `[muc] domains` component domains. It owns the table of
 * rooms, the dispatch of every stanza router.c and presence.c hand over (pl_muc_route: presence and
 * messages to room.c, iqs here), service discovery of the service (identity conference/text, the
 * public rooms as items) and of each room (muc_* features, the muc#roominfo form), the owner iq
 * (muc#owner: the configuration form, and its submission, which unlocks an instant room, §10.1.2) and
 * the table of extension hooks (muc.h). The admin iq (muc#admin: kick, ban, voice, lists) goes to
 * admin.c. Rooms live in memory; room.c destroys an empty non-persistent room through
 * pl_muc_room_destroy. */
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "muc/muc_internal.h"
#include <strings.h>
#include <string.h>

#define MAX_FEATURES 32
#define MAX_DISCO_ITEMS 1000 /* rooms listed by disco#items on the service */

/* One server per process: the rooms live here, keyed by room@service. */
static pl_muc_room *rooms;

const pl_muc_hooks *pl_muc_hook_table[PL_MUC_MAX_HOOKS];
int pl_muc_nhooks;
static const char *extra_features[MAX_FEATURES];
static int nextra_features;

int pl_muc_hooks_register(const pl_muc_hooks *h)
{
	for (int i = 0; i < pl_muc_nhooks; i++)
		if (pl_muc_hook_table[i] == h) return 0;
	if (pl_muc_nhooks >= PL_MUC_MAX_HOOKS) return PL_ELIMIT;
	pl_muc_hook_table[pl_muc_nhooks++] = h;
	return 0;
}

void pl_muc_add_feature(const char *feature)
{
	for (int i = 0; i < nextra_features; i++)
		if (strcmp(extra_features[i], feature) == 0) return;
	if (nextra_features < MAX_FEATURES) extra_features[nextra_features++] = feature;
}

int pl_muc_is_service(pl_server *srv, const char *domain)
{
	if (!domain) return 0;
	const pl_strlist *l = &srv->cfg->muc_domains;
	for (size_t i = 0; i < l->n; i++)
		if (!strcasecmp(l->items[i], domain)) return 1;
	return 0;
}

pl_muc_room *pl_muc_room_find(pl_server *srv, const char *room_jid)
{
	(void)srv;
	pl_muc_room *r = NULL;
	HASH_FIND_STR(rooms, room_jid, r);
	return r;
}

pl_muc_room *pl_muc_room_create(pl_server *srv, const char *node, const char *service)
{
	pl_muc_room *r = PL_NEW(pl_muc_room);
	r->srv = srv;
	r->node = pl_strdup(node);
	r->service = pl_strdup(service);
	size_t n = strlen(node) + strlen(service) + 2;
	r->jid = pl_malloc(n);
	snprintf(r->jid, n, "%s@%s", node, service);
	r->locked = 1;
	/* the defaults an instant room gets (XEP-0045 §10.1.2); config.c will make them settable */
	r->cfg.public_room = 1;
	r->cfg.whois_anyone = 1;
	r->cfg.change_subject = 0;
	r->cfg.max_occupants = srv->cfg->muc_max_occupants;
	r->cfg.allow_pm = PL_MUC_PM_ANYONE;
	pl_muc_history_init(&r->history, (size_t)srv->cfg->muc_history_length);
	HASH_ADD_KEYPTR(hh, rooms, r->jid, strlen(r->jid), r);
	PL_INFO(0, "room %s created", r->jid);
	return r;
}

void pl_muc_room_destroy(pl_muc_room *r)
{
	PL_INFO(0, "room %s destroyed", r->jid);
	HASH_DEL(rooms, r);
	pl_muc_room_free(r);
}

void pl_muc_free(pl_server *srv)
{
	(void)srv;
	pl_muc_room *r, *t;
	HASH_ITER(hh, rooms, r, t)
	{
		HASH_DEL(rooms, r);
		pl_muc_room_free(r);
	}
}

void pl_muc_bounce(pl_server *srv, pl_xml_node *st, const char *type, const char *condition, const char *text)
{
	const char *t = pl_xml_attr_get(st, "type");
	if (!pl_xml_attr_get(st, "from") || (t && !strcmp(t, "error"))) {
		pl_xml_free(st);
		return;
	}
	pl_xml_node *e = pl_stanza_error(st, type, condition, text);
	pl_xml_free(st);
	pl_route_local(srv, e); /* to the sender's full JID: a local session */
}

static void reply(pl_server *srv, pl_xml_node *res)
{
	pl_route_local(srv, res);
}

/* ---- disco ---- */

static void add_feature(pl_xml_node *q, const char *var)
{
	pl_xml_set_attr(pl_xml_add_elem(q, "feature", NULL), "var", var);
}

static pl_xml_node *add_field(pl_xml_node *form, const char *var, const char *type, const char *label,
                              const char *value)
{
	pl_xml_node *f = pl_xml_add_elem(form, "field", NULL);
	pl_xml_set_attr(f, "var", var);
	if (type) pl_xml_set_attr(f, "type", type);
	if (label) pl_xml_set_attr(f, "label", label);
	if (value) pl_xml_add_text_elem(f, "value", NULL, value);
	return f;
}

static void service_disco_info(pl_server *srv, pl_xml_node *iq)
{
	pl_xml_node *res = pl_iq_result(iq);
	pl_xml_node *q = pl_xml_add_elem(res, "query", PL_NS_DISCO_INFO);
	pl_xml_node *id = pl_xml_add_elem(q, "identity", NULL);
	pl_xml_set_attr(id, "category", "conference");
	pl_xml_set_attr(id, "type", "text");
	pl_xml_set_attr(id, "name", "Chatrooms");
	add_feature(q, PL_NS_DISCO_INFO);
	add_feature(q, PL_NS_DISCO_ITEMS);
	add_feature(q, PL_NS_MUC);
	for (int i = 0; i < nextra_features; i++)
		add_feature(q, extra_features[i]);
	reply(srv, res);
}

static void service_disco_items(pl_server *srv, pl_xml_node *iq, const char *service)
{
	pl_xml_node *res = pl_iq_result(iq);
	pl_xml_node *q = pl_xml_add_elem(res, "query", PL_NS_DISCO_ITEMS);
	int n = 0;
	for (pl_muc_room *r = rooms; r && n < MAX_DISCO_ITEMS; r = r->hh.next) {
		if (r->locked || !r->cfg.public_room || strcmp(r->service, service) != 0) continue;
		pl_xml_node *it = pl_xml_add_elem(q, "item", NULL);
		pl_xml_set_attr(it, "jid", r->jid);
		pl_xml_set_attr(it, "name", r->node);
		n++;
	}
	reply(srv, res);
}

static void room_disco_info(pl_muc_room *r, pl_xml_node *iq)
{
	pl_xml_node *res = pl_iq_result(iq);
	pl_xml_node *q = pl_xml_add_elem(res, "query", PL_NS_DISCO_INFO);
	pl_xml_node *id = pl_xml_add_elem(q, "identity", NULL);
	pl_xml_set_attr(id, "category", "conference");
	pl_xml_set_attr(id, "type", "text");
	pl_xml_set_attr(id, "name", r->cfg.name ? r->cfg.name : r->node);
	add_feature(q, PL_NS_MUC);
	add_feature(q, PL_NS_DISCO_INFO);
	add_feature(q, r->cfg.public_room ? "muc_public" : "muc_hidden");
	add_feature(q, r->cfg.persistent ? "muc_persistent" : "muc_temporary");
	add_feature(q, r->cfg.members_only ? "muc_membersonly" : "muc_open");
	add_feature(q, r->cfg.moderated ? "muc_moderated" : "muc_unmoderated");
	add_feature(q, r->cfg.whois_anyone ? "muc_nonanonymous" : "muc_semianonymous");
	add_feature(q, r->cfg.password_protected ? "muc_passwordprotected" : "muc_unsecured");
	pl_xml_node *form = pl_xml_add_elem(q, "x", PL_NS_XDATA);
	pl_xml_set_attr(form, "type", "result");
	add_field(form, "FORM_TYPE", "hidden", NULL, "http://jabber.org/protocol/muc#roominfo");
	char count[24];
	snprintf(count, sizeof count, "%d", r->noccupants);
	add_field(form, "muc#roominfo_occupants", NULL, "Number of occupants", count);
	if (r->cfg.desc) add_field(form, "muc#roominfo_description", NULL, "Description", r->cfg.desc);
	if (r->cfg.lang) add_field(form, "muc#roominfo_lang", NULL, "Language of discussion", r->cfg.lang);
	add_field(form, "muc#roominfo_subject", NULL, "Subject", r->subject ? r->subject : "");
	add_field(form, "muc#roominfo_changesubject", "boolean", "Occupants may change the subject",
	          r->cfg.change_subject ? "1" : "0");
	for (int i = 0; i < pl_muc_nhooks; i++)
		if (pl_muc_hook_table[i]->disco_info) pl_muc_hook_table[i]->disco_info(r, q, form);
	reply(r->srv, res);
}

/* ---- owner (XEP-0045 §10) ---- */

/* The owner cancelled the initial configuration: the occupants (the owner's sessions) get unavailable
 * presence with <destroy/>, then the room goes. */
static void cancel_new_room(pl_muc_room *r)
{
	for (pl_muc_occupant *o = r->by_nick; o; o = o->hh.next) {
		pl_xml_node *p = pl_xml_elem_new("presence", "jabber:client");
		pl_xml_set_attr(p, "from", o->occ_jid);
		pl_xml_set_attr(p, "type", "unavailable");
		pl_xml_node *ux = pl_xml_add_elem(p, "x", PL_NS_MUC_USER);
		pl_xml_node *it = pl_xml_add_elem(ux, "item", NULL);
		pl_xml_set_attr(it, "affiliation", "none");
		pl_xml_set_attr(it, "role", "none");
		pl_xml_add_elem(ux, "destroy", NULL);
		pl_xml_set_attr(pl_xml_add_elem(ux, "status", NULL), "code", "110");
		pl_bytes *b = pl_stanza_bytes(p);
		pl_muc_send_to_occupant(o, b);
		pl_bytes_unref(b);
		pl_xml_free(p);
	}
	PL_INFO(0, "room %s cancelled by its owner", r->jid);
	pl_muc_room_destroy(r);
}

static void owner_iq(pl_muc_room *r, pl_xml_node *iq, const char *type)
{
	pl_jid fj;
	char *bare = NULL;
	if (pl_jid_parse(pl_xml_attr_get(iq, "from"), &fj) == 0) {
		bare = pl_jid_bare_string(&fj);
		pl_jid_clear(&fj);
	}
	int is_owner = bare && pl_muc_affiliation_of(r, bare) == PL_MUC_AFF_OWNER;
	free(bare);
	if (!is_owner) {
		pl_muc_bounce(r->srv, pl_xml_copy(iq), "auth", "forbidden", "only owners configure the room");
		return;
	}
	pl_xml_node *q = pl_xml_first_elem(iq);
	if (!strcmp(type, "get")) {
		pl_xml_node *res = pl_iq_result(iq);
		pl_xml_node *rq = pl_xml_add_elem(res, "query", PL_NS_MUC_OWNER);
		pl_xml_node *form = pl_xml_add_elem(rq, "x", PL_NS_XDATA);
		pl_xml_set_attr(form, "type", "form");
		pl_xml_add_text_elem(form, "title", NULL, "Room configuration");
		add_field(form, "FORM_TYPE", "hidden", NULL, "http://jabber.org/protocol/muc#roomconfig");
		pl_muc_config_form(r, form);
		for (int i = 0; i < pl_muc_nhooks; i++)
			if (pl_muc_hook_table[i]->config_form) pl_muc_hook_table[i]->config_form(r, form);
		reply(r->srv, res);
		return;
	}
	pl_xml_node *x = pl_xml_child(q, "x", PL_NS_XDATA);
	const char *xt = x ? pl_xml_attr_get(x, "type") : NULL;
	if (x && xt && !strcmp(xt, "cancel")) {
		reply(r->srv, pl_iq_result(iq));
		if (r->locked) cancel_new_room(r); /* §10.1.3 */
		return;
	}
	if (!x || !xt || strcmp(xt, "submit") != 0) {
		/* <destroy/>: the next session's work */
		pl_muc_bounce(r->srv, pl_xml_copy(iq), "cancel", "feature-not-implemented", NULL);
		return;
	}
	const char *err = NULL;
	if (pl_muc_config_submit(r, x, &err) != 0) {
		pl_muc_bounce(r->srv, pl_xml_copy(iq), "modify", "bad-request", err);
		return;
	}
	for (int i = 0; i < pl_muc_nhooks; i++) {
		if (pl_muc_hook_table[i]->config_submit && pl_muc_hook_table[i]->config_submit(r, x) < 0) {
			pl_muc_bounce(r->srv, pl_xml_copy(iq), "modify", "not-acceptable", NULL);
			return;
		}
	}
	if (r->locked) PL_INFO(0, "room %s unlocked by its owner", r->jid);
	r->locked = 0; /* an empty submit accepts the default configuration (instant room, §10.1.2) */
	reply(r->srv, pl_iq_result(iq));
}

static void room_iq(pl_server *srv, pl_muc_room *r, pl_xml_node *iq, const pl_jid *to)
{
	const char *type = pl_xml_attr_get(iq, "type");
	if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
		return; /* results and errors to the service end here */
	pl_xml_node *q = pl_xml_first_elem(iq);
	const char *ns = q && q->ns ? q->ns : "";
	int get = !strcmp(type, "get");
	if (!to->node) {
		if (get && !strcmp(ns, PL_NS_DISCO_INFO) && !pl_xml_attr_get(q, "node"))
			service_disco_info(srv, iq);
		else if (get && !strcmp(ns, PL_NS_DISCO_ITEMS) && !pl_xml_attr_get(q, "node"))
			service_disco_items(srv, iq, to->domain);
		else
			pl_muc_bounce(srv, pl_xml_copy(iq), "cancel", "service-unavailable", NULL);
		return;
	}
	if (!r) {
		pl_muc_bounce(srv, pl_xml_copy(iq), "cancel", "item-not-found", "no such room");
		return;
	}
	if (to->resource) { /* iqs to an occupant are not relayed yet */
		pl_muc_bounce(srv, pl_xml_copy(iq), "cancel", "service-unavailable", NULL);
		return;
	}
	if (get && !strcmp(ns, PL_NS_DISCO_INFO) && !pl_xml_attr_get(q, "node")) {
		room_disco_info(r, iq);
	} else if (get && !strcmp(ns, PL_NS_DISCO_ITEMS)) {
		pl_xml_node *res = pl_iq_result(iq);
		pl_xml_add_elem(res, "query", PL_NS_DISCO_ITEMS); /* occupants are not listed */
		reply(srv, res);
	} else if (!strcmp(ns, PL_NS_MUC_OWNER)) {
		owner_iq(r, iq, type);
	} else if (!strcmp(ns, PL_NS_MUC_ADMIN)) {
		pl_muc_admin_iq(r, iq); /* may destroy r (its last occupant banned) */
	} else {
		pl_muc_bounce(srv, pl_xml_copy(iq), "cancel", "service-unavailable", NULL);
	}
}

void pl_muc_route(pl_server *srv, pl_xml_node *st)
{
	pl_jid to;
	const char *type = pl_xml_attr_get(st, "type");
	if (!pl_xml_attr_get(st, "from") || pl_jid_parse(pl_xml_attr_get(st, "to"), &to) != 0) {
		pl_xml_free(st);
		return;
	}
	pl_muc_room *r = NULL;
	if (to.node) {
		char *room_jid = pl_jid_bare_string(&to);
		r = pl_muc_room_find(srv, room_jid);
		free(room_jid);
	}
	if (!strcmp(st->name, "iq")) {
		room_iq(srv, r, st, &to);
		pl_xml_free(st);
	} else if (!to.node) {
		if (!strcmp(st->name, "message"))
			pl_muc_bounce(srv, st, "cancel", "service-unavailable", NULL);
		else
			pl_xml_free(st);
	} else if (!strcmp(st->name, "presence")) {
		if (r) {
			pl_muc_room_presence(r, st, &to, 0);
		} else if (type) {
			pl_xml_free(st); /* unavailable to a room that is gone: nothing to do */
		} else if (!pl_xml_child(st, "x", PL_NS_MUC)) {
			/* creating a room needs a MUC-aware join (XEP-0045 §7.2.2) */
			pl_muc_bounce(srv, st, "cancel", "item-not-found", "no such room");
		} else if (!to.resource || !*to.resource) {
			pl_muc_bounce(srv, st, "modify", "jid-malformed", "a nickname is required");
		} else {
			r = pl_muc_room_create(srv, to.node, to.domain);
			pl_muc_room_presence(r, st, &to, 1);
		}
	} else if (!r) {
		pl_muc_bounce(srv, st, "cancel", "item-not-found", "no such room");
	} else {
		pl_muc_room_message(r, st, &to);
	}
	pl_jid_clear(&to);
}
