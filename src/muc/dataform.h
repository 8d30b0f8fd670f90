/* dataform.h: a generic XEP-0004 (jabber:x:data) form parser (pure functions, no room state), used by
 * the MUC owner's configuration form (config.c) and fuzzed by fuzz/fuzz_dataform.c. */
#ifndef PL_MUC_DATAFORM_H
#define PL_MUC_DATAFORM_H
#include <stddef.h>
#include "xml/xml.h"

#define PL_DATAFORM_MAX_FIELDS 64  /* more fields: the form is refused */
#define PL_DATAFORM_MAX_VALUES 32  /* values of one field (jid-multi, list-multi, text-multi) */
#define PL_DATAFORM_MAX_VALUE 4096 /* bytes of one value */

typedef struct pl_dataform_field {
	char *var;     /* never NULL, never empty */
	char **values; /* nvalues strings (possibly empty), NULL when none */
	size_t nvalues;
} pl_dataform_field;

typedef struct pl_dataform {
	char *type;      /* form, submit, cancel or result */
	char *form_type; /* value of the hidden FORM_TYPE field, NULL when absent (not among fields) */
	pl_dataform_field *fields;
	size_t nfields;
} pl_dataform;

/* Parses <x xmlns='jabber:x:data'/>: type must be one of form/submit/cancel/result, every <field/> with
 * a var (fields without var, i.e. fixed ones, are skipped), no var twice, bounded by the limits above.
 * Returns 0 (free with pl_dataform_clear) or PL_EINVAL (nothing to free; *f zeroed). */
int pl_dataform_parse(const pl_xml_node *x, pl_dataform *f);
void pl_dataform_clear(pl_dataform *f);
/* The field named var, or NULL. */
const pl_dataform_field *pl_dataform_get(const pl_dataform *f, const char *var);
/* Boolean per XEP-0004 §3.3 ("1"/"true" = 1, "0"/"false" = 0); -1 when not one of these. */
int pl_dataform_bool(const char *s);

#endif
