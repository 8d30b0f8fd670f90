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

/* What the owner's form sets (only the defaults for now; config.c will fill it from the form). */
typedef struct pl_muc_room_config {
	int persistent, public_room, whois_anyone, moderated, members_only, change_subject;
	int max_occupants;
} pl_muc_room_config;

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

#endif
