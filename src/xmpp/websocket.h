/* websocket.h: XMPP over WebSocket (RFC 7395) at /xmpp-websocket: the HTTP upgrade, WebSocket frames
 * with wslay, and the RFC 7395 framing (<open/>, one element per text message, <close/>) in front of the
 * same client stream layer as TCP (stream.c), so SASL, binding and XEP-0198 resumption work unchanged. */
#ifndef PL_XMPP_WEBSOCKET_H
#define PL_XMPP_WEBSOCKET_H
#include <stddef.h>
#include <stdint.h>
#include "http/http.h"
#include "xmpp/server.h"

#define PL_NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"

/* Registers the /xmpp-websocket route on http for srv. */
void pl_ws_register(pl_server *srv, pl_http *http);
/* Number of open WebSocket client connections (for /metrics). */
int pl_ws_count(void);

/* What one text message of the XMPP subprotocol is (pure; used by the connection and the fuzzer). */
enum pl_ws_msg_kind { PL_WS_MSG_OPEN = 1, PL_WS_MSG_CLOSE = 2, PL_WS_MSG_ELEMENT = 3 };
/* Parses msg as one standalone XML element (max_bytes limit). On success returns 0, the kind and the
 * element in *el (caller frees; for OPEN/CLOSE too, so the caller can read 'to' and 'version'). On
 * failure returns the stream error condition to send: "not-well-formed", "restricted-xml",
 * "policy-violation" (too big) or "invalid-namespace" (a stream-level element in the wrong namespace),
 * as a negative code with *condition set. */
int pl_ws_parse_message(const char *msg, size_t len, size_t max_bytes, int *kind, pl_xml_node **el,
	const char **condition);

/* Fuzzing entry point: runs raw client bytes through the WebSocket frame layer (wslay, with parley's
 * limits and callbacks) and the message parser, with no socket and no stream behind. */
void pl_ws_fuzz_input(const uint8_t *data, size_t len);

#endif
