/* stream.h: client-to-server XML streams (RFC 6120): stream headers and features, STARTTLS, SASL,
 * resource binding, XEP-0198 negotiation and resumption, stream errors, timeouts and keepalives. Once a
 * resource is bound the stream hands stanzas to the router through its pl_session.
 *
 * One pl_c2s serves one client stream on any transport. TCP/TLS connections are built in (pl_c2s_accept);
 * WebSocket (RFC 7395) and BOSH (XEP-0206) provide a pl_c2s_transport and feed already-parsed input:
 * the stream open, each top-level element, the stream close. Output reaches the transport as whole
 * elements whose bytes stand alone (every element carries the namespace declarations it needs, e.g.
 * <stream:features xmlns:stream='http://etherx.jabber.org/streams'>), so a framed transport sends each
 * one as is. */
#ifndef PL_XMPP_STREAM_H
#define PL_XMPP_STREAM_H
#include "xmpp/server.h"

/* Accept callback for c2s listeners (ud = pl_server*). */
void pl_c2s_accept(void *srv, pl_conn *c);
/* Closes every client stream with </stream:stream> (or the given stream error condition). */
void pl_c2s_close_all(pl_server *srv, const char *condition);
/* Number of client streams. */
int pl_c2s_count(pl_server *srv);

/* ---- framed transports (WebSocket, BOSH) ---- */

typedef struct pl_c2s_transport {
	/* The stream header answer: for WebSocket <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' .../>,
	 * for BOSH the attributes of the session creation / restart response. */
	int (*send_open)(void *t, const char *from, const char *id);
	/* One complete top-level element. Returns 0, or PL_ELIMIT when the transport's queue is full (the
	 * stream is then aborted). The transport takes a reference if it keeps b. */
	int (*send_element)(void *t, pl_bytes *b);
	/* The stream ends (after an optional stream error sent with send_element): WebSocket <close/>,
	 * BOSH type='terminate'. Then the transport closes itself and calls pl_c2s_transport_closed. */
	void (*send_close)(void *t);
	/* Flow control while the stream waits for the store (may be NULL). */
	void (*pause)(void *t);
	void (*resume)(void *t);
} pl_c2s_transport;

/* Starts a stream on a framed transport. secure: the transport is encrypted (HTTPS/WSS, or behind a
 * trusted proxy saying so): no STARTTLS is offered and PLAIN is allowed. conn_id names it in logs. */
pl_c2s *pl_c2s_new_framed(pl_server *srv, const pl_c2s_transport *ops, void *t, uint64_t conn_id,
	const char *peer_ip, int secure);
/* Input: the stream open (to, version as sent; either may be NULL), an element (ownership passes), the
 * client's stream close. A restart after SASL success is a new pl_c2s_input_open. */
void pl_c2s_input_open(pl_c2s *c, const char *to, const char *version);
void pl_c2s_input_element(pl_c2s *c, pl_xml_node *el);
void pl_c2s_input_close(pl_c2s *c);
/* A framing error detected by the transport (not-well-formed, policy-violation...): sends the stream
 * error and closes. */
void pl_c2s_input_error(pl_c2s *c, const char *condition, const char *text);
/* The transport is gone (socket closed, BOSH inactivity): like a dropped TCP connection (the session
 * waits for XEP-0198 resumption when enabled). c must not be used afterwards. */
void pl_c2s_transport_closed(pl_c2s *c);

#endif
