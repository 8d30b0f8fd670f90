/* test_dataform.c: unit tests for src/muc/dataform.c: a submitted form's fields and values (multi-valued,
 * empty, FORM_TYPE set apart, fixed fields skipped), the refusals (unknown type, wrong namespace, a var
 * twice, FORM_TYPE twice, too many values, an oversized value), and XEP-0004 booleans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "muc/dataform.h"

static int parse(const char *xml, pl_dataform *f)
{
	pl_xml_node *x = NULL;
	assert_int_equal(pl_xml_parse_document(xml, strlen(xml), 1 << 20, &x), 0);
	int rc = pl_dataform_parse(x, f);
	pl_xml_free(x);
	return rc;
}

static void test_fields_and_values(void **state)
{
	(void)state;
	pl_dataform f;
	assert_int_equal(parse("<x xmlns='jabber:x:data' type='submit'>"
	                       "<field var='FORM_TYPE' type='hidden'><value>urn:t</value></field>"
	                       "<field type='fixed'><value>note</value></field>"
	                       "<field var='a'><value>1</value></field>"
	                       "<field var='m'><value>x@y</value><value>z@w</value></field>"
	                       "<field var='e'/><field var='v'><value/></field></x>",
	                       &f),
	                 0);
	assert_string_equal(f.type, "submit");
	assert_string_equal(f.form_type, "urn:t");
	assert_int_equal(f.nfields, 4);
	assert_null(pl_dataform_get(&f, "FORM_TYPE"));
	const pl_dataform_field *a = pl_dataform_get(&f, "a");
	assert_non_null(a);
	assert_int_equal(a->nvalues, 1);
	assert_string_equal(a->values[0], "1");
	const pl_dataform_field *m = pl_dataform_get(&f, "m");
	assert_int_equal(m->nvalues, 2);
	assert_string_equal(m->values[1], "z@w");
	assert_int_equal(pl_dataform_get(&f, "e")->nvalues, 0);
	assert_int_equal(pl_dataform_get(&f, "v")->nvalues, 1);
	assert_string_equal(pl_dataform_get(&f, "v")->values[0], "");
	assert_null(pl_dataform_get(&f, "nope"));
	pl_dataform_clear(&f);
}

static void test_refusals(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "<x xmlns='jabber:x:data' type='bogus'/>",
	    "<x xmlns='jabber:x:data'/>",
	    "<x xmlns='urn:other' type='submit'/>",
	    "<x xmlns='jabber:x:data' type='submit'><field var='a'/><field var='a'/></x>",
	    "<x xmlns='jabber:x:data' type='submit'><field var=''/></x>",
	    "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>a</value></field>"
	    "<field var='FORM_TYPE'><value>b</value></field></x>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		pl_dataform f;
		assert_int_equal(parse(bad[i], &f), -1);
		assert_null(f.type);
		assert_int_equal(f.nfields, 0);
	}
	/* too many values in one field, and one oversized value */
	char *xml = pl_malloc(64 * 1024);
	int n = snprintf(xml, 64 * 1024, "<x xmlns='jabber:x:data' type='submit'><field var='a'>");
	for (int i = 0; i <= PL_DATAFORM_MAX_VALUES; i++)
		n += snprintf(xml + n, (size_t)(64 * 1024 - n), "<value>v</value>");
	snprintf(xml + n, (size_t)(64 * 1024 - n), "</field></x>");
	pl_dataform f;
	assert_int_equal(parse(xml, &f), -1);
	n = snprintf(xml, 64 * 1024, "<x xmlns='jabber:x:data' type='submit'><field var='a'><value>");
	memset(xml + n, 'a', PL_DATAFORM_MAX_VALUE + 1);
	snprintf(xml + n + PL_DATAFORM_MAX_VALUE + 1, 64, "</value></field></x>");
	assert_int_equal(parse(xml, &f), -1);
	/* exactly at the limits: accepted */
	n = snprintf(xml, 64 * 1024, "<x xmlns='jabber:x:data' type='submit'><field var='a'><value>");
	memset(xml + n, 'a', PL_DATAFORM_MAX_VALUE);
	snprintf(xml + n + PL_DATAFORM_MAX_VALUE, 64, "</value></field></x>");
	assert_int_equal(parse(xml, &f), 0);
	assert_int_equal(strlen(pl_dataform_get(&f, "a")->values[0]), PL_DATAFORM_MAX_VALUE);
	pl_dataform_clear(&f);
	free(xml);
}

static void test_bool(void **state)
{
	(void)state;
	assert_int_equal(pl_dataform_bool("1"), 1);
	assert_int_equal(pl_dataform_bool("true"), 1);
	assert_int_equal(pl_dataform_bool("0"), 0);
	assert_int_equal(pl_dataform_bool("false"), 0);
	assert_int_equal(pl_dataform_bool("yes"), -1);
	assert_int_equal(pl_dataform_bool(""), -1);
	assert_int_equal(pl_dataform_bool(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fields_and_values),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_bool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
