/* test_muc_history.c: unit tests for src/muc/history.c: the ring (capacity, wrap-around, dropping the
 * oldest, shrinking), the selection a <history/> element asks for (maxstanzas, maxchars, seconds, since,
 * and several at once: the smallest wins), the parsing of the element, and XEP-0082 dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "muc/muc.h"

static pl_bytes *text(const char *s)
{
	return pl_bytes_new(s, strlen(s));
}

static const char *entry_text(const pl_muc_history *h, size_t i)
{
	return (const char *)((pl_bytes *)pl_muc_history_at(h, i)->bytes)->data;
}

static pl_muc_history_filter none(void)
{
	pl_muc_history_filter f = {-1, -1, -1, -1};
	return f;
}

/* A ring of 5 holding messages "m0".."m6" pushed at times 100..106 (m0, m1 dropped). */
static void fill(pl_muc_history *h)
{
	memset(h, 0, sizeof *h);
	pl_muc_history_init(h, 5);
	char s[8];
	for (int i = 0; i < 7; i++) {
		snprintf(s, sizeof s, "m%d", i);
		pl_muc_history_push(h, 100 + i, text(s), 10 + (size_t)i);
	}
}

static void test_ring_wraps(void **state)
{
	(void)state;
	pl_muc_history h;
	fill(&h);
	assert_int_equal(h.n, 5);
	for (size_t i = 0; i < 5; i++) {
		char want[8];
		snprintf(want, sizeof want, "m%zu", i + 2);
		assert_memory_equal(entry_text(&h, i), want, 2);
	}
	/* shrinking keeps the newest */
	pl_muc_history_init(&h, 2);
	assert_int_equal(h.n, 2);
	assert_memory_equal(entry_text(&h, 0), "m5", 2);
	assert_memory_equal(entry_text(&h, 1), "m6", 2);
	pl_muc_history_push(&h, 107, text("m7"), 1);
	assert_memory_equal(entry_text(&h, 0), "m6", 2);
	pl_muc_history_clear(&h);
	/* capacity 0 keeps nothing (and frees what it is given) */
	pl_muc_history_init(&h, 0);
	pl_muc_history_push(&h, 1, text("x"), 1);
	assert_int_equal(h.n, 0);
	pl_muc_history_clear(&h);
}

static void test_select(void **state)
{
	(void)state;
	pl_muc_history h;
	fill(&h); /* m2..m6, times 102..106, sizes 12..16 */
	pl_muc_history_filter f = none();
	assert_int_equal(pl_muc_history_select(&h, &f, 200), 0);
	f.maxstanzas = 2;
	assert_int_equal(pl_muc_history_select(&h, &f, 200), 3);
	f.maxstanzas = 0;
	assert_int_equal(pl_muc_history_select(&h, &f, 200), 5);
	f = none();
	f.maxchars = 31; /* m6 (16) + m5 (15) = 31 fits, + m4 does not */
	assert_int_equal(pl_muc_history_select(&h, &f, 200), 3);
	f.maxchars = 30;
	assert_int_equal(pl_muc_history_select(&h, &f, 200), 4);
	f.maxchars = 0;
	assert_int_equal(pl_muc_history_select(&h, &f, 200), 5);
	f = none();
	f.seconds = 2; /* now 106: times >= 104 */
	assert_int_equal(pl_muc_history_select(&h, &f, 106), 2);
	f = none();
	f.since = 105;
	assert_int_equal(pl_muc_history_select(&h, &f, 300), 3);
	/* several limits: the smallest result wins */
	f.since = 102;
	f.maxstanzas = 1;
	assert_int_equal(pl_muc_history_select(&h, &f, 300), 4);
	pl_muc_history_clear(&h);
}

static void test_filter_parse(void **state)
{
	(void)state;
	pl_muc_history_filter f;
	assert_int_equal(pl_muc_history_filter_parse(NULL, &f), 0);
	assert_true(f.maxchars == -1 && f.maxstanzas == -1 && f.seconds == -1 && f.since == -1);
	pl_xml_node *e = pl_xml_elem_new("history", "http://jabber.org/protocol/muc");
	pl_xml_set_attr(e, "maxstanzas", "3");
	pl_xml_set_attr(e, "since", "1970-01-01T00:01:40Z");
	assert_int_equal(pl_muc_history_filter_parse(e, &f), 0);
	assert_int_equal(f.maxstanzas, 3);
	assert_int_equal(f.since, 100);
	assert_int_equal(f.maxchars, -1);
	pl_xml_set_attr(e, "maxchars", "-1");
	assert_int_equal(pl_muc_history_filter_parse(e, &f), -1);
	pl_xml_set_attr(e, "maxchars", "12a");
	assert_int_equal(pl_muc_history_filter_parse(e, &f), -1);
	pl_xml_set_attr(e, "maxchars", NULL);
	pl_xml_set_attr(e, "since", "yesterday");
	assert_int_equal(pl_muc_history_filter_parse(e, &f), -1);
	pl_xml_free(e);
}

static void test_datetime(void **state)
{
	(void)state;
	time_t t;
	assert_int_equal(pl_muc_parse_datetime("2002-09-10T23:08:25Z", &t), 0);
	assert_int_equal((long long)t, 1031699305LL);
	assert_int_equal(pl_muc_parse_datetime("2002-09-10T23:08:25.123Z", &t), 0);
	assert_int_equal((long long)t, 1031699305LL);
	assert_int_equal(pl_muc_parse_datetime("2002-09-10T18:08:25-05:00", &t), 0);
	assert_int_equal((long long)t, 1031699305LL);
	assert_int_equal(pl_muc_parse_datetime("2024-02-29T00:00:00Z", &t), 0);
	assert_int_equal((long long)t, 1709164800LL);
	assert_int_equal(pl_muc_parse_datetime("2002-09-10T23:08:25", &t), -1);
	assert_int_equal(pl_muc_parse_datetime("2002-13-10T23:08:25Z", &t), -1);
	assert_int_equal(pl_muc_parse_datetime("2002-09-10 23:08:25Z", &t), -1);
	assert_int_equal(pl_muc_parse_datetime("2002-09-10T23:08:25Zjunk", &t), -1);
	char buf[32];
	pl_muc_format_datetime(1031699305, buf, sizeof buf);
	assert_string_equal(buf, "2002-09-10T23:08:25Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ring_wraps),
	    cmocka_unit_test(test_select),
	    cmocka_unit_test(test_filter_parse),
	    cmocka_unit_test(test_datetime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
