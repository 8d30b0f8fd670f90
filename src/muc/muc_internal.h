/* muc_internal.h: the room and occupant structures shared by service.c and room.c (not part of the
 * contract with other modules: they use muc.h). */
#ifndef PL_MUC_INTERNAL_H
#define PL_MUC_INTERNAL_H
#include <uthash.h>
#include "muc/muc.h"
#include "xmpp/server.h"

#define PL_MUC_MAX_SESSIONS_PER_NICK 10 /* resources of one user under one nick (XEP-0045 §7.2.9) */
#define PL_MUC_MAX_HOOKS 16

/* One real full JID inside a room, pointing at its occupant. */
typedef struct pl_muc_real {
	char *full; /* key in room->by_real */
	pl_muc_occupant *occ;
	UT_hash_handle hh;
} pl_muc_real;

struct pl_muc_occupant {
	pl_muc_room *room;
	char *nick;                                /* key in room->by_nick */
	char *occ_jid;                             /* room@service/nick */
	char *bare;                                /* the user's real bare JID */
	char *fulls[PL_MUC_MAX_SESSIONS_PER_NICK]; /* its sessions in the room, [0] shown as the item jid */
	int nfulls;
	int role, affiliation;
	pl_xml_node *payload; /* the presence children the user sent (show, status...), MUC x removed */
	pl_bytes *pres_full;  /* current presence as others see it, with the real JID */
	pl_bytes *pres_anon;  /* the same without the real JID */
	UT_hash_handle hh;    /* room->by_nick */
};

/* An affiliation by bare JID (the owner of an instant room until the room goes). */
typedef struct pl_muc_aff {
	char *bare;
	int affiliation;
	UT_hash_handle hh;
} pl_muc_aff;

/* What the owner's form sets (config.c; the instant-room defaults come from pl_muc_room_create). */
typedef struct pl_muc_room_config {
	int persistent, public_room, whois_anyone, moderated, members_only, change_subject;
	int max_occupants;
	int password_protected, allow_invites;
	int allow_pm;   /* PL_MUC_PM_*: who may send private messages */
	char *name;     /* muc#roomconfig_roomname (NULL = none), owned */
	char *desc;     /* muc#roomconfig_roomdesc, owned */
	char *lang;     /* muc#roomconfig_lang, owned */
	char *password; /* muc#roomconfig_roomsecret, owned */
} pl_muc_room_config;
enum { PL_MUC_PM_ANYONE = 0, PL_MUC_PM_PARTICIPANTS, PL_MUC_PM_MODERATORS, PL_MUC_PM_NONE };

struct pl_muc_room {
	pl_server *srv;
	char *jid; /* room@service, key in the service's table */
	char *node;
	char *service;
	int locked; /* created and waiting for the owner's configuration (XEP-0045 §10.1) */
	pl_muc_room_config cfg;
	pl_muc_occupant *by_nick;
	pl_muc_real *by_real;
	pl_muc_aff *affs;
	int noccupants;
	char *subject;      /* NULL = none yet */
	char *subject_from; /* room@service/nick of who set it */
	pl_muc_history history;
	UT_hash_handle hh;
};

/* service.c */
extern const pl_muc_hooks *pl_muc_hook_table[PL_MUC_MAX_HOOKS];
extern int pl_muc_nhooks;
pl_muc_room *pl_muc_room_find(pl_server *srv, const char *room_jid);
/* Creates an empty, locked room (the caller makes the first joiner its owner). */
pl_muc_room *pl_muc_room_create(pl_server *srv, const char *node, const char *service);
/* Removes the room from the table and frees it. */
void pl_muc_room_destroy(pl_muc_room *r);
/* Sends an error for st back to its sender (st's from/to swapped) and frees st. */
void pl_muc_bounce(pl_server *srv, pl_xml_node *st, const char *type, const char *condition,
                   const char *text);

/* room.c */
void pl_muc_room_presence(pl_muc_room *r, pl_xml_node *p, const pl_jid *to, int created);
void pl_muc_room_message(pl_muc_room *r, pl_xml_node *m, const pl_jid *to);
void pl_muc_room_free(pl_muc_room *r);
int pl_muc_affiliation_of(const pl_muc_room *r, const char *bare);
const char *pl_muc_role_name(int role);
const char *pl_muc_affiliation_name(int aff);
/* Sets bare's affiliation in the room's table (PL_MUC_AFF_NONE removes the entry). Occupants' own
 * copies are the caller's to update (pl_muc_room_set_role). */
void pl_muc_room_set_affiliation(pl_muc_room *r, const char *bare, int aff);
/* Gives occupant o a new role and affiliation (no-op when both are unchanged): its new presence goes to
 * every occupant (serialized once per variant; o's own copy with 110), then on_role_change fires. */
void pl_muc_room_set_role(pl_muc_occupant *o, int role, int aff);
/* Queues b (a reference) to every session of occupant o. */
void pl_muc_send_to_occupant(const pl_muc_occupant *o, pl_bytes *b);
/* Removes o from the room as kicked (code 307) or banned (301): unavailable presence with the code, the
 * actor's nick and the reason (either may be NULL) to everyone, o's own copy adding 110; then
 * on_role_change and on_leave fire and o is freed. An empty room is left for the caller to destroy. */
void pl_muc_room_eject(pl_muc_occupant *o, int code, const char *actor_nick, const char *reason);

/* config.c: the owner's muc#roomconfig form (XEP-0045 §10.2) */
/* Adds the fields with the room's current values to form (<x type='form'/>). */
void pl_muc_config_form(const pl_muc_room *r, pl_xml_node *form);
/* Validates every known field of the submitted form x and, when all are valid, applies them and
 * broadcasts status 104/172/173 to the occupants. Returns 0, or PL_EINVAL with *err set to a static text
 * naming the bad field (the iq gets bad-request). */
int pl_muc_config_submit(pl_muc_room *r, const pl_xml_node *x, const char **err);
/* Frees the strings of a configuration. */
void pl_muc_config_clear(pl_muc_room_config *c);

/* Re-serializes every occupant's cached presence (after the whois setting changed). */
void pl_muc_room_refresh_presences(pl_muc_room *r);

/* admin.c */
#define PL_MUC_ADMIN_MAX_ITEMS 32 /* items in one muc#admin set (more: bad-request) */
#define PL_MUC_ADMIN_UNSET (-100) /* role or affiliation not given in an item */
/* One <item/> of a muc#admin query. */
typedef struct pl_muc_admin_item {
	int role;                /* PL_MUC_ROLE_* or PL_MUC_ADMIN_UNSET */
	int affiliation;         /* PL_MUC_AFF_* or PL_MUC_ADMIN_UNSET */
	char *nick;              /* resourceprepped, or NULL (owned: pl_muc_admin_items_clear) */
	char *bare;              /* the bare form of the jid attribute, or NULL (owned) */
	const pl_xml_node *node; /* the item itself (for its <reason/>), borrowed from the query */
} pl_muc_admin_item;
/* Parses a muc#admin <query/> (pure: no room state). Every item carries exactly one of role and
 * affiliation with a known value; a get has exactly one item (which list); in a set, a role item has a
 * nick and an affiliation item a jid or a nick, a jid parses and a nick passes resourceprep. Returns 0 with
 * 1..max items in items[0..*n) (free them with pl_muc_admin_items_clear), or PL_EINVAL (nothing to free):
 * the request gets bad-request. */
int pl_muc_admin_parse(const pl_xml_node *query, int is_set, pl_muc_admin_item *items, size_t max, size_t *n);
void pl_muc_admin_items_clear(pl_muc_admin_item *items, size_t n);
/* Handles an iq get/set whose payload is <query xmlns='muc#admin'/> to room r (iq is not freed). */
void pl_muc_admin_iq(pl_muc_room *r, pl_xml_node *iq);

#endif
