/* stream.c: the incremental XMPP stream parser on expat, and pl_xml_parse_document (the same machinery in
 * a one-document mode). It owns the expat parser, enforces restricted XML (RFC 6120 §11.1: no DTD,
 * comments, processing instructions or entity references beyond the predefined ones; UTF-8 only),
 * bounds stanza size, nesting depth and attribute count while parsing, builds one tree per stanza and
 * hands it to the caller's callbacks. Stream semantics beyond framing (namespaces, versions) are the
 * caller's (src/xmpp/stream.c).
 *
 * Framing: depth 1 is the stream root, depth 2 elements are stanzas. In fragment mode (RFC 7395
 * WebSocket) an invisible wrapper element is fed to expat first, so every top-level element the peer
 * sends is at depth 2 and becomes a stanza; an XML declaration is then a misplaced PI (restricted).
 *
 * Size limit: bytes are handed to expat in chunks that never take the count of bytes since the last
 * stanza boundary (end of the stream header, of a stanza, or of whitespace between stanzas) past
 * max_stanza, so expat never buffers more than that, whatever the size of an unfinished token.
 *
 * Restarts: a callback cannot reset expat from inside expat. It stops the parser (XML_StopParser), we
 * remember where the event ended and, once XML_Parse has returned, reset and go on from there.
 *
 * Trimming: an expat parser costs about 10 KiB (its tables, pools and an input buffer as large as the
 * largest chunk it was fed), and most connections are idle. pl_xml_stream_trim frees it between
 * stanzas; the next feed creates a new one and replays the stream header (its exact bytes, kept from
 * when it was parsed, at most max_stanza) without callbacks, so namespace declarations still apply. */
#include "xml/xml.h"
#include "core/alloc.h"
#include <expat.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Expat 2.6 (and Debian's backport into 2.5) may defer reparsing an unfinished token until enough new
 * data arrives, which would delay stanzas fed in small pieces. Disable it where the library has it. */
#if XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION < 6
#pragma weak XML_SetReparseDeferralEnabled
XMLPARSEAPI(XML_Bool) XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled);
#define HAVE_DEFERRAL_SWITCH() (XML_SetReparseDeferralEnabled != NULL)
#else
#define HAVE_DEFERRAL_SWITCH() 1
#endif

#define NS_SEP '|'
#define NS_XML_PREFIX "http://www.w3.org/XML/1998/namespace|"
#define CHUNK 16384 /* most bytes handed to expat at once */
#define FRAGMENT_WRAPPER "<pl-fragments>"

enum mode { MODE_STREAM, MODE_FRAGMENTS, MODE_DOCUMENT };

struct pl_xml_stream {
	XML_Parser p;
	pl_xml_stream_cb cb;
	void *ud;
	size_t max; /* SIZE_MAX = unlimited */
	enum mode mode;
	int stanza_depth;   /* depth of the elements that are delivered as trees: 2, or 1 for documents */
	int depth;          /* current element depth, 1 = root */
	pl_xml_node *cur;   /* innermost open element of the stanza being built */
	pl_buf text;        /* character data not yet attached to cur */
	long long fed;      /* bytes handed to expat since the last reset */
	long long boundary; /* offset (same origin) of the end of the last stanza boundary */
	int stop;           /* expat was stopped from a handler: see err / action */
	int err;            /* PL_XML_E_* that stopped it, or 0 */
	int action;         /* PL_XML_RESTART or PL_XML_RESTART_DISCARD asked by a callback */
	long long resume;   /* offset where the bytes after a restart begin */
	int dead;           /* error an earlier feed returned */
	pl_xml_node *doc;   /* document mode: the parsed root */
	pl_buf head;        /* stream mode: the bytes up to the end of the root's start tag */
	long long head_end; /* their length once the root has opened, else -1 */
	int replaying;      /* the header is being parsed again after a trim: no callbacks */
};

static long long event_end(pl_xml_stream *s)
{
	return (long long)XML_GetCurrentByteIndex(s->p) + XML_GetCurrentByteCount(s->p);
}

static void halt(pl_xml_stream *s, int err)
{
	if (s->stop) return;
	s->stop = 1;
	s->err = err;
	XML_StopParser(s->p, XML_FALSE);
}

/* Applies a callback's return value. */
static void after_callback(pl_xml_stream *s, int rc)
{
	if (rc < 0) {
		halt(s, PL_XML_E_STOPPED);
	} else if (rc == PL_XML_RESTART || rc == PL_XML_RESTART_DISCARD) {
		s->action = rc;
		s->resume = event_end(s);
		halt(s, 0);
	}
}

/* Builds an element from expat's "uri|local" name and attribute list. */
static pl_xml_node *make_elem(const XML_Char *name, const XML_Char **atts, size_t natts)
{
	pl_xml_node *n = PL_NEW(pl_xml_node);
	n->type = PL_XML_ELEM;
	const char *bar = strrchr(name, NS_SEP);
	if (bar) {
		n->ns = pl_strndup(name, (size_t)(bar - name));
		n->name = pl_strdup(bar + 1);
	} else {
		n->name = pl_strdup(name);
	}
	if (natts) {
		n->attrs = pl_malloc(natts * sizeof(*n->attrs));
		n->cap_attrs = natts;
		for (size_t i = 0; i < natts; i++) {
			const char *an = atts[2 * i];
			size_t xl = sizeof(NS_XML_PREFIX) - 1;
			if (strncmp(an, NS_XML_PREFIX, xl) == 0) {
				size_t ll = strlen(an + xl);
				char *v = pl_malloc(4 + ll + 1);
				memcpy(v, "xml:", 4);
				memcpy(v + 4, an + xl, ll + 1);
				n->attrs[i].name = v;
			} else {
				n->attrs[i].name = pl_strdup(an);
			}
			n->attrs[i].value = pl_strdup(atts[2 * i + 1]);
		}
		n->nattrs = natts;
	}
	return n;
}

static void flush_text(pl_xml_stream *s)
{
	if (s->text.len == 0) return;
	if (s->cur) pl_xml_add_text(s->cur, s->text.data, s->text.len);
	pl_buf_reset(&s->text);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	pl_xml_stream *s = ud;
	if (s->stop) return;
	s->depth++;
	if (s->depth > s->stanza_depth - 1 + PL_XML_MAX_DEPTH) {
		halt(s, PL_XML_E_TOO_BIG);
		return;
	}
	size_t natts = 0;
	while (atts[2 * natts]) natts++;
	if (natts > PL_XML_MAX_ATTRS) {
		halt(s, PL_XML_E_TOO_BIG);
		return;
	}
	if (s->depth < s->stanza_depth) { /* the stream root (or the fragment wrapper) */
		s->boundary = event_end(s);
		if (s->mode == MODE_FRAGMENTS || s->replaying) return;
		s->head_end = s->boundary;
		pl_xml_node *root = make_elem(name, atts, natts);
		int rc = s->cb.on_open ? s->cb.on_open(s->ud, root) : PL_XML_CONTINUE;
		pl_xml_free(root);
		after_callback(s, rc);
		return;
	}
	flush_text(s);
	pl_xml_node *n = make_elem(name, atts, natts);
	if (s->cur) pl_xml_append(s->cur, n);
	s->cur = n;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	pl_xml_stream *s = ud;
	if (s->stop) return;
	int d = s->depth--;
	if (d < s->stanza_depth) {
		if (s->mode == MODE_FRAGMENTS) { /* the peer closed our invisible wrapper */
			halt(s, PL_XML_E_NOT_WELL_FORMED);
			return;
		}
		s->boundary = event_end(s);
		after_callback(s, s->cb.on_close ? s->cb.on_close(s->ud) : PL_XML_CONTINUE);
		return;
	}
	flush_text(s);
	pl_xml_node *n = s->cur;
	s->cur = n->parent;
	if (d != s->stanza_depth) return;
	s->boundary = event_end(s);
	if (s->mode == MODE_DOCUMENT) {
		s->doc = n;
		return;
	}
	if (!s->cb.on_stanza) {
		pl_xml_free(n);
		return;
	}
	after_callback(s, s->cb.on_stanza(s->ud, n));
}

static void XMLCALL on_text(void *ud, const XML_Char *data, int len)
{
	pl_xml_stream *s = ud;
	if (s->stop) return;
	if (s->depth >= s->stanza_depth) {
		pl_buf_append(&s->text, data, (size_t)len);
		return;
	}
	/* Between stanzas only whitespace (keepalives) is allowed; it ends a boundary. */
	for (int i = 0; i < len; i++) {
		char c = data[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			halt(s, PL_XML_E_NOT_WELL_FORMED);
			return;
		}
	}
	s->boundary = event_end(s);
}

static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
	int standalone)
{
	pl_xml_stream *s = ud;
	if (s->stop) return;
	if (encoding && strcasecmp(encoding, "UTF-8") != 0) halt(s, PL_XML_E_ENCODING);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
	const XML_Char *pubid, int has_internal_subset)
{
	halt(ud, PL_XML_E_RESTRICTED);
}

static void XMLCALL on_comment(void *ud, const XML_Char *data) { halt(ud, PL_XML_E_RESTRICTED); }

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	halt(ud, PL_XML_E_RESTRICTED);
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
	int value_len, const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
	const XML_Char *notation)
{
	halt(ud, PL_XML_E_RESTRICTED);
}

static void setup_parser(pl_xml_stream *s)
{
	XML_Parser p = s->p;
	XML_SetUserData(p, s);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetXmlDeclHandler(p, on_xml_decl);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetCommentHandler(p, on_comment);
	XML_SetProcessingInstructionHandler(p, on_pi);
	XML_SetEntityDeclHandler(p, on_entity_decl);
	if (HAVE_DEFERRAL_SWITCH()) XML_SetReparseDeferralEnabled(p, XML_FALSE);
}

/* Frees the stanza under construction (cur and everything above it). */
static void drop_partial(pl_xml_stream *s)
{
	if (!s->cur) return;
	pl_xml_node *top = s->cur;
	while (top->parent) top = top->parent;
	pl_xml_free(top);
	s->cur = NULL;
}

/* Puts the parser back to "expecting a stream header" (not from inside a handler). */
static void restart(pl_xml_stream *s)
{
	drop_partial(s);
	pl_buf_reset(&s->text);
	pl_buf_free(&s->head);
	s->head_end = -1;
	if (s->p) XML_ParserReset(s->p, "UTF-8");
	else s->p = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!s->p) abort();
	setup_parser(s);
	s->depth = 0;
	s->fed = 0;
	s->boundary = 0;
	s->stop = 0;
	s->err = 0;
	s->action = 0;
	s->resume = 0;
	s->dead = 0;
	if (s->mode == MODE_FRAGMENTS) {
		s->fed = (long long)strlen(FRAGMENT_WRAPPER);
		XML_Parse(s->p, FRAGMENT_WRAPPER, (int)strlen(FRAGMENT_WRAPPER), XML_FALSE);
	}
}

static pl_xml_stream *create(const pl_xml_stream_cb *cb, void *ud, size_t max, enum mode mode)
{
	pl_xml_stream *s = PL_NEW(pl_xml_stream);
	if (cb) s->cb = *cb;
	s->ud = ud;
	s->max = max ? max : SIZE_MAX;
	s->mode = mode;
	s->stanza_depth = mode == MODE_DOCUMENT ? 1 : 2;
	pl_buf_init(&s->text);
	pl_buf_init(&s->head);
	restart(s);
	return s;
}

pl_xml_stream *pl_xml_stream_new(const pl_xml_stream_cb *cb, void *ud, size_t max_stanza, int flags)
{
	return create(cb, ud, max_stanza, (flags & PL_XML_STREAM_FRAGMENTS) ? MODE_FRAGMENTS : MODE_STREAM);
}

void pl_xml_stream_reset(pl_xml_stream *s) { restart(s); }

void pl_xml_stream_free(pl_xml_stream *s)
{
	if (!s) return;
	drop_partial(s);
	pl_xml_free(s->doc);
	pl_buf_free(&s->text);
	pl_buf_free(&s->head);
	if (s->p) XML_ParserFree(s->p);
	pl_free(s);
}

int pl_xml_stream_trim(pl_xml_stream *s)
{
	if (!s->p || s->mode == MODE_DOCUMENT || s->dead || s->stop || s->cur || s->text.len) return 0;
	if (s->fed != s->boundary) return 0; /* expat holds bytes of an unfinished token */
	if (s->mode == MODE_STREAM && s->fed != 0 && (s->depth != 1 || s->head_end != (long long)s->head.len))
		return 0; /* inside the stream header */
	XML_ParserFree(s->p);
	s->p = NULL;
	pl_buf_free(&s->text);
	return 1;
}

/* Creates the parser again after a trim, in the state the trim left: after the stream header (or the
 * fragment wrapper), or at the start. Returns 0, or an error if the replay fails (it cannot: the same
 * bytes parsed before). */
static int revive(pl_xml_stream *s)
{
	s->p = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!s->p) abort();
	setup_parser(s);
	const char *h = s->mode == MODE_FRAGMENTS ? FRAGMENT_WRAPPER : s->head.data;
	size_t hl = s->mode == MODE_FRAGMENTS ? strlen(FRAGMENT_WRAPPER) : s->head.len;
	s->depth = 0;
	s->fed = s->boundary = (long long)hl;
	if (hl == 0) return 0;
	s->replaying = 1;
	enum XML_Status st = XML_Parse(s->p, h, (int)hl, XML_FALSE);
	s->replaying = 0;
	if (st != XML_STATUS_OK || s->stop || s->depth != 1) return PL_XML_E_NOT_WELL_FORMED;
	return 0;
}

static int expat_error(pl_xml_stream *s)
{
	switch (XML_GetErrorCode(s->p)) {
	case XML_ERROR_UNDEFINED_ENTITY:
	case XML_ERROR_MISPLACED_XML_PI: return PL_XML_E_RESTRICTED;
	case XML_ERROR_UNKNOWN_ENCODING:
	case XML_ERROR_INCORRECT_ENCODING: return PL_XML_E_ENCODING;
	default: return PL_XML_E_NOT_WELL_FORMED;
	}
}

static int die(pl_xml_stream *s, int err)
{
	drop_partial(s);
	pl_buf_reset(&s->text);
	s->dead = err;
	return err;
}

int pl_xml_stream_feed(pl_xml_stream *s, const char *data, size_t len)
{
	if (s->dead) return s->dead;
	if (!s->p && revive(s) != 0) return die(s, PL_XML_E_NOT_WELL_FORMED);
	size_t off = 0;
	while (off < len) {
		size_t used = (size_t)(s->fed - s->boundary);
		if (used >= s->max) return die(s, PL_XML_E_TOO_BIG);
		size_t n = len - off;
		if (n > CHUNK) n = CHUNK;
		if (n > s->max - used) n = s->max - used;
		long long start = s->fed;
		s->fed += (long long)n;
		if (s->mode == MODE_STREAM && s->head_end < 0) pl_buf_append(&s->head, data + off, n);
		enum XML_Status st = XML_Parse(s->p, data + off, (int)n, XML_FALSE);
		if (s->head_end >= 0 && s->head.len > (size_t)s->head_end) s->head.len = (size_t)s->head_end;
		if (s->stop) {
			if (s->err) return die(s, s->err);
			int action = s->action;
			long long resume = s->resume;
			restart(s);
			if (action == PL_XML_RESTART_DISCARD) return 0;
			if (resume < start) resume = start;
			if (resume > start + (long long)n) resume = start + (long long)n;
			off += (size_t)(resume - start);
			continue;
		}
		if (st != XML_STATUS_OK) return die(s, expat_error(s));
		off += n;
	}
	return 0;
}

int pl_xml_parse_document(const char *data, size_t len, size_t max_bytes, pl_xml_node **out)
{
	*out = NULL;
	if (max_bytes && len > max_bytes) return PL_XML_E_TOO_BIG;
	pl_xml_stream *s = create(NULL, NULL, 0, MODE_DOCUMENT);
	int rc = pl_xml_stream_feed(s, data, len);
	if (rc == 0) {
		enum XML_Status st = XML_Parse(s->p, NULL, 0, XML_TRUE);
		if (s->stop && s->err) rc = s->err;
		else if (st != XML_STATUS_OK) rc = expat_error(s);
		else if (!s->doc) rc = PL_XML_E_NOT_WELL_FORMED;
	}
	if (rc == 0) {
		*out = s->doc;
		s->doc = NULL;
	}
	pl_xml_stream_free(s);
	return rc;
}
