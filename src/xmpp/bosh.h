/* bosh.h: XMPP over BOSH (XEP-0124 Bidirectional-streams Over Synchronous HTTP, XEP-0206 XMPP over BOSH)
 * at /http-bind. A BOSH session is a framed transport of one pl_c2s (stream.h): the client's POSTed
 * <body/> documents carry the stream's input, long-polled requests carry its output back.
 *
 * The pure parts (body parsing and validation, the rid window, response framing) are exported so the
 * unit tests and the fuzzer can reach them; the session machinery is internal to bosh.c. */
#ifndef PL_XMPP_BOSH_H
#define PL_XMPP_BOSH_H
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "http/http.h"
#include "xml/xml.h"
#include "xmpp/server.h"

#define PL_NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define PL_NS_XBOSH "urn:xmpp:xbosh"

/* Highest rid a client may use (XEP-0124 §14.1: 2^53 - 1, so that JavaScript clients count exactly). */
#define PL_BOSH_RID_MAX 9007199254740991ULL
/* Upper bound of the 'requests' value (and so of the retransmission cache) whatever the configuration. */
#define PL_BOSH_REQUESTS_CAP 16

/* Registers the /http-bind route on http for srv's client streams. Call once, after srv and http exist. */
void pl_bosh_register(pl_server *srv, pl_http *http);
/* Optional at shutdown (before pl_http_free): ends every BOSH session (answering its held requests with
 * type='terminate') and frees the module's state. Without it the state stays reachable until exit. */
void pl_bosh_shutdown(pl_server *srv);
/* Number of BOSH sessions (for /metrics). */
int pl_bosh_count(pl_server *srv);

/* A parsed request body. Strings point into root (owned) and are NULL when the attribute is absent. */
typedef struct pl_bosh_body {
	pl_xml_node *root; /* the <body/> element; its element children are the stanzas to deliver */
	const char *sid;
	const char *to;
	const char *type; /* "terminate" or NULL */
	const char *ver;
	const char *xmpp_version; /* xmpp:version (urn:xmpp:xbosh) */
	uint64_t rid;
	int wait;    /* -1 when absent */
	int hold;    /* -1 when absent */
	int restart; /* xmpp:restart='true' */
} pl_bosh_body;

enum {
	PL_BOSH_E_XML = -201,  /* not well-formed, restricted XML or over the size limit -> HTTP 400 */
	PL_BOSH_E_ROOT = -202, /* root is not <body xmlns='http://jabber.org/protocol/httpbind'/> -> 400 */
	PL_BOSH_E_RID = -203,  /* rid missing, not a decimal integer, 0 or above PL_BOSH_RID_MAX -> 400 */
	PL_BOSH_E_ATTR = -204, /* wait/hold not a non-negative integer, sid empty or too long -> 400 */
};

/* Parses one POSTed body of len bytes (at most max_bytes, 0 = no limit) and validates its attributes.
 * Children in the httpbind namespace (clients that omit xmlns='jabber:client') are moved to jabber:client.
 * Returns 0 and fills *out (free with pl_bosh_body_free), or a PL_BOSH_E_* code with *out zeroed. */
int pl_bosh_body_parse(const char *data, size_t len, size_t max_bytes, pl_bosh_body *out);
void pl_bosh_body_free(pl_bosh_body *b);

/* Where a request's rid falls, given the highest rid processed in order (last) and the window
 * ('requests'): NEXT = last + 1; AHEAD = later but within the window (hold it until the gap fills);
 * REPEAT = already received and within the window (retransmission: answer again from the cache);
 * OUT = anything else (terminate with item-not-found). */
enum pl_bosh_rid_verdict { PL_BOSH_RID_NEXT, PL_BOSH_RID_AHEAD, PL_BOSH_RID_REPEAT, PL_BOSH_RID_OUT };
enum pl_bosh_rid_verdict pl_bosh_rid_check(uint64_t last, uint64_t rid, unsigned window);

/* Appends a complete response <body/> to out: type ("terminate" or NULL), condition (NULL = none),
 * extra_attrs (NULL or pre-escaped ` name='value'` text, e.g. the session creation attributes), then the
 * n standalone elements as they are. Without elements the body is an empty element. */
void pl_bosh_wrap(pl_buf *out, const char *type, const char *condition, const char *extra_attrs,
                  pl_bytes *const *els, size_t n);

#endif
