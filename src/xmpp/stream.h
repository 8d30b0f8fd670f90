/* stream.h: client-to-server XML streams (RFC 6120) over a pl_conn: stream headers and features,
 * STARTTLS, SASL, resource binding, XEP-0198 negotiation and resumption, stream errors, timeouts and
 * keepalives. Once a resource is bound the stream hands stanzas to the router through its pl_session. */
#ifndef PL_XMPP_STREAM_H
#define PL_XMPP_STREAM_H
#include "xmpp/server.h"

/* Accept callback for c2s listeners (ud = pl_server*). */
void pl_c2s_accept(void *srv, pl_conn *c);
/* Closes every client stream with </stream:stream> (or the given stream error condition). */
void pl_c2s_close_all(pl_server *srv, const char *condition);
/* Number of client streams. */
int pl_c2s_count(pl_server *srv);

#endif
