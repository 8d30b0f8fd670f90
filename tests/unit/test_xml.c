/* test_xml.c: unit tests for src/xml: the tree API, the serializer (escaping, namespace declarations,
 * round trips through the parser), pl_xml_parse_document, and the stream parser (stream header, stanza
 * delivery across arbitrary feed boundaries, restarts, restricted and malformed XML, size/depth/attribute
 * limits enforced while parsing, WebSocket fragment mode, stream close). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "xml/xml.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define HEADER "<?xml version='1.0'?>" STREAM_OPEN
#define STREAM_OPEN                                                                                \
	"<stream:stream xmlns='jabber:client' "                                                        \
	"xmlns:stream='http://etherx.jabber.org/streams' to='example.com' from='a@example.com' "       \
	"version='1.0' xml:lang='en' id='s1'>"

/* ---- helpers ---- */

static int str_eq(const char *a, const char *b)
{
	if (!a || !b) return a == b;
	return strcmp(a, b) == 0;
}

/* Structural equality: same type, name, ns, attributes in order, children. */
static int tree_equal(const pl_xml_node *a, const pl_xml_node *b)
{
	if (a->type != b->type) return 0;
	if (a->type == PL_XML_TEXT)
		return a->textlen == b->textlen && memcmp(a->text, b->text, a->textlen) == 0;
	if (!str_eq(a->name, b->name) || !str_eq(a->ns, b->ns)) return 0;
	if (a->nattrs != b->nattrs || a->nchildren != b->nchildren) return 0;
	for (size_t i = 0; i < a->nattrs; i++)
		if (!str_eq(a->attrs[i].name, b->attrs[i].name) || !str_eq(a->attrs[i].value, b->attrs[i].value))
			return 0;
	for (size_t i = 0; i < a->nchildren; i++) {
		if (a->children[i]->parent != a || b->children[i]->parent != b) return 0;
		if (!tree_equal(a->children[i], b->children[i])) return 0;
	}
	return 1;
}

static pl_xml_node *parse(const char *s)
{
	pl_xml_node *n = NULL;
	int rc = pl_xml_parse_document(s, strlen(s), 0, &n);
	if (rc != 0) fail_msg("parse of %s failed: %d", s, rc);
	return n;
}

/* parse(serialize(n)) == n. With an outer namespace, the bytes are parsed inside a wrapper element that
 * declares it as the default namespace, as they would be inside a stream. */
static void assert_roundtrip(const pl_xml_node *n, const char *outer)
{
	char *s = pl_xml_to_string(n, outer);
	pl_buf doc = PL_BUF_INIT;
	if (outer) {
		pl_buf_appends(&doc, "<wrap xmlns='");
		pl_buf_append_xml_escaped(&doc, outer, strlen(outer), 1);
		pl_buf_appends(&doc, "'>");
	}
	pl_buf_appends(&doc, s);
	if (outer) pl_buf_appends(&doc, "</wrap>");
	pl_xml_node *back = NULL;
	int rc = pl_xml_parse_document(doc.data, doc.len, 0, &back);
	if (rc != 0) fail_msg("reparse of %s failed: %d", doc.data, rc);
	const pl_xml_node *got = outer ? back->children[0] : back;
	if (outer) assert_int_equal(back->nchildren, 1);
	if (!tree_equal(n, got)) fail_msg("round trip differs: %s", doc.data);
	pl_xml_free(back);
	pl_buf_free(&doc);
	free(s);
}

/* Records what the stream parser reports; per-call return values can be scripted. */
typedef struct rec {
	int opens, closes;
	char *open_attrs; /* "name=value;" of the last root */
	char *open_name, *open_ns;
	char *stanzas[64];
	int nstanzas;
	int stanza_rc[64]; /* return value for the n-th stanza */
	int open_rc, close_rc;
	const char *stanza_outer; /* outer ns used to serialize recorded stanzas */
} rec;

static void rec_free(rec *r)
{
	free(r->open_attrs);
	free(r->open_name);
	free(r->open_ns);
	for (int i = 0; i < r->nstanzas; i++) free(r->stanzas[i]);
	memset(r, 0, sizeof *r);
}

static int rec_open(void *ud, const pl_xml_node *root)
{
	rec *r = ud;
	r->opens++;
	free(r->open_attrs);
	free(r->open_name);
	free(r->open_ns);
	r->open_name = pl_strdup(root->name);
	r->open_ns = pl_strdup(root->ns);
	pl_buf b = PL_BUF_INIT;
	for (size_t i = 0; i < root->nattrs; i++)
		pl_buf_printf(&b, "%s=%s;", root->attrs[i].name, root->attrs[i].value);
	assert_int_equal(root->nchildren, 0);
	r->open_attrs = b.data ? pl_buf_steal(&b) : pl_strdup("");
	return r->open_rc;
}

static int rec_stanza(void *ud, pl_xml_node *st)
{
	rec *r = ud;
	assert_null(st->parent);
	assert_true(r->nstanzas < 64);
	int rc = r->stanza_rc[r->nstanzas];
	r->stanzas[r->nstanzas++] = pl_xml_to_string(st, r->stanza_outer);
	pl_xml_free(st);
	return rc;
}

static int rec_close(void *ud)
{
	rec *r = ud;
	r->closes++;
	return r->close_rc;
}

static const pl_xml_stream_cb rec_cb = {rec_open, rec_stanza, rec_close};

static int feed_str(pl_xml_stream *s, const char *str) { return pl_xml_stream_feed(s, str, strlen(str)); }

/* ---- tree ---- */

static void test_tree_api(void **state)
{
	pl_xml_node *m = pl_xml_elem_new("message", "jabber:client");
	pl_xml_set_attr(m, "to", "a@b");
	pl_xml_set_attr(m, "type", "chat");
	pl_xml_set_attr(m, "to", "c@d");
	assert_string_equal(pl_xml_attr_get(m, "to"), "c@d");
	assert_int_equal(m->nattrs, 2);
	pl_xml_set_attr(m, "to", NULL);
	assert_null(pl_xml_attr_get(m, "to"));
	assert_string_equal(pl_xml_attr_get(m, "type"), "chat");
	for (int i = 0; i < 50; i++) {
		char k[16];
		snprintf(k, sizeof k, "a%d", i);
		pl_xml_set_attr(m, k, k);
	}
	assert_string_equal(pl_xml_attr_get(m, "a49"), "a49");
	assert_string_equal(pl_xml_attr_get(m, "type"), "chat");

	pl_xml_node *body = pl_xml_add_text_elem(m, "body", NULL, "hello");
	assert_string_equal(body->ns, "jabber:client");
	pl_xml_add_text(body, " world", 6);
	assert_int_equal(body->nchildren, 1); /* merged */
	char *t = pl_xml_text(body);
	assert_string_equal(t, "hello world");
	free(t);
	pl_xml_node *x = pl_xml_add_elem(m, "x", "urn:x");
	pl_xml_add_elem(m, "body", "urn:other");
	pl_xml_add_text(m, "tail", 4);
	assert_int_equal(pl_xml_count_elems(m), 3);
	assert_ptr_equal(pl_xml_child(m, "x", NULL), x);
	assert_ptr_equal(pl_xml_child(m, NULL, "urn:x"), x);
	assert_ptr_equal(pl_xml_child(m, "body", "jabber:client"), body);
	assert_null(pl_xml_child(m, "x", "jabber:client"));
	assert_ptr_equal(pl_xml_first_elem(m), body);
	pl_xml_node *b2 = pl_xml_next_child(m, body, "body", NULL);
	assert_non_null(b2);
	assert_string_equal(b2->ns, "urn:other");
	assert_null(pl_xml_next_child(m, b2, "body", NULL));
	t = pl_xml_child_text(m, "body", NULL);
	assert_string_equal(t, "hello world");
	free(t);
	assert_null(pl_xml_child_text(m, "nope", NULL));
	t = pl_xml_text(m);
	assert_string_equal(t, "tail");
	free(t);

	pl_xml_node *c = pl_xml_copy(m);
	assert_null(c->parent);
	assert_true(tree_equal(m, c));
	pl_xml_free(c);

	pl_xml_detach(x);
	assert_null(x->parent);
	assert_int_equal(pl_xml_count_elems(m), 2);
	pl_xml_append(b2, x);
	assert_ptr_equal(x->parent, b2);
	pl_xml_free(b2); /* detaches from m and frees x too */
	assert_int_equal(pl_xml_count_elems(m), 1);
	while (m->nchildren) pl_xml_free(m->children[m->nchildren - 1]);
	assert_int_equal(m->nchildren, 0);
	for (int i = 0; i < 1000; i++) pl_xml_add_elem(m, "item", NULL);
	assert_int_equal(pl_xml_count_elems(m), 1000);
	pl_xml_free(m);
}

/* ---- serializer ---- */

static void test_serialize_basic(void **state)
{
	pl_xml_node *m = pl_xml_elem_new("message", "jabber:client");
	pl_xml_set_attr(m, "to", "a@b");
	pl_xml_set_attr(m, "id", "x'\"<&>");
	pl_xml_add_text_elem(m, "body", NULL, "1 < 2 & 3 > 2");
	pl_xml_add_elem(m, "active", "http://jabber.org/protocol/chatstates");
	char *s = pl_xml_to_string(m, NULL);
	assert_string_equal(s, "<message xmlns='jabber:client' to='a@b' id='x&apos;&quot;&lt;&amp;&gt;'>"
	                       "<body>1 &lt; 2 &amp; 3 &gt; 2</body>"
	                       "<active xmlns='http://jabber.org/protocol/chatstates'/></message>");
	free(s);
	s = pl_xml_to_string(m, "jabber:client");
	assert_string_equal(s, "<message to='a@b' id='x&apos;&quot;&lt;&amp;&gt;'>"
	                       "<body>1 &lt; 2 &amp; 3 &gt; 2</body>"
	                       "<active xmlns='http://jabber.org/protocol/chatstates'/></message>");
	free(s);
	/* appends to an existing buffer */
	pl_buf b = PL_BUF_INIT;
	pl_buf_appends(&b, "X");
	pl_xml_serialize(pl_xml_first_elem(m), "jabber:client", &b);
	assert_string_equal(b.data, "X<body>1 &lt; 2 &amp; 3 &gt; 2</body>");
	pl_buf_free(&b);
	pl_xml_free(m);
}

static void test_serialize_namespaces(void **state)
{
	pl_xml_node *iq = pl_xml_elem_new("iq", "jabber:client");
	pl_xml_node *q = pl_xml_add_elem(iq, "query", "jabber:iq:roster");
	pl_xml_node *item = pl_xml_add_elem(q, "item", NULL);
	pl_xml_node *none = pl_xml_elem_new("plain", NULL);
	pl_xml_append(item, none);
	pl_xml_set_attr(item, "xml:lang", "fr");
	pl_xml_set_attr(item, "urn:a|foo", "1");
	pl_xml_set_attr(item, "urn:b|foo", "2");
	pl_xml_set_attr(item, "urn:a|bar", "3");
	char *s = pl_xml_to_string(iq, "jabber:client");
	assert_string_equal(s, "<iq><query xmlns='jabber:iq:roster'><item xml:lang='fr' xmlns:ns0='urn:a' "
	                       "ns0:foo='1' xmlns:ns1='urn:b' ns1:foo='2' ns0:bar='3'><plain xmlns=''/>"
	                       "</item></query></iq>");
	free(s);
	assert_roundtrip(iq, NULL);
	assert_roundtrip(iq, "jabber:client");
	pl_xml_free(iq);

	/* an element without namespace at top level, outer ns NULL: no xmlns at all */
	pl_xml_node *p = pl_xml_elem_new("p", NULL);
	s = pl_xml_to_string(p, NULL);
	assert_string_equal(s, "<p/>");
	free(s);
	s = pl_xml_to_string(p, "jabber:client");
	assert_string_equal(s, "<p xmlns=''/>");
	free(s);
	pl_xml_free(p);
}

static void test_roundtrip_escaping(void **state)
{
	pl_xml_node *m = pl_xml_elem_new("message", "jabber:client");
	pl_xml_set_attr(m, "a", "quote' dq\" lt< gt> amp& tab\t nl\n cr\r end");
	pl_xml_set_attr(m, "xml:lang", "de-CH");
	pl_xml_set_attr(m, "urn:ext|a", "&&");
	pl_xml_add_text_elem(m, "body", NULL, "text with <tags> & ]]> and\r\ncrlf\ttab \xc3\xa9\xe2\x82\xac");
	pl_xml_node *x = pl_xml_add_elem(m, "x", "urn:x'\"&");
	pl_xml_add_text(x, " ", 1);
	pl_xml_add_elem(x, "y", NULL);
	pl_xml_add_text(x, "\n", 1);
	assert_roundtrip(m, NULL);
	assert_roundtrip(m, "jabber:client");
	assert_roundtrip(m, "urn:x'\"&");
	pl_xml_free(m);

	/* parsed documents survive serialize + parse unchanged */
	const char *docs[] = {
		"<a xmlns='urn:a'><b xmlns='urn:b'><c/></b><d xmlns=''>t&amp;t</d></a>",
		"<p:a xmlns:p='urn:p' xmlns:q='urn:q' q:x='1' p:y='2' z='3'><p:b/><q:c q:x='4'/></p:a>",
		"<a><![CDATA[<not a tag> & stuff]]>tail&#x9;&#13;&#10;&#x1F600;</a>",
		"<a b='&#9;&#10;&#13; x'/>",
		"<xml:a xmlns='urn:d'><b/></xml:a>",
	};
	for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
		pl_xml_node *n = parse(docs[i]);
		assert_roundtrip(n, NULL);
		assert_roundtrip(n, "urn:d");
		pl_xml_free(n);
	}
}

/* ---- pl_xml_parse_document ---- */

static void test_parse_document(void **state)
{
	pl_xml_node *n = parse("<?xml version='1.0' encoding='utf-8'?>\n"
	                       "<message xmlns='jabber:client' xmlns:e='urn:e' xml:lang='en' e:k='v' to='x'>"
	                       "<body>a &lt;b&gt; &amp; &apos;&quot; &#233;</body><e:data/></message>");
	assert_string_equal(n->name, "message");
	assert_string_equal(n->ns, "jabber:client");
	assert_int_equal(n->nattrs, 3);
	assert_string_equal(pl_xml_attr_get(n, "xml:lang"), "en");
	assert_string_equal(pl_xml_attr_get(n, "urn:e|k"), "v");
	assert_string_equal(pl_xml_attr_get(n, "to"), "x");
	assert_null(pl_xml_attr_get(n, "xmlns"));
	assert_null(pl_xml_attr_get(n, "xmlns:e"));
	char *t = pl_xml_child_text(n, "body", "jabber:client");
	assert_string_equal(t, "a <b> & '\" \xc3\xa9");
	free(t);
	pl_xml_node *d = pl_xml_child(n, "data", "urn:e");
	assert_non_null(d);
	assert_ptr_equal(d->parent, n);
	pl_xml_free(n);

	pl_xml_node *out = (pl_xml_node *)1;
	assert_int_equal(pl_xml_parse_document("<a/>", 4, 3, &out), PL_XML_E_TOO_BIG);
	assert_null(out);
	assert_int_equal(pl_xml_parse_document("<a/>", 4, 4, &out), 0);
	pl_xml_free(out);
	assert_int_equal(pl_xml_parse_document("", 0, 0, &out), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(pl_xml_parse_document("<a>", 3, 0, &out), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(pl_xml_parse_document("<a/><b/>", 8, 0, &out), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(pl_xml_parse_document("<a><!-- c --></a>", 17, 0, &out), PL_XML_E_RESTRICTED);
	assert_int_equal(pl_xml_parse_document("<a>&foo;</a>", 12, 0, &out), PL_XML_E_RESTRICTED);
	const char *latin = "<?xml version='1.0' encoding='ISO-8859-1'?><a/>";
	assert_int_equal(pl_xml_parse_document(latin, strlen(latin), 0, &out), PL_XML_E_ENCODING);
	assert_null(out);
}

/* ---- stream parser ---- */

static void test_stream_header(void **state)
{
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, HEADER), 0);
	assert_int_equal(r.opens, 1);
	assert_string_equal(r.open_name, "stream");
	assert_string_equal(r.open_ns, NS_STREAMS);
	assert_string_equal(r.open_attrs, "to=example.com;from=a@example.com;version=1.0;xml:lang=en;id=s1;");
	assert_int_equal(r.nstanzas, 0);
	/* stanzas inherit the stream's default namespace; stream:features resolves the prefix */
	assert_int_equal(feed_str(s, "<message to='b@example.com'><body>hi</body></message>\n"
	                             "<stream:features/>"),
		0);
	assert_int_equal(r.nstanzas, 2);
	assert_string_equal(r.stanzas[0], "<message xmlns='jabber:client' to='b@example.com'>"
	                                  "<body>hi</body></message>");
	assert_string_equal(r.stanzas[1], "<features xmlns='" NS_STREAMS "'/>");
	pl_xml_stream_free(s);
	rec_free(&r);
}

static const char *const session_bytes =
	HEADER "\n  <message to='b@example.com' type='chat' id='m&amp;1'><body>caf\xc3\xa9 &lt;3</body>"
	       "<x xmlns='urn:x' xmlns:p='urn:p' p:attr='v' xml:lang='de'><y/>text</x></message> \r\n"
	       "<iq type='get' id='i1'><query xmlns='jabber:iq:roster'/></iq><presence/>"
	       "<message><body><![CDATA[a<b]]></body></message></stream:stream>";

static void test_two_stanzas_one_feed(void **state)
{
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, session_bytes), 0);
	assert_int_equal(r.opens, 1);
	assert_int_equal(r.nstanzas, 4);
	assert_int_equal(r.closes, 1);
	assert_string_equal(r.stanzas[1], "<iq xmlns='jabber:client' type='get' id='i1'>"
	                                  "<query xmlns='jabber:iq:roster'/></iq>");
	assert_string_equal(r.stanzas[2], "<presence xmlns='jabber:client'/>");
	assert_string_equal(r.stanzas[3], "<message xmlns='jabber:client'><body>a&lt;b</body></message>");
	pl_xml_stream_free(s);
	rec_free(&r);
}

/* Feeding one byte at a time gives the same stanzas, each delivered as soon as its last byte arrives. */
static void test_byte_at_a_time(void **state)
{
	rec whole = {0}, bytes = {0};
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &whole, 4096, 0);
	assert_int_equal(feed_str(s, session_bytes), 0);
	pl_xml_stream_free(s);

	s = pl_xml_stream_new(&rec_cb, &bytes, 4096, 0);
	size_t len = strlen(session_bytes);
	for (size_t i = 0; i < len; i++) {
		int before = bytes.nstanzas;
		assert_int_equal(pl_xml_stream_feed(s, session_bytes + i, 1), 0);
		if (bytes.nstanzas != before) {
			assert_int_equal(bytes.nstanzas, before + 1);
			assert_int_equal(session_bytes[i], '>');
		}
		if (i + 1 == strlen(HEADER)) assert_int_equal(bytes.opens, 1);
		if (i + 1 < strlen(HEADER)) assert_int_equal(bytes.opens, 0);
	}
	assert_int_equal(bytes.opens, 1);
	assert_int_equal(bytes.closes, 1);
	assert_int_equal(bytes.nstanzas, whole.nstanzas);
	for (int i = 0; i < whole.nstanzas; i++) assert_string_equal(bytes.stanzas[i], whole.stanzas[i]);
	assert_string_equal(bytes.open_attrs, whole.open_attrs);
	pl_xml_stream_free(s);

	/* every split point into two feeds gives the same result too */
	for (size_t cut = 0; cut <= len; cut++) {
		rec r = {0};
		s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
		assert_int_equal(pl_xml_stream_feed(s, session_bytes, cut), 0);
		assert_int_equal(pl_xml_stream_feed(s, session_bytes + cut, len - cut), 0);
		assert_int_equal(r.nstanzas, whole.nstanzas);
		for (int i = 0; i < whole.nstanzas; i++) assert_string_equal(r.stanzas[i], whole.stanzas[i]);
		assert_int_equal(r.closes, 1);
		pl_xml_stream_free(s);
		rec_free(&r);
	}
	rec_free(&whole);
	rec_free(&bytes);
}

static void test_restart_mid_buffer(void **state)
{
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, HEADER "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"), 0);
	r.stanza_rc[1] = PL_XML_RESTART;
	/* the stanza that asks for the restart is followed, in the same feed, by a new stream header (with
	 * an XML declaration, legal again at the start of the new stream) and a stanza */
	assert_int_equal(feed_str(s, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>abc</response>"
	                             "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	                             "xmlns:stream='" NS_STREAMS "' to='other.example' version='1.0'>"
	                             "<iq id='bind'/>"),
		0);
	assert_int_equal(r.opens, 2);
	assert_string_equal(r.open_attrs, "to=other.example;version=1.0;");
	assert_int_equal(r.nstanzas, 3);
	assert_string_equal(r.stanzas[2], "<iq xmlns='jabber:client' id='bind'/>");
	/* without a restart, a second header would be a nested element, i.e. a stanza named stream */
	pl_xml_stream_free(s);
	rec_free(&r);

	/* restart requested from on_open, with the rest in the same buffer */
	memset(&r, 0, sizeof r);
	r.open_rc = PL_XML_RESTART;
	s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, "<stream:stream xmlns:stream='" NS_STREAMS "' to='a'>"
	                             "<stream:stream xmlns:stream='" NS_STREAMS "' to='b'>"),
		0);
	assert_int_equal(r.opens, 2);
	assert_string_equal(r.open_attrs, "to=b;");
	pl_xml_stream_free(s);
	rec_free(&r);
}

static void test_restart_discard(void **state)
{
	rec r = {0};
	r.stanza_rc[0] = PL_XML_RESTART_DISCARD; /* <starttls/> */
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	/* injected plaintext after <starttls/> is dropped, even though it is garbage */
	assert_int_equal(feed_str(s, HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	                                    "<iq type='set'><evil/></iq>\x01\x02 not xml"),
		0);
	assert_int_equal(r.nstanzas, 1);
	assert_int_equal(r.opens, 1);
	/* the parser now expects a fresh stream header */
	assert_int_equal(feed_str(s, HEADER "<presence/>"), 0);
	assert_int_equal(r.opens, 2);
	assert_int_equal(r.nstanzas, 2);
	assert_string_equal(r.stanzas[1], "<presence xmlns='jabber:client'/>");
	/* pl_xml_stream_reset from outside a callback also works */
	assert_int_equal(feed_str(s, "<iq><par"), 0);
	pl_xml_stream_reset(s);
	assert_int_equal(feed_str(s, HEADER "<presence/>"), 0);
	assert_int_equal(r.opens, 3);
	assert_int_equal(r.nstanzas, 3);
	pl_xml_stream_free(s);
	rec_free(&r);
}

static int feed_one(const char *bytes, size_t max, int flags)
{
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, max, flags);
	int rc = pl_xml_stream_feed(s, bytes, strlen(bytes));
	if (rc != 0) {
		/* the stream is dead: later feeds repeat the error and call nothing */
		int n = r.nstanzas, o = r.opens;
		assert_int_equal(feed_str(s, "<presence/>"), rc);
		assert_int_equal(r.nstanzas, n);
		assert_int_equal(r.opens, o);
	}
	pl_xml_stream_free(s);
	rec_free(&r);
	return rc;
}

static void test_restricted(void **state)
{
	assert_int_equal(feed_one("<!DOCTYPE stream:stream>" STREAM_OPEN, 4096, 0), PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>", 4096, 0),
		PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one(HEADER "<message><!-- hi --></message>", 4096, 0), PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one(HEADER "<!-- hi -->", 4096, 0), PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one("<!-- first -->" STREAM_OPEN, 4096, 0), PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one(HEADER "<message><?php echo 1 ?></message>", 4096, 0), PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one(HEADER "<?foo bar?>", 4096, 0), PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one(HEADER "<message><body>&lol;</body></message>", 4096, 0),
		PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one(HEADER "<message a='&nbsp;'/>", 4096, 0), PL_XML_E_RESTRICTED);
	/* a second XML declaration is a misplaced processing instruction */
	assert_int_equal(feed_one(HEADER "<?xml version='1.0'?>", 4096, 0), PL_XML_E_RESTRICTED);
	/* predefined entities and character references are fine */
	assert_int_equal(feed_one(HEADER "<m a='&lt;&#65;&#x42;'>&amp;&gt;&apos;&quot;</m>", 4096, 0), 0);
	/* only UTF-8 */
	assert_int_equal(feed_one("<?xml version='1.0' encoding='ISO-8859-1'?>" STREAM_OPEN, 4096, 0),
		PL_XML_E_ENCODING);
	assert_int_equal(feed_one("<?xml version='1.0' encoding='UTF-16'?><a/>", 4096, 0), PL_XML_E_ENCODING);
	assert_int_equal(feed_one("<?xml version='1.0' encoding='utf-8'?>" STREAM_OPEN, 4096, 0), 0);
}

static void test_not_well_formed(void **state)
{
	assert_int_equal(feed_one(HEADER "<message><body></message>", 4096, 0), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one(HEADER "\x01\x02garbage", 4096, 0), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one("GET / HTTP/1.1\r\n", 4096, 0), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one(HEADER "<message><body>\xff\xfe</body></message>", 4096, 0),
		PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one(HEADER "<message><body>\xc3\x28</body></message>", 4096, 0),
		PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one(HEADER "<m a='1' a='2'/>", 4096, 0), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one(HEADER "<p:m/>", 4096, 0), PL_XML_E_NOT_WELL_FORMED); /* unbound prefix */
	assert_int_equal(feed_one(HEADER "</stream:stream><x/>", 4096, 0), PL_XML_E_NOT_WELL_FORMED);
	/* text directly in the stream root */
	assert_int_equal(feed_one(HEADER "hello<presence/>", 4096, 0), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one(HEADER "<presence/>&amp;", 4096, 0), PL_XML_E_NOT_WELL_FORMED);
	/* whitespace keepalives are fine and call nothing */
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, HEADER), 0);
	for (int i = 0; i < 100; i++) assert_int_equal(feed_str(s, " \n\t\r\n"), 0);
	assert_int_equal(r.nstanzas, 0);
	assert_int_equal(r.closes, 0);
	pl_xml_stream_free(s);
	rec_free(&r);
}

/* An attribute value that never ends is refused once max_stanza bytes are in, not after buffering it. */
static void test_oversized_refused_while_open(void **state)
{
	enum { MAX = 1024, PIECE = 256, TOTAL = 10 * 1024 * 1024 };
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, MAX, 0);
	assert_int_equal(feed_str(s, HEADER), 0);
	assert_int_equal(feed_str(s, "<message to='"), 0);
	char *piece = malloc(PIECE);
	memset(piece, 'a', PIECE);
	size_t fed = strlen("<message to='");
	int rc = 0;
	while (fed < TOTAL && (rc = pl_xml_stream_feed(s, piece, PIECE)) == 0) fed += PIECE;
	assert_int_equal(rc, PL_XML_E_TOO_BIG);
	/* refused within one piece of crossing the limit */
	assert_true(fed < MAX + PIECE);
	assert_true(fed + PIECE > MAX);
	assert_int_equal(r.nstanzas, 0);
	pl_xml_stream_free(s);

	/* all 10 MB in one call: still TOO_BIG, and no stanza */
	char *big = malloc(TOTAL);
	memset(big, 'a', TOTAL);
	memcpy(big, "<message to='", 13);
	s = pl_xml_stream_new(&rec_cb, &r, MAX, 0);
	assert_int_equal(feed_str(s, HEADER), 0);
	assert_int_equal(pl_xml_stream_feed(s, big, TOTAL), PL_XML_E_TOO_BIG);
	pl_xml_stream_free(s);
	free(big);
	free(piece);
	rec_free(&r);
}

static void test_size_limit_exact(void **state)
{
	const char *hdr = "<s:s xmlns:s='" NS_STREAMS "' xmlns='jabber:client'>";
	const char *st = "<message to='someone@example.com'><body>0123456789 0123456789 0123456789 0123456789 0123456789</body></message>";
	size_t n = strlen(st), h = strlen(hdr);
	assert_true(n > h);

	/* the header is bounded by max_stanza too */
	assert_int_equal(feed_one(hdr, h - 1, 0), PL_XML_E_TOO_BIG);
	assert_int_equal(feed_one(hdr, h, 0), 0);

	/* a stanza of exactly max bytes passes, one byte more is refused */
	pl_buf b = PL_BUF_INIT;
	pl_buf_printf(&b, "%s%s", hdr, st);
	assert_int_equal(feed_one(b.data, n, 0), 0);
	assert_int_equal(feed_one(b.data, n - 1, 0), PL_XML_E_TOO_BIG);

	/* the limit is per stanza: 50 of them (with keepalives between) in one feed, or byte by byte */
	pl_buf_reset(&b);
	pl_buf_appends(&b, hdr);
	for (int i = 0; i < 50; i++) pl_buf_printf(&b, "%s\n", st);
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, n, 0);
	assert_int_equal(pl_xml_stream_feed(s, b.data, b.len), 0);
	assert_int_equal(r.nstanzas, 50);
	pl_xml_stream_free(s);
	rec_free(&r);
	s = pl_xml_stream_new(&rec_cb, &r, n, 0);
	for (size_t i = 0; i < b.len; i++) assert_int_equal(pl_xml_stream_feed(s, b.data + i, 1), 0);
	assert_int_equal(r.nstanzas, 50);
	pl_xml_stream_free(s);
	rec_free(&r);
	pl_buf_free(&b);
}

static void test_depth_and_attr_limits(void **state)
{
	pl_buf b = PL_BUF_INIT;
	pl_buf_appends(&b, HEADER);
	for (int i = 0; i < PL_XML_MAX_DEPTH; i++) pl_buf_appends(&b, "<a>");
	for (int i = 0; i < PL_XML_MAX_DEPTH; i++) pl_buf_appends(&b, "</a>");
	assert_int_equal(feed_one(b.data, 1 << 20, 0), 0);
	pl_buf_reset(&b);
	pl_buf_appends(&b, HEADER);
	for (int i = 0; i < PL_XML_MAX_DEPTH + 1; i++) pl_buf_appends(&b, "<a>");
	assert_int_equal(feed_one(b.data, 1 << 20, 0), PL_XML_E_TOO_BIG);

	pl_buf_reset(&b);
	pl_buf_appends(&b, HEADER "<m");
	for (int i = 0; i < PL_XML_MAX_ATTRS; i++) pl_buf_printf(&b, " a%d='%d'", i, i);
	pl_buf_appends(&b, "/>");
	assert_int_equal(feed_one(b.data, 1 << 20, 0), 0);
	pl_buf_reset(&b);
	pl_buf_appends(&b, HEADER "<m");
	for (int i = 0; i < PL_XML_MAX_ATTRS + 1; i++) pl_buf_printf(&b, " a%d='%d'", i, i);
	pl_buf_appends(&b, "/>");
	assert_int_equal(feed_one(b.data, 1 << 20, 0), PL_XML_E_TOO_BIG);
	pl_buf_free(&b);
}

static void test_fragment_mode(void **state)
{
	rec r = {0};
	r.stanza_outer = NULL;
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, 4096, PL_XML_STREAM_FRAGMENTS);
	assert_int_equal(feed_str(s, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' "
	                             "version='1.0'/>"),
		0);
	assert_int_equal(r.opens, 0);
	assert_int_equal(r.nstanzas, 1);
	assert_string_equal(r.stanzas[0], "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' "
	                                  "to='example.com' version='1.0'/>");
	const char *msg = "<message xmlns='jabber:client' to='a@b'><body>x</body></message>";
	for (size_t i = 0; i < strlen(msg); i++) assert_int_equal(pl_xml_stream_feed(s, msg + i, 1), 0);
	assert_int_equal(r.nstanzas, 2);
	assert_string_equal(r.stanzas[1], msg);
	assert_int_equal(feed_str(s, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"), 0);
	assert_int_equal(r.nstanzas, 3);
	assert_int_equal(r.closes, 0);
	/* restart (after SASL) keeps fragment mode */
	r.stanza_rc[3] = PL_XML_RESTART;
	assert_int_equal(feed_str(s, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><open "
	                             "xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
		0);
	assert_int_equal(r.nstanzas, 5);
	assert_int_equal(r.opens, 0);
	/* no namespace declared: the element has none */
	assert_int_equal(feed_str(s, "<presence/>"), 0);
	assert_string_equal(r.stanzas[5], "<presence/>");
	pl_xml_stream_free(s);
	rec_free(&r);

	assert_int_equal(feed_one("<?xml version='1.0'?><open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
				 4096, PL_XML_STREAM_FRAGMENTS),
		PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one("<a/></pl-fragments>", 4096, PL_XML_STREAM_FRAGMENTS),
		PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one("</x>", 4096, PL_XML_STREAM_FRAGMENTS), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one("<a/>text", 4096, PL_XML_STREAM_FRAGMENTS), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(feed_one("<a><!-- c --></a>", 4096, PL_XML_STREAM_FRAGMENTS), PL_XML_E_RESTRICTED);
	assert_int_equal(feed_one("<a>0123456789</a>", 10, PL_XML_STREAM_FRAGMENTS), PL_XML_E_TOO_BIG);
	assert_int_equal(feed_one("<a>0123456789</a>\n<a>0123456789</a>", 17, PL_XML_STREAM_FRAGMENTS), 0);
}

static void test_close_and_stop(void **state)
{
	rec r = {0};
	r.close_rc = -1;
	pl_xml_stream *s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, HEADER "<presence/>"), 0);
	assert_int_equal(r.closes, 0);
	assert_int_equal(feed_str(s, "</stream:stream><garbage"), PL_XML_E_STOPPED);
	assert_int_equal(r.closes, 1);
	assert_int_equal(feed_str(s, HEADER), PL_XML_E_STOPPED);
	assert_int_equal(r.opens, 1);
	pl_xml_stream_free(s);
	rec_free(&r);

	/* close returning CONTINUE: trailing whitespace is fine */
	memset(&r, 0, sizeof r);
	s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, HEADER "</stream:stream>\n"), 0);
	assert_int_equal(r.closes, 1);
	pl_xml_stream_free(s);
	rec_free(&r);

	/* an empty root opens and closes */
	memset(&r, 0, sizeof r);
	s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, "<stream:stream xmlns:stream='" NS_STREAMS "'/>"), 0);
	assert_int_equal(r.opens, 1);
	assert_int_equal(r.closes, 1);
	pl_xml_stream_free(s);
	rec_free(&r);

	/* a negative stanza return stops before later stanzas of the same feed */
	memset(&r, 0, sizeof r);
	r.stanza_rc[1] = -5;
	s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, HEADER "<a/><b/><c/>"), PL_XML_E_STOPPED);
	assert_int_equal(r.nstanzas, 2);
	pl_xml_stream_free(s);
	rec_free(&r);

	/* a negative open return: no stanza */
	memset(&r, 0, sizeof r);
	r.open_rc = -1;
	s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, HEADER "<a/>"), PL_XML_E_STOPPED);
	assert_int_equal(r.nstanzas, 0);
	pl_xml_stream_free(s);
	rec_free(&r);

	/* freeing a parser in the middle of a stanza frees the partial tree (checked under ASan) */
	s = pl_xml_stream_new(&rec_cb, &r, 4096, 0);
	assert_int_equal(feed_str(s, HEADER "<message><body>partial<x a='1'>"), 0);
	pl_xml_stream_free(s);
	rec_free(&r);
}

static int count_stanza(void *ud, pl_xml_node *st)
{
	size_t *n = ud;
	*n += pl_xml_count_elems(st);
	char *t = pl_xml_child_text(st, "t", NULL);
	*n += strlen(t);
	free(t);
	pl_xml_free(st);
	return 0;
}

/* Wide stanzas and long text split into many feeds stay linear (this would crawl if quadratic). */
static void test_large_stanza_performance(void **state)
{
	pl_xml_stream_cb cb = {NULL, count_stanza, NULL};
	size_t n = 0;
	pl_xml_stream *s = pl_xml_stream_new(&cb, &n, 32u << 20, 0);
	assert_int_equal(feed_str(s, HEADER "<big>"), 0);
	for (int i = 0; i < 200000; i++) assert_int_equal(feed_str(s, "<i/>"), 0);
	assert_int_equal(feed_str(s, "<t>"), 0);
	char chunk[7] = "abc&lt;";
	for (int i = 0; i < 300000; i++) assert_int_equal(pl_xml_stream_feed(s, chunk, 7), 0);
	assert_int_equal(feed_str(s, "</t></big>"), 0);
	assert_int_equal(n, 200001 + 300000 * 4);
	pl_xml_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_api),
		cmocka_unit_test(test_serialize_basic),
		cmocka_unit_test(test_serialize_namespaces),
		cmocka_unit_test(test_roundtrip_escaping),
		cmocka_unit_test(test_parse_document),
		cmocka_unit_test(test_stream_header),
		cmocka_unit_test(test_two_stanzas_one_feed),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_restart_mid_buffer),
		cmocka_unit_test(test_restart_discard),
		cmocka_unit_test(test_restricted),
		cmocka_unit_test(test_not_well_formed),
		cmocka_unit_test(test_oversized_refused_while_open),
		cmocka_unit_test(test_size_limit_exact),
		cmocka_unit_test(test_depth_and_attr_limits),
		cmocka_unit_test(test_fragment_mode),
		cmocka_unit_test(test_close_and_stop),
		cmocka_unit_test(test_large_stanza_performance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
