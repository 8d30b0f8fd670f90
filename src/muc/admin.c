/* admin.c: the muc#admin iq of a room (XEP-0045 §8 moderator and §9/§10 admin and owner use cases) on
 * in-memory rooms. It owns the parsing of <query xmlns='muc#admin'><item/>...</query> (a pure function,
 * pl_muc_admin_parse, fuzzed by fuzz/fuzz_muc_admin.c), the privilege rules (the §5.1/§5.2 tables: who may
 * change which role and which affiliation; the last owner stays), and the lists (member, admin, owner,
 * outcast; moderator, participant, visitor). A set is checked as a whole before anything changes; then
 * room.c applies it (pl_muc_room_set_role: role-change presence; pl_muc_room_eject: kick 307, ban 301),
 * which broadcasts once per variant and fires the hooks. What it leaves to others: persistence of the
 * affiliation table (later), status 321 for members-only rooms (config.c), the owner iq (service.c). */
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "muc/muc_internal.h"
#include <string.h>

static int parse_role(const char *s)
{
	static const char *names[] = {"none", "visitor", "participant", "moderator"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) return i; /* the enum's order */
	return -1;
}

static int parse_affiliation(const char *s)
{
	if (!strcmp(s, "owner")) return PL_MUC_AFF_OWNER;
	if (!strcmp(s, "admin")) return PL_MUC_AFF_ADMIN;
	if (!strcmp(s, "member")) return PL_MUC_AFF_MEMBER;
	if (!strcmp(s, "none")) return PL_MUC_AFF_NONE;
	if (!strcmp(s, "outcast")) return PL_MUC_AFF_OUTCAST;
	return PL_MUC_ADMIN_UNSET;
}

void pl_muc_admin_items_clear(pl_muc_admin_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].nick);
		free(items[i].bare);
		items[i].nick = items[i].bare = NULL;
	}
}

static int parse_item(const pl_xml_node *it, int is_set, pl_muc_admin_item *out)
{
	const char *role = pl_xml_attr_get(it, "role");
	const char *aff = pl_xml_attr_get(it, "affiliation");
	const char *nick = pl_xml_attr_get(it, "nick");
	const char *jid = pl_xml_attr_get(it, "jid");
	memset(out, 0, sizeof *out);
	out->role = PL_MUC_ADMIN_UNSET;
	out->affiliation = PL_MUC_ADMIN_UNSET;
	out->node = it;
	if (!role == !aff) return PL_EINVAL; /* one change, or one list, per item */
	if (role && (out->role = parse_role(role)) < 0) return PL_EINVAL;
	if (aff && (out->affiliation = parse_affiliation(aff)) == PL_MUC_ADMIN_UNSET) return PL_EINVAL;
	if (!is_set) return 0;
	if (nick && (pl_jid_resourceprep(nick, &out->nick) != 0 || !out->nick || !*out->nick))
		return PL_EINVAL;
	if (jid) {
		pl_jid j;
		if (pl_jid_parse(jid, &j) != 0) return PL_EINVAL;
		out->bare = pl_jid_bare_string(&j);
		pl_jid_clear(&j);
	}
	if (role && !out->nick) return PL_EINVAL;              /* roles belong to occupants (§8) */
	if (aff && !out->bare && !out->nick) return PL_EINVAL; /* affiliations to users (§9) */
	return 0;
}

int pl_muc_admin_parse(const pl_xml_node *query, int is_set, pl_muc_admin_item *items, size_t max, size_t *n)
{
	*n = 0;
	if (!query || query->type != PL_XML_ELEM || strcmp(query->name, "query") != 0 || !query->ns ||
	    strcmp(query->ns, PL_NS_MUC_ADMIN) != 0)
		return PL_EINVAL;
	for (const pl_xml_node *it = pl_xml_child(query, "item", PL_NS_MUC_ADMIN); it;
	     it = pl_xml_next_child(query, it, "item", PL_NS_MUC_ADMIN)) {
		if (*n >= max || (!is_set && *n >= 1)) goto fail; /* a get asks for one list */
		if (parse_item(it, is_set, &items[*n]) != 0) {
			pl_muc_admin_items_clear(&items[*n], 1);
			goto fail;
		}
		(*n)++;
	}
	if (*n == 0) return PL_EINVAL;
	return 0;
fail:
	pl_muc_admin_items_clear(items, *n);
	*n = 0;
	return PL_EINVAL;
}

/* ---- lists (get) ---- */

static void get_list(pl_muc_room *r, pl_xml_node *iq, const pl_muc_admin_item *want, int actor_aff,
                     int actor_role)
{
	/* affiliation lists for admins and owners (§9.5, §10.5), role lists for moderators (§8.5, §9.8) */
	int allowed = want->role != PL_MUC_ADMIN_UNSET ? actor_role == PL_MUC_ROLE_MODERATOR
	                                               : actor_aff >= PL_MUC_AFF_ADMIN;
	if (want->role == PL_MUC_ROLE_NONE) {
		pl_muc_bounce(r->srv, pl_xml_copy(iq), "modify", "bad-request", "no such list");
		return;
	}
	if (!allowed) {
		pl_muc_bounce(r->srv, pl_xml_copy(iq), "cancel", "not-allowed", "insufficient privileges");
		return;
	}
	pl_xml_node *res = pl_iq_result(iq);
	pl_xml_node *q = pl_xml_add_elem(res, "query", PL_NS_MUC_ADMIN);
	if (want->role != PL_MUC_ADMIN_UNSET) {
		for (pl_muc_occupant *o = r->by_nick; o; o = o->hh.next) {
			if (o->role != want->role) continue;
			pl_xml_node *it = pl_xml_add_elem(q, "item", NULL);
			pl_xml_set_attr(it, "affiliation", pl_muc_affiliation_name(o->affiliation));
			pl_xml_set_attr(it, "role", pl_muc_role_name(o->role));
			pl_xml_set_attr(it, "nick", o->nick);
			if (o->nfulls > 0) pl_xml_set_attr(it, "jid", o->fulls[0]);
		}
	} else {
		for (pl_muc_aff *a = r->affs; a; a = a->hh.next) {
			if (a->affiliation != want->affiliation) continue;
			pl_xml_node *it = pl_xml_add_elem(q, "item", NULL);
			pl_xml_set_attr(it, "affiliation", pl_muc_affiliation_name(a->affiliation));
			pl_xml_set_attr(it, "jid", a->bare);
		}
	}
	pl_route_local(r->srv, res);
}

/* ---- changes (set) ---- */

typedef struct actor {
	char *bare;
	int aff, role;
	char *nick; /* NULL when the actor is not in the room */
} actor;

/* Whether a moderator may take voice from, or kick, an occupant of affiliation target_aff: never someone
 * above the actor, and an admin or owner only from a strictly higher affiliation (§8.2, §8.6). */
static int may_demote(const actor *a, int target_aff)
{
	if (target_aff > a->aff) return 0;
	if (target_aff >= PL_MUC_AFF_ADMIN && target_aff >= a->aff) return 0;
	return 1;
}

/* Checks a role item; returns NULL when allowed, or the error condition. */
static const char *check_role(pl_muc_room *r, const actor *a, const pl_muc_admin_item *it)
{
	pl_muc_occupant *t = NULL;
	HASH_FIND_STR(r->by_nick, it->nick, t);
	if (!t) return "item-not-found";
	if (a->role != PL_MUC_ROLE_MODERATOR) return "not-allowed";
	/* granting or revoking moderator status is an admin's (§9.6, §9.7) */
	if ((it->role == PL_MUC_ROLE_MODERATOR || t->role == PL_MUC_ROLE_MODERATOR) &&
	    a->aff < PL_MUC_AFF_ADMIN)
		return "not-allowed";
	if (it->role < t->role && !may_demote(a, t->affiliation)) return "not-allowed";
	if (it->role != PL_MUC_ROLE_MODERATOR && t->affiliation >= PL_MUC_AFF_ADMIN) return "not-allowed";
	return NULL;
}

/* Resolves an affiliation item's user (by JID, or by the nick of an occupant). */
static const char *item_bare(pl_muc_room *r, const pl_muc_admin_item *it)
{
	if (it->bare) return it->bare;
	pl_muc_occupant *t = NULL;
	HASH_FIND_STR(r->by_nick, it->nick, t);
	return t ? t->bare : NULL;
}

static const char *check_affiliation(pl_muc_room *r, const actor *a, const pl_muc_admin_item *it)
{
	const char *bare = item_bare(r, it);
	if (!bare) return "item-not-found";
	int cur = pl_muc_affiliation_of(r, bare);
	if (a->aff == PL_MUC_AFF_OWNER) return NULL;
	/* an admin manages members and outcasts below itself (§5.2) */
	if (a->aff == PL_MUC_AFF_ADMIN && it->affiliation < PL_MUC_AFF_ADMIN && cur < PL_MUC_AFF_ADMIN)
		return NULL;
	return "not-allowed";
}

/* 1 when two items of the request name the same occupant or user (then the order would matter). */
static int has_duplicates(pl_muc_room *r, const pl_muc_admin_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			int ri = items[i].role != PL_MUC_ADMIN_UNSET,
			    rj = items[j].role != PL_MUC_ADMIN_UNSET;
			if (ri && rj) {
				if (!strcmp(items[i].nick, items[j].nick)) return 1;
			} else if (!ri && !rj) {
				const char *a = item_bare(r, &items[i]), *b = item_bare(r, &items[j]);
				if (a && b && !strcmp(a, b)) return 1;
			}
		}
	}
	return 0;
}

/* How many owners are left once the request's affiliation items are applied. */
static int owners_after(pl_muc_room *r, const pl_muc_admin_item *items, size_t n)
{
	int owners = 0;
	for (pl_muc_aff *a = r->affs; a; a = a->hh.next)
		if (a->affiliation == PL_MUC_AFF_OWNER) owners++;
	for (size_t i = 0; i < n; i++) {
		if (items[i].role != PL_MUC_ADMIN_UNSET) continue;
		int cur = pl_muc_affiliation_of(r, item_bare(r, &items[i]));
		if (cur == PL_MUC_AFF_OWNER && items[i].affiliation != PL_MUC_AFF_OWNER) owners--;
		if (cur != PL_MUC_AFF_OWNER && items[i].affiliation == PL_MUC_AFF_OWNER) owners++;
	}
	return owners;
}

static void apply_role(pl_muc_room *r, const actor *a, const pl_muc_admin_item *it, const char *reason)
{
	pl_muc_occupant *t = NULL;
	HASH_FIND_STR(r->by_nick, it->nick, t);
	if (!t) return; /* banned by an earlier item of the same request */
	if (it->role == PL_MUC_ROLE_NONE)
		pl_muc_room_eject(t, 307, a->nick, reason);
	else
		pl_muc_room_set_role(t, it->role, t->affiliation);
}

static void apply_affiliation(pl_muc_room *r, const actor *a, const pl_muc_admin_item *it, const char *reason)
{
	const char *b = item_bare(r, it);
	if (!b) return;
	char *bare = pl_strdup(b); /* the occupant holding it may go */
	pl_muc_room_set_affiliation(r, bare, it->affiliation);
	pl_muc_occupant *o, *tmp;
	HASH_ITER(hh, r->by_nick, o, tmp)
	{
		if (strcmp(o->bare, bare) != 0) continue;
		if (it->affiliation == PL_MUC_AFF_OUTCAST) {
			o->affiliation = PL_MUC_AFF_OUTCAST;
			pl_muc_room_eject(o, 301, a->nick, reason);
			continue;
		}
		int role = o->role;
		if (it->affiliation >= PL_MUC_AFF_ADMIN)
			role = PL_MUC_ROLE_MODERATOR;
		else if (o->affiliation >= PL_MUC_AFF_ADMIN) /* a demoted admin loses moderation (§10.8) */
			role = r->cfg.moderated && it->affiliation < PL_MUC_AFF_MEMBER
			           ? PL_MUC_ROLE_VISITOR
			           : PL_MUC_ROLE_PARTICIPANT;
		pl_muc_room_set_role(o, role, it->affiliation);
	}
	PL_INFO(0, "%s: %s is now %s", r->jid, bare, pl_muc_affiliation_name(it->affiliation));
	free(bare);
}

static void set_items(pl_muc_room *r, pl_xml_node *iq, actor *a, pl_muc_admin_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *cond = items[i].role != PL_MUC_ADMIN_UNSET ? check_role(r, a, &items[i])
		                                                       : check_affiliation(r, a, &items[i]);
		if (cond) {
			pl_muc_bounce(r->srv, pl_xml_copy(iq), "cancel", cond, NULL);
			return;
		}
	}
	if (has_duplicates(r, items, n)) {
		pl_muc_bounce(r->srv, pl_xml_copy(iq), "modify", "bad-request",
		              "one item per occupant or user");
		return;
	}
	if (owners_after(r, items, n) < 1) {
		pl_muc_bounce(r->srv, pl_xml_copy(iq), "cancel", "conflict",
		              "a room keeps at least one owner");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char *reason = pl_xml_child_text(items[i].node, "reason", NULL);
		if (items[i].role != PL_MUC_ADMIN_UNSET)
			apply_role(r, a, &items[i], reason);
		else
			apply_affiliation(r, a, &items[i], reason);
		free(reason);
	}
	pl_route_local(r->srv, pl_iq_result(iq));
}

void pl_muc_admin_iq(pl_muc_room *r, pl_xml_node *iq)
{
	const char *type = pl_xml_attr_get(iq, "type");
	int is_set = type && !strcmp(type, "set");
	pl_muc_admin_item items[PL_MUC_ADMIN_MAX_ITEMS];
	size_t n = 0;
	if (pl_muc_admin_parse(pl_xml_first_elem(iq), is_set, items, PL_MUC_ADMIN_MAX_ITEMS, &n) != 0) {
		pl_muc_bounce(r->srv, pl_xml_copy(iq), "modify", "bad-request", "malformed admin item");
		return;
	}
	actor a = {0};
	const char *from = pl_xml_attr_get(iq, "from");
	pl_jid fj;
	if (from && pl_jid_parse(from, &fj) == 0) {
		a.bare = pl_jid_bare_string(&fj);
		pl_jid_clear(&fj);
	}
	a.aff = a.bare ? pl_muc_affiliation_of(r, a.bare) : PL_MUC_AFF_NONE;
	pl_muc_real *rl = NULL;
	if (from) HASH_FIND_STR(r->by_real, from, rl);
	a.role = rl ? rl->occ->role : PL_MUC_ROLE_NONE;
	a.nick = rl ? pl_strdup(rl->occ->nick) : NULL;
	if (!is_set)
		get_list(r, iq, &items[0], a.aff, a.role);
	else
		set_items(r, iq, &a, items, n);
	pl_muc_admin_items_clear(items, n);
	free(a.bare);
	free(a.nick);
	if (r->noccupants == 0 && !r->cfg.persistent) pl_muc_room_destroy(r);
}
