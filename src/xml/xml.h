/* xml.h: parley's XML layer. It owns the stanza tree (pl_xml_node), the incremental stream parser built
 * on expat that turns bytes from a connection into stanza trees, and the serializer that turns trees
 * back into bytes with correct escaping and namespace declarations. It knows nothing of XMPP semantics
 * beyond stream framing (a stream root element whose children are stanzas).
 *
 * Namespaces: every element carries its resolved namespace URI in `ns` (never a prefix). Attributes
 * without a namespace are stored under their plain name; the xml: namespace attribute is stored as
 * "xml:lang"; any other namespaced attribute is stored as "<uri>|<local>" (e.g.
 * "urn:xmpp:foo|bar") and the serializer declares a prefix for it. xmlns declarations are never stored
 * as attributes.
 *
 * Restricted XML (RFC 6120 §11.1): DTDs, comments, processing instructions and entity declarations are
 * errors (PL_XML_E_RESTRICTED). Only UTF-8 input is accepted. */
#ifndef PL_XML_XML_H
#define PL_XML_XML_H
#include <stddef.h>
#include "core/buf.h"

enum pl_xml_node_type { PL_XML_ELEM = 1, PL_XML_TEXT = 2 };

typedef struct pl_xml_attr {
	char *name;
	char *value;
} pl_xml_attr;

typedef struct pl_xml_node {
	enum pl_xml_node_type type;
	char *name; /* element local name; NULL for text */
	char *ns;   /* element namespace URI (may be NULL = no namespace); NULL for text */
	pl_xml_attr *attrs;
	size_t nattrs;
	struct pl_xml_node **children;
	size_t nchildren;
	size_t cap_children;
	char *text; /* text node content (UTF-8, unescaped, NUL-terminated); NULL for elements */
	size_t textlen;
	struct pl_xml_node *parent;
	size_t cap_attrs; /* allocated slots in attrs (managed by the tree functions) */
} pl_xml_node;

/* Parser limits: element nesting below a stanza's root and attributes per element. Exceeding either is
 * PL_XML_E_TOO_BIG. */
enum { PL_XML_MAX_DEPTH = 100, PL_XML_MAX_ATTRS = 100 };

/* ---- Tree. A tree is owned by whoever holds its root; pl_xml_free frees the whole subtree and
 * detaches it from its parent if it has one. ---- */

/* New element. ns == NULL means "no namespace" (use pl_xml_add_elem to inherit the parent's). */
pl_xml_node *pl_xml_elem_new(const char *name, const char *ns);
void pl_xml_free(pl_xml_node *n);
/* Appends child (taking ownership) and returns it. */
pl_xml_node *pl_xml_append(pl_xml_node *parent, pl_xml_node *child);
/* New child element; ns == NULL inherits the parent's namespace. Returns the child (owned by parent). */
pl_xml_node *pl_xml_add_elem(pl_xml_node *parent, const char *name, const char *ns);
/* Appends a text child (merged into a preceding text child if there is one). */
void pl_xml_add_text(pl_xml_node *parent, const char *text, size_t len);
/* Convenience: child element with a text body; returns the child. */
pl_xml_node *pl_xml_add_text_elem(pl_xml_node *parent, const char *name, const char *ns,
	const char *text);
/* Sets (or replaces) an attribute; value == NULL removes it. */
void pl_xml_set_attr(pl_xml_node *n, const char *name, const char *value);
/* Returns the attribute value or NULL. */
const char *pl_xml_attr_get(const pl_xml_node *n, const char *name);
/* First child element with this name (NULL = any) and namespace (NULL = any). */
pl_xml_node *pl_xml_child(const pl_xml_node *n, const char *name, const char *ns);
/* Next sibling element after `after` matching name/ns (NULL = any); for iteration. */
pl_xml_node *pl_xml_next_child(const pl_xml_node *n, const pl_xml_node *after, const char *name,
	const char *ns);
/* First child element, or NULL. */
pl_xml_node *pl_xml_first_elem(const pl_xml_node *n);
/* Concatenated text of the direct text children; newly allocated (caller frees), "" when none. */
char *pl_xml_text(const pl_xml_node *n);
/* Text of the first child element name/ns, newly allocated, or NULL if no such child. */
char *pl_xml_child_text(const pl_xml_node *n, const char *name, const char *ns);
/* Deep copy (detached, parent = NULL). */
pl_xml_node *pl_xml_copy(const pl_xml_node *n);
/* Detaches child from its parent without freeing it. */
void pl_xml_detach(pl_xml_node *child);
/* Number of element children. */
size_t pl_xml_count_elems(const pl_xml_node *n);

/* ---- Serializer ---- */

/* Appends the serialization of n to out. `outer_ns` is the default namespace in scope where the
 * bytes will be placed (e.g. "jabber:client" inside a c2s stream, NULL for a standalone document as in
 * RFC 7395 WebSocket framing): an xmlns attribute is written on n only when its ns differs. */
void pl_xml_serialize(const pl_xml_node *n, const char *outer_ns, pl_buf *out);
/* Same, into a new NUL-terminated string (caller frees). */
char *pl_xml_to_string(const pl_xml_node *n, const char *outer_ns);
/* Parses one complete standalone XML document (e.g. a stored stanza) into a tree, with the same
 * restrictions as the stream parser and the size limit max_bytes (0 = no limit). Returns 0 and *out,
 * or a PL_XML_E_* error. */
int pl_xml_parse_document(const char *data, size_t len, size_t max_bytes, pl_xml_node **out);

/* ---- Stream parser ---- */

enum {
	PL_XML_E_NOT_WELL_FORMED = -101, /* -> stream error not-well-formed */
	PL_XML_E_RESTRICTED = -102,      /* -> restricted-xml */
	PL_XML_E_TOO_BIG = -103,         /* stanza over the size limit -> policy-violation */
	PL_XML_E_ENCODING = -104,        /* not UTF-8 -> unsupported-encoding */
	PL_XML_E_STOPPED = -105,         /* a callback returned a negative value */
};

/* What a callback asks the parser to do next. */
enum {
	PL_XML_CONTINUE = 0,
	PL_XML_RESTART = 1,         /* reset the parser (new stream header expected) and go on with the
	                               rest of the bytes already fed (used after SASL success) */
	PL_XML_RESTART_DISCARD = 2, /* reset the parser and drop the rest of the bytes already fed (used
	                               after STARTTLS: plaintext after <starttls/> must be ignored) */
};

typedef struct pl_xml_stream_cb {
	/* The stream root element has opened: `root` holds its name, ns and attributes (no children); it is
	 * owned by the parser and valid only during the call. In fragment mode this is not called. */
	int (*on_open)(void *ud, const pl_xml_node *root);
	/* A complete stanza (child of the root; in fragment mode, every top-level element). Ownership of
	 * `stanza` passes to the callee. */
	int (*on_stanza)(void *ud, pl_xml_node *stanza);
	/* The stream root element closed (</stream:stream>). */
	int (*on_close)(void *ud);
} pl_xml_stream_cb;
/* Callbacks return PL_XML_CONTINUE, PL_XML_RESTART, PL_XML_RESTART_DISCARD or a negative value to stop
 * parsing (pl_xml_stream_feed then returns PL_XML_E_STOPPED and must not be called again). */

typedef struct pl_xml_stream pl_xml_stream;

enum { PL_XML_STREAM_FRAGMENTS = 1 }; /* flags: each top-level element is a stanza (WebSocket framing,
                                         where every message is a standalone element) */

/* Creates a parser. max_stanza bounds the bytes of one stanza (counted while it is being parsed, partial
 * tokens included) and also the bytes of the stream header. Returns NULL never (aborts on OOM). */
pl_xml_stream *pl_xml_stream_new(const pl_xml_stream_cb *cb, void *ud, size_t max_stanza, int flags);
/* Feeds bytes. Returns 0, or a PL_XML_E_* error after which the stream is dead (the caller sends the
 * matching stream error and closes). Callbacks run synchronously inside this call. */
int pl_xml_stream_feed(pl_xml_stream *s, const char *data, size_t len);
/* Resets to the initial state (expects a new stream header). Not callable from inside a callback; use
 * the PL_XML_RESTART return value there. */
void pl_xml_stream_reset(pl_xml_stream *s);
void pl_xml_stream_free(pl_xml_stream *s);
/* Frees the expat parser and the buffers of a stream that is between stanzas (about 10 KiB), for
 * connections that have been quiet a while; the next pl_xml_stream_feed recreates them and replays the
 * stream header without callbacks, so nothing changes for the caller. Returns 1 if it freed something,
 * 0 if the stream is inside the stream header or a stanza, holds an unfinished token, is dead, or was
 * trimmed already (a no-op then). Not callable from inside a callback. */
int pl_xml_stream_trim(pl_xml_stream *s);

#endif
