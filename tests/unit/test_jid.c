/* test_jid.c: unit tests for src/xmpp/jid.c: splitting (first '/', last '@' before it), the three
 * stringprep profiles (case folding, Unicode mapping and normalization, prohibited characters), domain
 * rules (trailing dot, empty labels, IPv6 literals, IDNA dots), the 1023-byte limit per part, and the
 * helpers (make, copy, equal, to_string, bare_string, prep_string). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/jid.h"

/* Parses s, expecting success with the given parts (NULL = absent). */
static void expect_jid(const char *s, const char *node, const char *domain, const char *resource)
{
	pl_jid j;
	int rc = pl_jid_parse(s, &j);
	if (rc != 0) fail_msg("'%s' did not parse", s);
	if (node)
		assert_string_equal(j.node, node);
	else
		assert_null(j.node);
	assert_non_null(j.domain);
	assert_string_equal(j.domain, domain);
	if (resource)
		assert_string_equal(j.resource, resource);
	else
		assert_null(j.resource);
	pl_jid_clear(&j);
}

static void expect_bad(const char *s)
{
	pl_jid j;
	memset(&j, 0x5a, sizeof j);
	int rc = pl_jid_parse(s, &j);
	if (rc != PL_JID_E_MALFORMED) fail_msg("'%s' parsed (rc %d)", s, rc);
	assert_null(j.node);
	assert_null(j.domain);
	assert_null(j.resource);
}

static char *repeat(const char *unit, size_t n)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

static void test_basic_forms(void **state)
{
	(void)state;
	expect_jid("user@example.com/res", "user", "example.com", "res");
	expect_jid("example.com", NULL, "example.com", NULL);
	expect_jid("example.com/res", NULL, "example.com", "res");
	expect_jid("user@example.com", "user", "example.com", NULL);
	expect_jid("localhost", NULL, "localhost", NULL);
	expect_jid("a@127.0.0.1", "a", "127.0.0.1", NULL);
	expect_jid("d/my resource", NULL, "d", "my resource");
}

static void test_split_rules(void **state)
{
	(void)state;
	/* the resource starts at the first '/', and may hold '/' and '@' */
	expect_jid("a@b/c@d", "a", "b", "c@d");
	expect_jid("a/b/c", NULL, "a", "b/c");
	expect_jid("a@b/c/d@e", "a", "b", "c/d@e");
	expect_jid("d/@", NULL, "d", "@");
	/* a '@' left in the localpart (last '@' split) is refused by nodeprep */
	expect_bad("a@b@c");
	expect_bad("a@b@c/r");
}

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("");
	expect_bad("@");
	expect_bad("@example.com");
	expect_bad("example.com/");
	expect_bad("user@example.com/");
	expect_bad("user@");
	expect_bad("user@/res");
	expect_bad("/res");
	expect_bad("/");
	expect_bad("@/");
	pl_jid j;
	assert_int_equal(pl_jid_parse(NULL, &j), PL_JID_E_MALFORMED);
	assert_null(j.domain);
}

static void test_case_folding(void **state)
{
	(void)state;
	expect_jid("User@EXAMPLE.com/Res", "user", "example.com", "Res");
	expect_jid("\xc3\x84\xc3\x96@Example.COM/Res", "\xc3\xa4\xc3\xb6", "example.com", "Res");
	/* the resource keeps its case, even for non-ASCII letters */
	expect_jid("d/\xc3\x84", NULL, "d", "\xc3\x84");
	/* B.2 folding maps sharp s to "ss" in the node */
	expect_jid("Stra\xc3\x9f"
	           "e@d",
	           "strasse", "d", NULL);
}

static void test_unicode_mapping(void **state)
{
	(void)state;
	/* soft hyphen (B.1, mapped to nothing) vanishes */
	expect_jid("a\xc2\xad"
	           "b@d",
	           "ab", "d", NULL);
	/* fullwidth letters are NFKC-normalized in the domain */
	expect_jid("\xef\xbd\x85\xef\xbd\x98"
	           ".com",
	           NULL, "ex.com", NULL);
	/* ideographic full stop is a label separator */
	expect_jid("u@example\xe3\x80\x82"
	           "COM",
	           "u", "example.com", NULL);
	/* combining sequence is composed (NFKC): a + U+0308 -> U+00E4 */
	expect_jid("a\xcc\x88@d", "\xc3\xa4", "d", NULL);
	/* invalid UTF-8 anywhere */
	expect_bad("\xff@d");
	expect_bad("u@d\xc3");
	expect_bad("u@d/\xc3");
	expect_bad("u@d/\xed\xa0\x80");     /* surrogate */
	expect_bad("u@d/\xc0\xaf");         /* overlong '/' */
	expect_bad("u@d/\xf4\x90\x80\x80"); /* above U+10FFFF */
}

static void test_domain_rules(void **state)
{
	(void)state;
	expect_jid("example.com.", NULL, "example.com", NULL);
	expect_jid("u@Example.COM./r", "u", "example.com", "r");
	expect_bad("example.com..");
	expect_bad("a..b");
	expect_bad(".example.com");
	expect_bad(".");
	expect_bad("u@.");
	expect_bad("exa mple.com");
	expect_bad("a:5222");
	expect_bad("a<b");
	expect_bad("a\"b");
	expect_bad("a&b");
	expect_bad("a'b");
	expect_bad("a\\b");
	/* IPv6 literals */
	expect_jid("[::1]", NULL, "[::1]", NULL);
	expect_jid("u@[2001:DB8::1]/r", "u", "[2001:db8::1]", "r");
	expect_bad("[::1");
	expect_bad("[zz::1]");
	expect_bad("[]");
	expect_bad("[127.0.0.1]");
	expect_bad("u@::1");
}

static void test_prohibited_node_chars(void **state)
{
	(void)state;
	const char *bad[] = {"a b",
	                     "a\"b",
	                     "a&b",
	                     "a'b",
	                     "a/b",
	                     "a:b",
	                     "a<b",
	                     "a>b",
	                     "a@b",
	                     "a\x01"
	                     "b",
	                     "a\xc2\xa0"
	                     "b" /* no-break space */};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *out = (char *)1;
		if (pl_jid_nodeprep(bad[i], &out) != PL_JID_E_MALFORMED)
			fail_msg("nodeprep accepted '%s'", bad[i]);
		assert_null(out);
	}
	expect_bad("a b@d");
	expect_bad("a\"b@d");
	expect_bad("a&b@d");
	expect_bad("a'b@d");
	expect_bad("a:b@d");
	expect_bad("a<b@d");
	expect_bad("a>b@d");
	/* resourceprep allows those, but not controls */
	expect_jid("d/a b\"&':<>@", NULL, "d", "a b\"&':<>@");
	expect_bad("d/a\x07");
	expect_bad("d/a\x7f");
}

static void test_length_limits(void **state)
{
	(void)state;
	char buf[4200];
	char *a1023 = repeat("a", 1023), *a1024 = repeat("a", 1024);

	snprintf(buf, sizeof buf, "%s@d/%s", a1023, a1023);
	pl_jid j;
	assert_int_equal(pl_jid_parse(buf, &j), 0);
	assert_int_equal(strlen(j.node), 1023);
	assert_int_equal(strlen(j.resource), 1023);
	pl_jid_clear(&j);
	snprintf(buf, sizeof buf, "%s@d", a1024);
	expect_bad(buf);
	snprintf(buf, sizeof buf, "d/%s", a1024);
	expect_bad(buf);

	/* domain of 1023 bytes: 255 labels "aaa." minus the last dot, plus two letters */
	char *labels = repeat("aaa.", 255); /* 1020 bytes */
	snprintf(buf, sizeof buf, "%sabc", labels);
	assert_int_equal(strlen(buf), 1023);
	assert_int_equal(pl_jid_parse(buf, &j), 0);
	assert_int_equal(strlen(j.domain), 1023);
	pl_jid_clear(&j);
	snprintf(buf, sizeof buf, "%sabcd", labels);
	expect_bad(buf);
	/* one trailing dot does not count */
	snprintf(buf, sizeof buf, "%sabc.", labels);
	assert_int_equal(pl_jid_parse(buf, &j), 0);
	assert_int_equal(strlen(j.domain), 1023);
	pl_jid_clear(&j);

	/* the limit is in bytes after preparation: 511 x U+00E4 = 1022 bytes, 512 = 1024 */
	char *u511 = repeat("\xc3\xa4", 511), *u512 = repeat("\xc3\x84", 512);
	snprintf(buf, sizeof buf, "%s@d", u511);
	assert_int_equal(pl_jid_parse(buf, &j), 0);
	pl_jid_clear(&j);
	snprintf(buf, sizeof buf, "%s@d", u512);
	expect_bad(buf);
	/* folding that grows: 512 x sharp s (1024 bytes) becomes 1024 x "s": too long */
	char *ss = repeat("\xc3\x9f", 512);
	snprintf(buf, sizeof buf, "%s@d", ss);
	expect_bad(buf);
	/* 400 x sharp s (800 bytes) becomes 800 bytes of "s": fine */
	free(ss);
	ss = repeat("\xc3\x9f", 400);
	snprintf(buf, sizeof buf, "%s@d", ss);
	assert_int_equal(pl_jid_parse(buf, &j), 0);
	assert_int_equal(strlen(j.node), 800);
	pl_jid_clear(&j);

	/* very long input is refused without overflowing anything */
	char *huge = repeat("a", 5000);
	expect_bad(huge);
	char *out = NULL;
	assert_int_equal(pl_jid_resourceprep(huge, &out), PL_JID_E_MALFORMED);
	free(huge);
	free(a1023);
	free(a1024);
	free(labels);
	free(u511);
	free(u512);
	free(ss);
}

static void test_single_part_prep(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(pl_jid_nodeprep("JuLiEt", &out), 0);
	assert_string_equal(out, "juliet");
	free(out);
	assert_int_equal(pl_jid_nameprep("Example.COM.", &out), 0);
	assert_string_equal(out, "example.com");
	free(out);
	assert_int_equal(pl_jid_resourceprep("Balcony", &out), 0);
	assert_string_equal(out, "Balcony");
	free(out);
	assert_int_equal(pl_jid_nodeprep("", &out), PL_JID_E_MALFORMED);
	assert_int_equal(pl_jid_nameprep("", &out), PL_JID_E_MALFORMED);
	assert_int_equal(pl_jid_resourceprep("", &out), PL_JID_E_MALFORMED);
	assert_int_equal(pl_jid_nodeprep(NULL, &out), PL_JID_E_MALFORMED);
	/* a node made only of ignorable characters is empty after preparation */
	assert_int_equal(pl_jid_nodeprep("\xc2\xad", &out), PL_JID_E_MALFORMED);
	assert_int_equal(pl_jid_nameprep("a@b", &out), PL_JID_E_MALFORMED);
	assert_int_equal(pl_jid_nameprep("a/b", &out), PL_JID_E_MALFORMED);
}

static void test_to_string_and_bare(void **state)
{
	(void)state;
	pl_jid j;
	assert_int_equal(pl_jid_parse("User@Example.COM/Res", &j), 0);
	char *full = pl_jid_to_string(&j), *bare = pl_jid_bare_string(&j);
	assert_string_equal(full, "user@example.com/Res");
	assert_string_equal(bare, "user@example.com");
	free(full);
	free(bare);
	pl_jid_clear(&j);

	assert_int_equal(pl_jid_parse("Example.com/r/s", &j), 0);
	full = pl_jid_to_string(&j);
	bare = pl_jid_bare_string(&j);
	assert_string_equal(full, "example.com/r/s");
	assert_string_equal(bare, "example.com");
	free(full);
	free(bare);
	pl_jid_clear(&j);
	pl_jid_clear(&j); /* clearing twice is harmless */

	char *p = pl_jid_prep_string("ROMEO@Montague.LIT./Orchard");
	assert_string_equal(p, "romeo@montague.lit/Orchard");
	free(p);
	assert_null(pl_jid_prep_string("bad@"));
}

static void test_equal_copy_make(void **state)
{
	(void)state;
	pl_jid a, b, c, d;
	assert_int_equal(pl_jid_parse("User@Example.com/R", &a), 0);
	assert_int_equal(pl_jid_parse("user@example.com./R", &b), 0);
	assert_int_equal(pl_jid_parse("user@example.com/r", &c), 0);
	assert_int_equal(pl_jid_parse("example.com/R", &d), 0);
	assert_true(pl_jid_equal(&a, &b, 0));
	assert_false(pl_jid_equal(&a, &c, 0)); /* resources are case-sensitive */
	assert_true(pl_jid_equal(&a, &c, 1));
	assert_false(pl_jid_equal(&a, &d, 0));
	assert_false(pl_jid_equal(&a, &d, 1));
	assert_false(pl_jid_equal(&d, &a, 1));

	pl_jid e;
	pl_jid_copy(&a, &e);
	assert_true(pl_jid_equal(&a, &e, 0));
	assert_ptr_not_equal(e.node, a.node);
	pl_jid_clear(&e);

	pl_jid bare;
	assert_int_equal(pl_jid_parse("user@example.com", &bare), 0);
	assert_false(pl_jid_equal(&a, &bare, 0));
	assert_true(pl_jid_equal(&a, &bare, 1));

	pl_jid m;
	assert_int_equal(pl_jid_make("USER", "EXAMPLE.com", "R", &m), 0);
	assert_true(pl_jid_equal(&a, &m, 0));
	pl_jid_clear(&m);
	assert_int_equal(pl_jid_make(NULL, "example.com", NULL, &m), 0);
	assert_null(m.node);
	assert_null(m.resource);
	assert_string_equal(m.domain, "example.com");
	pl_jid_clear(&m);
	assert_int_equal(pl_jid_make("a b", "example.com", NULL, &m), PL_JID_E_MALFORMED);
	assert_null(m.domain);
	assert_int_equal(pl_jid_make("a", NULL, NULL, &m), PL_JID_E_MALFORMED);
	assert_int_equal(pl_jid_make("a", "d", "", &m), PL_JID_E_MALFORMED);
	assert_null(m.node);

	pl_jid_clear(&a);
	pl_jid_clear(&b);
	pl_jid_clear(&c);
	pl_jid_clear(&d);
	pl_jid_clear(&bare);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_forms),
	    cmocka_unit_test(test_split_rules),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_case_folding),
	    cmocka_unit_test(test_unicode_mapping),
	    cmocka_unit_test(test_domain_rules),
	    cmocka_unit_test(test_prohibited_node_chars),
	    cmocka_unit_test(test_length_limits),
	    cmocka_unit_test(test_single_part_prep),
	    cmocka_unit_test(test_to_string_and_bare),
	    cmocka_unit_test(test_equal_copy_make),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
