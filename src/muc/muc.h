/* muc.h: the multi-user chat service (XEP-0045) and its contract with the rest of parley.
 *
 * The service answers on the component domains of `[muc] domains` (e.g. room.localhost). router.c and
 * presence.c hand every stanza whose 'to' domain is a MUC domain to pl_muc_route(); the service sends to
 * occupants' real full JIDs with pl_session_send (every user is local for now). A broadcast is
 * serialized once per variant (the occupant's own copy with status 110, the copy that shows real JIDs,
 * the anonymous copy) and the same pl_bytes goes to every recipient; an occupant's current presence is
 * kept serialized, so a newcomer's join costs one send per occupant.
 *
 * Files:
 *   service.c  the service: domains, room table, stanza dispatch (presence/message/iq), disco on the
 *              service and on rooms, the owner iq (accept the default configuration), the hook table.
 *   room.c     room state and occupants (hash by nick and by real full JID), join/leave/nick change
 *              with their status codes, groupchat and private messages, subject, broadcast.
 *   history.c  the in-memory ring of recent messages and the <history/> filters (pure functions).
 *   admin.c    muc#admin: kick, ban, voice, affiliation changes and the role/affiliation lists, with the
 *              XEP-0045 §5.2 privilege table (status 321 for members-only rooms is still to come).
 *   config.c   the owner's muc#roomconfig form (§10.2): a table of fields filling pl_muc_room_config,
 *              validation (bad-request naming the field), status 104/172/173 on change.
 *   dataform.c a generic jabber:x:data parser (pure, fuzzed by fuzz/fuzz_dataform.c).
 *
 * What goes where next:
 *   - configuration follow-ups: removing non-members when a room becomes members-only (status 322),
 *     allowinvites enforcement once mediated invitations exist, 170/171 once rooms are logged.
 *   - persistence: store the room (config, affiliations) when `persistent` is set; room_destroy_if_empty()
 *     keeps persistent rooms; the service loads them on start.
 *   - MAM / stanza-id / occupant-id: an on_message hook that archives and stamps the stanza before it is
 *     serialized for the broadcast.
 */
#ifndef PL_MUC_MUC_H
#define PL_MUC_MUC_H
#include <stddef.h>
#include <time.h>
#include "xml/xml.h"

#define PL_NS_MUC "http://jabber.org/protocol/muc"
#define PL_NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define PL_NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define PL_NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define PL_NS_XDATA "jabber:x:data"

typedef struct pl_server pl_server;
typedef struct pl_muc_room pl_muc_room;
typedef struct pl_muc_occupant pl_muc_occupant;

enum pl_muc_role {
	PL_MUC_ROLE_NONE = 0,
	PL_MUC_ROLE_VISITOR,
	PL_MUC_ROLE_PARTICIPANT,
	PL_MUC_ROLE_MODERATOR
};
enum pl_muc_affiliation {
	PL_MUC_AFF_OUTCAST = -1,
	PL_MUC_AFF_NONE = 0,
	PL_MUC_AFF_MEMBER,
	PL_MUC_AFF_ADMIN,
	PL_MUC_AFF_OWNER
};

/* ---- service (service.c) ---- */

/* 1 when domain is one of the configured MUC service domains. */
int pl_muc_is_service(pl_server *srv, const char *domain);
/* Handles a stanza addressed to a MUC domain (the service, a room or an occupant). 'from' must be the
 * sender's real full JID (stamped by the router) and 'to' a prepared JID. Takes ownership of stanza.
 * Errors go back to the sender as stanza errors; presence errors too (XEP-0045 §7.2). */
void pl_muc_route(pl_server *srv, pl_xml_node *stanza);
/* Destroys every room (server shutdown). Occupants get nothing: their sessions are gone already. */
void pl_muc_free(pl_server *srv);

/* ---- extension hooks ---- */

/* A module that extends rooms registers one table of callbacks at start-up (pl_muc_hooks_register).
 * Any pointer may be NULL. Callbacks run synchronously inside the stanza's handling, in registration
 * order; they must not destroy the room or the occupant. */
typedef struct pl_muc_hooks {
	const char *name; /* for logs */
	/* An occupant is about to join (presence = the join presence). Return 0 to allow, or a negative
	 * value to refuse with `not-allowed` (the first refusal wins). */
	int (*on_join)(pl_muc_room *room, const pl_muc_occupant *occ, const pl_xml_node *presence);
	/* An occupant left (its last session); still readable during the call. */
	void (*on_leave)(pl_muc_room *room, const pl_muc_occupant *occ);
	/* A groupchat message is about to be broadcast (msg: from = room@service/nick). The hook may add to
	 * msg (stanza-id, occupant-id). Return 0 to go on, non-zero to drop it silently. */
	int (*on_message)(pl_muc_room *room, const pl_muc_occupant *occ, pl_xml_node *msg);
	/* An occupant's role or affiliation changed (old values given). */
	void (*on_role_change)(pl_muc_room *room, const pl_muc_occupant *occ, int old_role, int old_aff);
	/* disco#info on a room: add <feature/>s to query, fields to the muc#roominfo form. */
	void (*disco_info)(const pl_muc_room *room, pl_xml_node *query, pl_xml_node *roominfo_form);
	/* The owner's configuration form (muc#roomconfig): add <field/>s. */
	void (*config_form)(const pl_muc_room *room, pl_xml_node *form);
	/* A submitted configuration form: apply the fields this module owns. Return 0, or a negative value
	 * to refuse the whole form with not-acceptable. */
	int (*config_submit)(pl_muc_room *room, const pl_xml_node *form);
} pl_muc_hooks;

/* Registers a table (kept by pointer: static storage). Returns 0, or PL_ELIMIT when the table is full. */
int pl_muc_hooks_register(const pl_muc_hooks *h);
/* Service-wide disco#info features added by extension modules. */
void pl_muc_add_feature(const char *feature);

/* ---- history (history.c): pure functions on a ring of serialized messages ---- */

typedef struct pl_muc_history_entry {
	time_t stamp;
	void *bytes;  /* pl_bytes * of the stanza with its XEP-0203 delay, owned by the ring */
	size_t chars; /* its size, for maxchars */
} pl_muc_history_entry;

typedef struct pl_muc_history {
	pl_muc_history_entry *e;
	size_t cap, n, head; /* head = index of the oldest entry */
} pl_muc_history;

/* The <history/> element of a join (XEP-0045 §7.2.15); -1 = not given. */
typedef struct pl_muc_history_filter {
	long maxchars, maxstanzas, seconds;
	time_t since; /* -1 = not given */
} pl_muc_history_filter;

/* Sets the capacity (0 = keep nothing), dropping the oldest entries that no longer fit. */
void pl_muc_history_init(pl_muc_history *h, size_t cap);
void pl_muc_history_clear(pl_muc_history *h);
/* Appends (taking the reference on bytes); drops the oldest entry when full. */
void pl_muc_history_push(pl_muc_history *h, time_t stamp, void *bytes, size_t chars);
/* The i-th entry counted from the oldest (i < h->n). */
const pl_muc_history_entry *pl_muc_history_at(const pl_muc_history *h, size_t i);
/* Which entries a newcomer gets: returns the index (from the oldest) of the first entry to send; the
 * newcomer gets entries first..n-1. Every given limit holds (the smallest result wins). */
size_t pl_muc_history_select(const pl_muc_history *h, const pl_muc_history_filter *f, time_t now);
/* Parses a <history/> element (NULL = no element: no limits). Returns 0, or -1 when an attribute is not
 * a valid number or date (then the join is refused with bad-request). */
int pl_muc_history_filter_parse(const pl_xml_node *history, pl_muc_history_filter *f);
/* XEP-0082 DateTime (CCYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm)) to time_t. Returns 0 or -1. */
int pl_muc_parse_datetime(const char *s, time_t *out);
/* Formats t as CCYY-MM-DDThh:mm:ssZ into buf (at least 21 bytes). */
void pl_muc_format_datetime(time_t t, char *buf, size_t len);

#endif
