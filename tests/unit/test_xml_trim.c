/* test_xml_trim.c: unit tests for pl_xml_stream_trim (src/xml/stream.c): when a stream may give its
 * expat parser back (between stanzas only: not inside the header, a stanza or an unfinished token, not
 * on a dead stream), and that after a trim the next feed goes on as if nothing happened: the stream
 * header's namespace declarations (default and prefixed) still apply, on_open is not called again,
 * size limits, restarts, stream close and WebSocket fragment mode behave as before. */
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

#define STREAM_OPEN                                                                                \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:x='urn:x' "                   \
	"xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"

typedef struct rec {
	int opens, closes;
	int nstanzas;
	char names[16][64]; /* "ns|name" of each stanza, then "|" and its first child's "ns|name" */
	int restart_on; /* return PL_XML_RESTART after this stanza number (1-based), 0 = never */
} rec;

static int on_open(void *ud, const pl_xml_node *root)
{
	rec *r = ud;
	assert_string_equal(root->name, "stream");
	r->opens++;
	return PL_XML_CONTINUE;
}

static int on_stanza(void *ud, pl_xml_node *st)
{
	rec *r = ud;
	if (r->nstanzas < 16) {
		const pl_xml_node *c = st->nchildren ? st->children[0] : NULL;
		snprintf(r->names[r->nstanzas], sizeof r->names[0], "%s|%s/%s|%s", st->ns ? st->ns : "",
		         st->name, c && c->ns ? c->ns : "", c && c->name ? c->name : "");
	}
	r->nstanzas++;
	pl_xml_free(st);
	return r->restart_on == r->nstanzas ? PL_XML_RESTART : PL_XML_CONTINUE;
}

static int on_close(void *ud)
{
	((rec *)ud)->closes++;
	return PL_XML_CONTINUE;
}

static const pl_xml_stream_cb cbs = {on_open, on_stanza, on_close};

static void feed(pl_xml_stream *s, const char *data)
{
	assert_int_equal(pl_xml_stream_feed(s, data, strlen(data)), 0);
}

/* The namespaces declared on the root (default and prefixed) survive a trim. */
static void test_trim_keeps_namespaces(void **state)
{
	(void)state;
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&cbs, &r, 4096, 0);
	assert_int_equal(pl_xml_stream_trim(s), 1); /* nothing fed yet: a fresh parser is recreated */
	feed(s, STREAM_OPEN);
	assert_int_equal(r.opens, 1);
	assert_int_equal(pl_xml_stream_trim(s), 1);
	assert_int_equal(pl_xml_stream_trim(s), 0); /* already trimmed */
	feed(s, "<message><x:body/></message>");
	assert_int_equal(r.opens, 1); /* the replayed header is not reported */
	assert_int_equal(r.nstanzas, 1);
	assert_string_equal(r.names[0], "jabber:client|message/urn:x|body");
	/* trimmed after every stanza and whitespace keepalive */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pl_xml_stream_trim(s), 1);
		feed(s, " ");
		assert_int_equal(pl_xml_stream_trim(s), 1);
		feed(s, "<iq xmlns:y='urn:y'><y:q/></iq>");
	}
	assert_int_equal(r.nstanzas, 4);
	assert_string_equal(r.names[3], "jabber:client|iq/urn:y|q");
	assert_int_equal(pl_xml_stream_trim(s), 1);
	feed(s, "</stream:stream>");
	assert_int_equal(r.closes, 1);
	pl_xml_stream_free(s);
}

/* No trim inside the header, inside a stanza or with an unfinished token; parsing goes on. */
static void test_trim_refused_when_busy(void **state)
{
	(void)state;
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&cbs, &r, 4096, 0);
	feed(s, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' ");
	assert_int_equal(pl_xml_stream_trim(s), 0); /* inside the header's start tag */
	feed(s, "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
	assert_int_equal(r.opens, 1);
	feed(s, "<message><bo");
	assert_int_equal(pl_xml_stream_trim(s), 0); /* inside a stanza */
	feed(s, "dy>hi</body></message><pres");
	assert_int_equal(r.nstanzas, 1);
	assert_int_equal(pl_xml_stream_trim(s), 0); /* an unfinished start tag */
	feed(s, "ence/>");
	assert_int_equal(r.nstanzas, 2);
	assert_string_equal(r.names[1], "jabber:client|presence/|");
	assert_int_equal(pl_xml_stream_trim(s), 1);
	/* a dead stream is not revived */
	assert_int_equal(pl_xml_stream_feed(s, "<a><b></a>", 10), PL_XML_E_NOT_WELL_FORMED);
	assert_int_equal(pl_xml_stream_trim(s), 0);
	assert_int_equal(pl_xml_stream_feed(s, "<c/>", 4), PL_XML_E_NOT_WELL_FORMED);
	pl_xml_stream_free(s);
}

/* Bytes are counted from the replayed boundary: the size limit is the same after a trim. */
static void test_trim_keeps_size_limit(void **state)
{
	(void)state;
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&cbs, &r, 100, 0);
	feed(s, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
	assert_int_equal(pl_xml_stream_trim(s), 1);
	char big[101];
	memset(big, 'a', sizeof big);
	memcpy(big, "<m>", 3);
	memcpy(big + sizeof big - 4, "</m>", 4);
	char ok[100];
	memset(ok, 'a', sizeof ok);
	memcpy(ok, "<m>", 3);
	memcpy(ok + sizeof ok - 4, "</m>", 4);
	assert_int_equal(pl_xml_stream_feed(s, ok, sizeof ok), 0); /* exactly the limit */
	assert_int_equal(r.nstanzas, 1);
	assert_int_equal(pl_xml_stream_trim(s), 1);
	assert_int_equal(pl_xml_stream_feed(s, big, sizeof big), PL_XML_E_TOO_BIG);
	pl_xml_stream_free(s);
}

/* A restart after a trim expects a new header, which is then the one replayed. */
static void test_trim_and_restart(void **state)
{
	(void)state;
	rec r = {.restart_on = 1};
	pl_xml_stream *s = pl_xml_stream_new(&cbs, &r, 4096, 0);
	feed(s, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
	assert_int_equal(pl_xml_stream_trim(s), 1);
	/* the stanza restarts the stream; the new header in the same chunk uses other namespaces */
	feed(s, "<auth/><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
	        "xmlns:z='urn:z'>");
	assert_int_equal(r.opens, 2);
	assert_int_equal(pl_xml_stream_trim(s), 1);
	feed(s, "<message><z:q/></message>");
	assert_string_equal(r.names[1], "jabber:server|message/urn:z|q");
	pl_xml_stream_reset(s); /* a reset of a trimmed stream works too */
	assert_int_equal(pl_xml_stream_trim(s), 1);
	pl_xml_stream_reset(s);
	feed(s, STREAM_OPEN "<iq/>");
	assert_int_equal(r.opens, 3);
	assert_string_equal(r.names[2], "jabber:client|iq/|");
	pl_xml_stream_free(s);
}

/* WebSocket fragment mode: every top-level element is a stanza, before and after trims. */
static void test_trim_fragments(void **state)
{
	(void)state;
	rec r = {0};
	pl_xml_stream *s = pl_xml_stream_new(&cbs, &r, 4096, PL_XML_STREAM_FRAGMENTS);
	assert_int_equal(pl_xml_stream_trim(s), 1);
	feed(s, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
	assert_int_equal(pl_xml_stream_trim(s), 1);
	feed(s, "<message xmlns='jabber:client'><body/></message>");
	assert_int_equal(r.nstanzas, 2);
	assert_string_equal(r.names[1], "jabber:client|message/jabber:client|body");
	assert_int_equal(r.opens, 0);
	pl_xml_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trim_keeps_namespaces), cmocka_unit_test(test_trim_refused_when_busy),
		cmocka_unit_test(test_trim_keeps_size_limit), cmocka_unit_test(test_trim_and_restart),
		cmocka_unit_test(test_trim_fragments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
