/* fuzz_dataform.c: libFuzzer target for the jabber:x:data parser (src/muc/dataform.c). The input is parsed
 * as an XML document; an accepted form must respect the parser's contract (a known type, at most
 * PL_DATAFORM_MAX_FIELDS fields, each with a non-empty unique var other than FORM_TYPE, at most
 * PL_DATAFORM_MAX_VALUES values of at most PL_DATAFORM_MAX_VALUE bytes) and every var must be found by
 * pl_dataform_get; a refused one leaves the form zeroed. Anything else aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "muc/dataform.h"

static void check(const pl_dataform *f)
{
	static const char *const types[] = {"form", "submit", "cancel", "result"};
	int known = 0;
	for (int i = 0; i < 4; i++)
		known |= f->type && !strcmp(f->type, types[i]);
	if (!known || f->nfields > PL_DATAFORM_MAX_FIELDS) abort();
	for (size_t i = 0; i < f->nfields; i++) {
		const pl_dataform_field *fd = &f->fields[i];
		if (!fd->var || !*fd->var || !strcmp(fd->var, "FORM_TYPE")) abort();
		if (pl_dataform_get(f, fd->var) != fd) abort();
		if (fd->nvalues > PL_DATAFORM_MAX_VALUES || (fd->nvalues && !fd->values)) abort();
		for (size_t k = 0; k < fd->nvalues; k++)
			if (!fd->values[k] || strlen(fd->values[k]) > PL_DATAFORM_MAX_VALUE) abort();
		if (fd->nvalues) {
			int b = pl_dataform_bool(fd->values[0]);
			if (b < -1 || b > 1) abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_xml_node *x = NULL;
	if (pl_xml_parse_document((const char *)data, size, 65536, &x) != 0) return 0;
	pl_dataform f;
	if (pl_dataform_parse(x, &f) == 0) {
		check(&f);
		pl_dataform_clear(&f);
	} else if (f.type || f.fields || f.nfields || f.form_type) {
		abort();
	}
	pl_xml_free(x);
	return 0;
}
