/* server.h: the XMPP server's shared state and the objects every XMPP module works with.
 *
 * pl_server owns the configuration, the store, the network manager and listeners, the TLS context and
 * the table of online users. A pl_user is an account that is in use (online sessions, or an operation
 * on its roster in flight); it holds the roster in memory, loaded once from the store and written
 * through on every change. A pl_session is one bound resource of a user: what a client stream turns
 * into after resource binding. Sessions outlive their connection while XEP-0198 resumption is possible.
 *
 * Stanza flow: net.c (bytes) -> stream.c (XML stream, negotiation) -> router.c (message/presence/iq by
 * destination) -> presence.c / roster.c / iq.c / offline.c or another session -> pl_session_send ->
 * sm.c (counted for acks) -> the session's connection. A stanza is serialized once (with an explicit
 * xmlns='jabber:client', valid on every transport) and the same pl_bytes is queued to each recipient. */
#ifndef PL_XMPP_SERVER_H
#define PL_XMPP_SERVER_H
#include <stdint.h>
#include <uthash.h>
#include <uv.h>
#include "core/buf.h"
#include "core/config.h"
#include "core/net.h"
#include "core/tls.h"
#include "http/http.h"
#include "store/store.h"
#include "xml/xml.h"
#include "xmpp/jid.h"

#define PL_NS_CLIENT "jabber:client"
#define PL_NS_STREAMS "http://etherx.jabber.org/streams"
#define PL_NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define PL_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define PL_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define PL_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define PL_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define PL_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define PL_NS_ROSTER "jabber:iq:roster"
#define PL_NS_SM "urn:xmpp:sm:3"
#define PL_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define PL_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define PL_NS_VERSION "jabber:iq:version"
#define PL_NS_PING "urn:xmpp:ping"
#define PL_NS_DELAY "urn:xmpp:delay"
#define PL_NS_LIMITS "urn:xmpp:stream-limits:0"
#define PL_NS_ROSTERVER "urn:xmpp:features:rosterver"
#define PL_NS_PREAPPROVAL "urn:xmpp:features:pre-approval"

/* Most contacts a roster holds, pending inbound requests included (roster sets and subscriptions). */
#define PL_MAX_ROSTER_ITEMS 1000

typedef struct pl_server pl_server;
typedef struct pl_user pl_user;
typedef struct pl_session pl_session;
typedef struct pl_c2s pl_c2s;

/* A roster contact in memory. `visible` = 0 marks an entry that only remembers a pending inbound
 * subscription request (RFC 6121 §3.1.3) and is not shown in the roster. */
typedef struct pl_contact {
	pl_roster_item item;
	int visible;
	UT_hash_handle hh; /* keyed by item.jid */
} pl_contact;

typedef void (*pl_user_cb)(pl_server *srv, pl_user *u, int status, void *ud);

struct pl_user {
	pl_server *srv;
	char *bare; /* node@domain, key in srv->users */
	char *node;
	char *domain;
	int anonymous;       /* ephemeral account: nothing is stored */
	int refs;            /* sessions + operations in flight; freed at 0 */
	int loaded;          /* roster loaded */
	int load_status;     /* 0, or PL_ENOTFOUND when the account does not exist */
	pl_contact *contacts;
	long long roster_ver;
	pl_session *sessions; /* linked through session->next_in_user */
	int nsessions;
	struct pl_user_wait *waiting; /* operations waiting for the roster load */
	UT_hash_handle hh;
};

/* Transport of a session: how its bytes reach the client. The stream layer provides one per
 * transport (TCP/TLS now; WebSocket and BOSH later). */
typedef struct pl_session_ops {
	/* Queue one serialized stanza. Returns 0, or PL_ELIMIT when the transport's output queue is full
	 * (the session is then closed by the caller with a policy-violation stream error). */
	int (*send)(pl_session *s, pl_bytes *b);
	/* Close the transport with a stream error condition (NULL = orderly </stream:stream>). */
	void (*close)(pl_session *s, const char *condition, const char *text);
} pl_session_ops;

struct pl_session {
	pl_server *srv;
	pl_user *user;
	pl_session *next_in_user;
	char *resource;
	char *full; /* node@domain/resource, key in srv->sessions */
	pl_jid jid;
	uint64_t conn_id; /* for logs; 0 while detached */

	/* transport, NULL while detached (waiting for XEP-0198 resumption) */
	const pl_session_ops *ops;
	void *transport;

	/* presence */
	int available;          /* sent initial presence and not yet unavailable */
	int interested;         /* requested the roster (RFC 6121 "interested resource") */
	int priority;
	pl_bytes *presence;     /* last broadcast available presence (serialized), or NULL */
	char **directed;        /* full JIDs that received directed presence from this session */
	size_t ndirected;

	/* XEP-0198 stream management */
	int sm_enabled;
	int sm_resumable;
	char *sm_id;
	uint32_t sm_h_in;       /* stanzas handled from the client */
	uint32_t sm_h_out;      /* stanzas sent to the client */
	uint32_t sm_acked;      /* last h the client acknowledged */
	struct pl_sm_item *sm_queue_head, *sm_queue_tail; /* unacknowledged, in order */
	size_t sm_queued;
	uv_timer_t *sm_timer;   /* resumption timeout while detached */
	int closing;

	UT_hash_handle hh;      /* srv->sessions by full JID */
	UT_hash_handle hh_sm;   /* srv->sm_sessions by sm_id */
};

struct pl_server {
	uv_loop_t *loop;
	pl_config *cfg;
	pl_store *store;
	pl_net *net;
	pl_tls_ctx *tls;
	pl_listener *listeners[16];
	int listener_direct[16];
	int nlisteners;
	pl_user *users;            /* by bare JID */
	pl_session *sessions;      /* by full JID */
	pl_session *sm_sessions;   /* by XEP-0198 id */
	pl_c2s *streams;           /* all client streams (for shutdown) */
	pl_http *http;             /* the [http] server, NULL when port = 0 */
	uint64_t started_ms;
	uint64_t shutdown_started_ms;
	int shutting_down;
	struct {
		uint64_t stanzas_in, stanzas_out, auth_ok, auth_fail, streams_total;
	} stats;
};

/* ---- server (server.c) ---- */
/* Creates the server for cfg (ownership of cfg passes to the server): opens the store, TLS context
 * (generating the self-signed certificate when configured), and listeners. Returns 0 or an error with a
 * message in err. */
int pl_server_start(uv_loop_t *loop, pl_config *cfg, pl_server **out, char *err, size_t errlen);
/* Re-reads certificates and applies cfg's reloadable settings (limits, log level); takes ownership of
 * cfg. Returns 0 or an error with err (the old configuration stays). */
int pl_server_reload(pl_server *srv, pl_config *cfg, char *err, size_t errlen);
/* Closes listeners and every stream with </stream:stream>, then calls done once all connections are
 * closed and the store is flushed. */
void pl_server_shutdown(pl_server *srv, void (*done)(pl_server *srv));
void pl_server_free(pl_server *srv);
/* Status as a JSON object (malloc'd text) for the admin socket. */
char *pl_server_status_json(pl_server *srv);
/* 1 when domain is served here (a virtual host). */
int pl_server_is_local_domain(pl_server *srv, const char *domain);

/* ---- users and sessions (session.c) ---- */
/* Finds or creates the user and calls cb once its roster is loaded (at once if already loaded). The
 * user is referenced for the duration of cb; take pl_user_ref to keep it. status is 0 or PL_ENOTFOUND
 * (no such account; the user object is still valid during cb). */
void pl_user_with(pl_server *srv, const char *node, const char *domain, int anonymous, pl_user_cb cb,
	void *ud);
pl_user *pl_user_find(pl_server *srv, const char *bare);
void pl_user_ref(pl_user *u);
void pl_user_unref(pl_user *u);
/* Binds a session for u with the resource (NULL = generate one). On a conflict with an existing
 * session of the same resource the old session is replaced (closed with <conflict/>). */
pl_session *pl_session_bind(pl_user *u, const char *resource, const pl_session_ops *ops, void *transport,
	uint64_t conn_id);
pl_session *pl_session_find(pl_server *srv, const char *full);
/* Sends a stanza to the session's client (counted for XEP-0198 and queued while detached). Takes no
 * ownership: references b. Returns 0 or an error (then the session is being closed). */
int pl_session_send(pl_session *s, pl_bytes *b);
/* Serializes and sends. */
int pl_session_send_xml(pl_session *s, const pl_xml_node *stanza);
/* The transport went away: either detach (resumable XEP-0198 session) or end the session. */
void pl_session_transport_lost(pl_session *s);
/* Ends the session: unavailable presence broadcast when it was available, unacknowledged stanzas
 * handled (messages to offline storage), removal from the tables. */
void pl_session_end(pl_session *s);

/* ---- routing (router.c) ---- */
/* Routes a stanza the client of session `from` sent (after stamping 'from'). Takes ownership. */
void pl_route_from_client(pl_session *from, pl_xml_node *stanza);
/* Delivers a stanza to a local JID following RFC 6121 §8 (bare/full, offline storage). Takes ownership
 * of stanza; `from`/`to` attributes must already be set. */
void pl_route_local(pl_server *srv, pl_xml_node *stanza);
/* Answers `req` (an iq or message/presence) with a stanza error sent back to `s`. */
void pl_send_error(pl_session *s, const pl_xml_node *req, const char *type, const char *condition,
	const char *text);
/* Builds an error reply for req (from/to swapped) without sending it. */
pl_xml_node *pl_stanza_error(const pl_xml_node *req, const char *type, const char *condition,
	const char *text);
/* Builds an iq result for req. */
pl_xml_node *pl_iq_result(const pl_xml_node *req);
/* Serializes a stanza once into a shared blob with xmlns='jabber:client'. */
pl_bytes *pl_stanza_bytes(const pl_xml_node *stanza);

/* ---- iq handlers (iq.c) ---- */
/* An iq handler answers iqs addressed to the server or to a user's bare JID, for one payload
 * namespace. It returns 1 if it handled (and answered) the iq, 0 to fall through to
 * service-unavailable. `to_user` is NULL for iqs addressed to the server domain. */
typedef int (*pl_iq_handler)(pl_session *from, pl_xml_node *iq, pl_user *to_user);
int pl_iq_register(const char *ns, int for_server, int for_user, pl_iq_handler h);
/* Disco features of the server (extension point): modules add features at start-up. */
void pl_disco_add_feature(const char *feature);
void pl_iq_init(void);
void pl_iq_handle(pl_session *from, pl_xml_node *iq, const pl_jid *to);

/* ---- presence and roster (presence.c, roster.c) ---- */
void pl_presence_from_client(pl_session *s, pl_xml_node *p, const pl_jid *to);
void pl_presence_session_ended(pl_session *s);
/* Unavailable presence from every available session of `of` to every available session of to_bare (a
 * contact that stops seeing the user, RFC 6121 §2.5.2 / §3.2.2). */
void pl_presence_unavailable_to(pl_user *of, const char *to_bare);
int pl_roster_iq(pl_session *from, pl_xml_node *iq, pl_user *to_user);
/* Stores the contact (write-through) and pushes it to interested sessions. */
void pl_roster_update(pl_user *u, pl_contact *c);
pl_contact *pl_roster_find(pl_user *u, const char *jid);
pl_contact *pl_roster_get_or_add(pl_user *u, const char *jid);

/* ---- offline (offline.c) ---- */
/* Stores a message for a user that has no available session (checks the account exists; bounces
 * service-unavailable otherwise). Takes ownership. */
void pl_offline_store(pl_server *srv, const pl_jid *to, pl_xml_node *msg);
/* Delivers stored messages to a session that just became available. */
void pl_offline_deliver(pl_session *s);

/* ---- XEP-0198 (sm.c) ---- */
void pl_sm_enable(pl_session *s, int resume);
void pl_sm_count_out(pl_session *s, pl_bytes *b);
int pl_sm_ack(pl_session *s, uint32_t h);
/* Resends every unacknowledged stanza on the (new) transport. */
void pl_sm_resend(pl_session *s);
void pl_sm_drop_queue(pl_session *s, int to_offline);

#endif
