/* fuzz_websocket.c: libFuzzer target for the XMPP-over-WebSocket input path: raw client bytes through the
 * WebSocket frame layer (wslay with parley's callbacks and message-size limit) and each complete text
 * message through the RFC 7395 message parser. No socket and no stream layer behind it. */
#include "xmpp/websocket.h"
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_ws_fuzz_input(data, size);
	return 0;
}
