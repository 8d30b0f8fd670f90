/* dataform.c: parses XEP-0004 data forms (jabber:x:data) into a flat list of fields and their values.
 * Pure: no room or server state; every size is bounded (dataform.h). */
#include "muc/dataform.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "muc/muc.h"

static void field_clear(pl_dataform_field *fd)
{
	free(fd->var);
	for (size_t i = 0; i < fd->nvalues; i++)
		free(fd->values[i]);
	free(fd->values);
}

void pl_dataform_clear(pl_dataform *f)
{
	for (size_t i = 0; i < f->nfields; i++)
		field_clear(&f->fields[i]);
	free(f->fields);
	free(f->type);
	free(f->form_type);
	memset(f, 0, sizeof(*f));
}

const pl_dataform_field *pl_dataform_get(const pl_dataform *f, const char *var)
{
	for (size_t i = 0; i < f->nfields; i++)
		if (!strcmp(f->fields[i].var, var)) return &f->fields[i];
	return NULL;
}

int pl_dataform_bool(const char *s)
{
	if (!s) return -1;
	if (!strcmp(s, "1") || !strcmp(s, "true")) return 1;
	if (!strcmp(s, "0") || !strcmp(s, "false")) return 0;
	return -1;
}

static int parse_field(const pl_xml_node *fe, pl_dataform_field *fd)
{
	size_t nv = 0;
	for (const pl_xml_node *v = pl_xml_next_child(fe, NULL, "value", PL_NS_XDATA); v;
	     v = pl_xml_next_child(fe, v, "value", PL_NS_XDATA))
		nv++;
	if (nv > PL_DATAFORM_MAX_VALUES) return PL_EINVAL;
	fd->values = nv ? pl_calloc(nv, sizeof(char *)) : NULL;
	for (const pl_xml_node *v = pl_xml_next_child(fe, NULL, "value", PL_NS_XDATA); v;
	     v = pl_xml_next_child(fe, v, "value", PL_NS_XDATA)) {
		char *t = pl_xml_text(v);
		if (!t) t = pl_strdup("");
		fd->values[fd->nvalues++] = t;
		if (strlen(t) > PL_DATAFORM_MAX_VALUE) return PL_EINVAL;
	}
	return 0;
}

int pl_dataform_parse(const pl_xml_node *x, pl_dataform *f)
{
	memset(f, 0, sizeof(*f));
	if (!x || !x->ns || strcmp(x->ns, PL_NS_XDATA) != 0) return PL_EINVAL;
	const char *type = pl_xml_attr_get(x, "type");
	if (!type || (strcmp(type, "form") && strcmp(type, "submit") && strcmp(type, "cancel") &&
	              strcmp(type, "result")))
		return PL_EINVAL;
	f->type = pl_strdup(type);
	size_t n = 0;
	for (const pl_xml_node *fe = pl_xml_next_child(x, NULL, "field", PL_NS_XDATA); fe;
	     fe = pl_xml_next_child(x, fe, "field", PL_NS_XDATA))
		n++;
	if (n > PL_DATAFORM_MAX_FIELDS) goto bad;
	f->fields = n ? pl_calloc(n, sizeof(pl_dataform_field)) : NULL;
	for (const pl_xml_node *fe = pl_xml_next_child(x, NULL, "field", PL_NS_XDATA); fe;
	     fe = pl_xml_next_child(x, fe, "field", PL_NS_XDATA)) {
		const char *var = pl_xml_attr_get(fe, "var");
		if (!var) continue; /* fixed fields carry no value to submit */
		if (!*var || strlen(var) > 256 || pl_dataform_get(f, var) ||
		    (!strcmp(var, "FORM_TYPE") && f->form_type))
			goto bad;
		pl_dataform_field fd = {0};
		int rc = parse_field(fe, &fd);
		if (rc != 0) {
			field_clear(&fd);
			goto bad;
		}
		if (!strcmp(var, "FORM_TYPE")) {
			f->form_type = pl_strdup(fd.nvalues ? fd.values[0] : "");
			field_clear(&fd);
			continue;
		}
		fd.var = pl_strdup(var);
		f->fields[f->nfields++] = fd;
	}
	return 0;
bad:
	pl_dataform_clear(f);
	return PL_EINVAL;
}
