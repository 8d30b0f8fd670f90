/* test_bosh.c: unit tests for the pure parts of src/xmpp/bosh.c: parsing and validation of POSTed
 * <body/> documents (root element and namespace, rid range and syntax, wait/hold, sid, xmpp:version and
 * xmpp:restart, type, the size limit, restricted XML, children moved from the httpbind namespace to
 * jabber:client), the rid window (next, ahead, retransmission, out of the window) and the response
 * framing (empty, terminate with condition, wrapped elements, escaping). The session machinery is
 * exercised end to end by tests/blackbox/test_bosh.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/bosh.h"

#define BODY "<body xmlns='http://jabber.org/protocol/httpbind' "

static int parse(const char *s, pl_bosh_body *b)
{
	return pl_bosh_body_parse(s, strlen(s), 0, b);
}

static void expect_error(const char *s, int code)
{
	pl_bosh_body b;
	int rc = parse(s, &b);
	if (rc != code) fail_msg("%s: got %d, expected %d", s, rc, code);
	assert_null(b.root);
	assert_null(b.sid);
}

static void test_creation_request(void **state)
{
	(void)state;
	pl_bosh_body b;
	const char *s =
	    "<?xml version='1.0'?>" BODY "content='text/xml; charset=utf-8' hold='1' rid='1573741820' "
	    "to='example.com' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' "
	    "xmlns:xmpp='urn:xmpp:xbosh'/>";
	assert_int_equal(parse(s, &b), 0);
	assert_non_null(b.root);
	assert_null(b.sid);
	assert_int_equal(b.rid, 1573741820ULL);
	assert_string_equal(b.to, "example.com");
	assert_string_equal(b.ver, "1.6");
	assert_string_equal(b.xmpp_version, "1.0");
	assert_int_equal(b.wait, 60);
	assert_int_equal(b.hold, 1);
	assert_int_equal(b.restart, 0);
	assert_null(b.type);
	assert_int_equal(pl_xml_count_elems(b.root), 0);
	pl_bosh_body_free(&b);
	assert_null(b.root);
}

static void test_session_request_with_stanzas(void **state)
{
	(void)state;
	pl_bosh_body b;
	const char *s =
	    BODY "rid='42' sid='abc123'>"
	         "<message xmlns='jabber:client' to='a@b'><body>hi</body></message>"
	         "<presence/>" /* inherits httpbind: moved to jabber:client */
	         "<iq xmlns='jabber:client' type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>"
	         "</body>";
	assert_int_equal(parse(s, &b), 0);
	assert_string_equal(b.sid, "abc123");
	assert_int_equal(b.rid, 42);
	assert_int_equal(b.wait, -1);
	assert_int_equal(b.hold, -1);
	assert_null(b.xmpp_version);
	assert_int_equal(pl_xml_count_elems(b.root), 3);
	pl_xml_node *m = pl_xml_first_elem(b.root);
	assert_string_equal(m->name, "message");
	assert_string_equal(m->ns, "jabber:client");
	pl_xml_node *body = pl_xml_child(m, "body", NULL);
	assert_non_null(body);
	assert_string_equal(body->ns, "jabber:client");
	pl_xml_node *p = pl_xml_next_child(b.root, m, NULL, NULL);
	assert_string_equal(p->name, "presence");
	assert_string_equal(p->ns, "jabber:client");
	pl_xml_node *iq = pl_xml_next_child(b.root, p, NULL, NULL);
	pl_xml_node *q = pl_xml_first_elem(iq);
	assert_string_equal(q->ns, "jabber:iq:roster"); /* other namespaces are left alone */
	pl_bosh_body_free(&b);
}

static void test_restart_and_terminate(void **state)
{
	(void)state;
	pl_bosh_body b;
	assert_int_equal(
	    parse(BODY "rid='7' sid='s' to='x' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'/>", &b), 0);
	assert_int_equal(b.restart, 1);
	pl_bosh_body_free(&b);
	/* the attribute must be in the xbosh namespace */
	assert_int_equal(parse(BODY "rid='7' sid='s' restart='true'/>", &b), 0);
	assert_int_equal(b.restart, 0);
	pl_bosh_body_free(&b);
	assert_int_equal(parse(BODY "rid='7' sid='s' xmpp:restart='false' xmlns:xmpp='urn:xmpp:xbosh'/>", &b),
	                 0);
	assert_int_equal(b.restart, 0);
	pl_bosh_body_free(&b);
	assert_int_equal(
	    parse(BODY "rid='8' sid='s' type='terminate'><presence type='unavailable'/></body>", &b), 0);
	assert_string_equal(b.type, "terminate");
	assert_int_equal(pl_xml_count_elems(b.root), 1);
	pl_bosh_body_free(&b);
	assert_int_equal(parse(BODY "rid='8' sid='s' type='error'/>", &b), 0);
	assert_null(b.type);
	pl_bosh_body_free(&b);
}

static void test_rid_validation(void **state)
{
	(void)state;
	pl_bosh_body b;
	expect_error(BODY "sid='s'/>", PL_BOSH_E_RID);
	expect_error(BODY "rid='' sid='s'/>", PL_BOSH_E_RID);
	expect_error(BODY "rid='0' sid='s'/>", PL_BOSH_E_RID);
	expect_error(BODY "rid='-5' sid='s'/>", PL_BOSH_E_RID);
	expect_error(BODY "rid='12a' sid='s'/>", PL_BOSH_E_RID);
	expect_error(BODY "rid=' 12' sid='s'/>", PL_BOSH_E_RID);
	expect_error(BODY "rid='9007199254740992' sid='s'/>", PL_BOSH_E_RID);
	expect_error(BODY "rid='99999999999999999999999' sid='s'/>", PL_BOSH_E_RID);
	assert_int_equal(parse(BODY "rid='9007199254740991' sid='s'/>", &b), 0);
	assert_int_equal(b.rid, PL_BOSH_RID_MAX);
	pl_bosh_body_free(&b);
}

static void test_attribute_validation(void **state)
{
	(void)state;
	expect_error(BODY "rid='1' to='x' wait='soon'/>", PL_BOSH_E_ATTR);
	expect_error(BODY "rid='1' to='x' wait='-1'/>", PL_BOSH_E_ATTR);
	expect_error(BODY "rid='1' to='x' hold='1.5'/>", PL_BOSH_E_ATTR);
	expect_error(BODY "rid='1' to='x' hold='99999999999'/>", PL_BOSH_E_ATTR);
	expect_error(BODY "rid='1' sid=''/>", PL_BOSH_E_ATTR);
	char long_sid[200];
	snprintf(long_sid, sizeof long_sid, BODY "rid='1' sid='%065d'/>", 0);
	expect_error(long_sid, PL_BOSH_E_ATTR);
	pl_bosh_body b;
	assert_int_equal(parse(BODY "rid='1' to='x' wait='0' hold='0'/>", &b), 0);
	assert_int_equal(b.wait, 0);
	assert_int_equal(b.hold, 0);
	pl_bosh_body_free(&b);
}

static void test_root_and_xml_errors(void **state)
{
	(void)state;
	expect_error("", PL_BOSH_E_XML);
	expect_error("not xml at all", PL_BOSH_E_XML);
	expect_error(BODY "rid='1'>", PL_BOSH_E_XML);                       /* unfinished */
	expect_error(BODY "rid='1'/><body/>", PL_BOSH_E_XML);               /* two roots */
	expect_error(BODY "rid='1'><!-- hi --></body>", PL_BOSH_E_XML);     /* restricted XML */
	expect_error("<!DOCTYPE body []>" BODY "rid='1'/>", PL_BOSH_E_XML); /* DTD */
	expect_error("<body rid='1' sid='s'/>", PL_BOSH_E_ROOT);            /* no namespace */
	expect_error("<body xmlns='jabber:client' rid='1'/>", PL_BOSH_E_ROOT);
	expect_error("<x:body xmlns:x='urn:other' rid='1'/>", PL_BOSH_E_ROOT);
	expect_error("<bodx xmlns='http://jabber.org/protocol/httpbind' rid='1'/>", PL_BOSH_E_ROOT);
}

static void test_size_limit(void **state)
{
	(void)state;
	pl_bosh_body b;
	const char *s =
	    BODY "rid='1' sid='s'><message xmlns='jabber:client'><body>0123456789</body></message></body>";
	size_t n = strlen(s);
	assert_int_equal(pl_bosh_body_parse(s, n, n - 1, &b), PL_BOSH_E_XML);
	assert_null(b.root);
	assert_int_equal(pl_bosh_body_parse(s, n, n, &b), 0);
	pl_bosh_body_free(&b);
}

static void test_rid_window(void **state)
{
	(void)state;
	/* window 2 ('requests' = 2), last processed rid 100 */
	assert_int_equal(pl_bosh_rid_check(100, 101, 2), PL_BOSH_RID_NEXT);
	assert_int_equal(pl_bosh_rid_check(100, 102, 2), PL_BOSH_RID_AHEAD);
	assert_int_equal(pl_bosh_rid_check(100, 103, 2), PL_BOSH_RID_OUT);
	assert_int_equal(pl_bosh_rid_check(100, 100, 2), PL_BOSH_RID_REPEAT);
	assert_int_equal(pl_bosh_rid_check(100, 99, 2), PL_BOSH_RID_REPEAT);
	assert_int_equal(pl_bosh_rid_check(100, 98, 2), PL_BOSH_RID_OUT);
	assert_int_equal(pl_bosh_rid_check(100, 1, 2), PL_BOSH_RID_OUT);
	assert_int_equal(pl_bosh_rid_check(100, PL_BOSH_RID_MAX, 2), PL_BOSH_RID_OUT);
	/* window 1: only the next rid and the last one again */
	assert_int_equal(pl_bosh_rid_check(5, 6, 1), PL_BOSH_RID_NEXT);
	assert_int_equal(pl_bosh_rid_check(5, 7, 1), PL_BOSH_RID_OUT);
	assert_int_equal(pl_bosh_rid_check(5, 5, 1), PL_BOSH_RID_REPEAT);
	assert_int_equal(pl_bosh_rid_check(5, 4, 1), PL_BOSH_RID_OUT);
	/* a wider window */
	assert_int_equal(pl_bosh_rid_check(10, 15, 5), PL_BOSH_RID_AHEAD);
	assert_int_equal(pl_bosh_rid_check(10, 16, 5), PL_BOSH_RID_OUT);
	assert_int_equal(pl_bosh_rid_check(10, 6, 5), PL_BOSH_RID_REPEAT);
	assert_int_equal(pl_bosh_rid_check(10, 5, 5), PL_BOSH_RID_OUT);
	/* right after creation (last = creation rid - 1) */
	assert_int_equal(pl_bosh_rid_check(0, 1, 2), PL_BOSH_RID_NEXT);
}

static void test_wrap(void **state)
{
	(void)state;
	pl_buf b = PL_BUF_INIT;
	pl_bosh_wrap(&b, NULL, NULL, NULL, NULL, 0);
	assert_string_equal(b.data, "<body xmlns='http://jabber.org/protocol/httpbind'/>");
	pl_buf_reset(&b);
	pl_bosh_wrap(&b, "terminate", "item-not-found", NULL, NULL, 0);
	assert_string_equal(b.data, "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' "
	                            "condition='item-not-found'/>");
	pl_buf_reset(&b);
	pl_bosh_wrap(&b, "terminate", "a'<&", NULL, NULL, 0);
	assert_non_null(strstr(b.data, "condition='a&apos;&lt;&amp;'"));
	pl_buf_reset(&b);
	pl_bytes *els[2] = {pl_bytes_new("<a xmlns='x'/>", 14), pl_bytes_new("<b xmlns='y'>t</b>", 18)};
	pl_bosh_wrap(&b, NULL, NULL, " sid='s1'", els, 2);
	assert_string_equal(b.data,
	                    "<body xmlns='http://jabber.org/protocol/httpbind' sid='s1'><a xmlns='x'/>"
	                    "<b xmlns='y'>t</b></body>");
	/* what we send parses back as a body with the same children */
	pl_xml_node *root = NULL;
	assert_int_equal(pl_xml_parse_document(b.data, b.len, 0, &root), 0);
	assert_int_equal(pl_xml_count_elems(root), 2);
	assert_string_equal(pl_xml_first_elem(root)->ns, "x");
	pl_xml_free(root);
	pl_bytes_unref(els[0]);
	pl_bytes_unref(els[1]);
	pl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_creation_request),
	    cmocka_unit_test(test_session_request_with_stanzas),
	    cmocka_unit_test(test_restart_and_terminate),
	    cmocka_unit_test(test_rid_validation),
	    cmocka_unit_test(test_attribute_validation),
	    cmocka_unit_test(test_root_and_xml_errors),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_rid_window),
	    cmocka_unit_test(test_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
