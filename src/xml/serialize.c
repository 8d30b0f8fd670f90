/* serialize.c: turns a pl_xml_node tree back into XML bytes. It writes an xmlns declaration only where an
 * element's namespace differs from the default namespace in scope, escapes text and attribute values so
 * that parsing the output gives back the same tree (tab and newline in attribute values become character
 * references, since a parser would normalise them to spaces), and declares a prefix (ns0, ns1, ...) on
 * each element for its "<uri>|<local>" attributes. Elements in the xml: namespace are written with the
 * predefined xml: prefix. Parsing lives in stream.c. */
#include "xml/xml.h"
#include "core/alloc.h"
#include <stdio.h>
#include <string.h>

#define NS_XML "http://www.w3.org/XML/1998/namespace"
#define NS_XMLNS "http://www.w3.org/2000/xmlns/"

static int ns_equal(const char *a, const char *b)
{
	if (a && !*a) a = NULL;
	if (b && !*b) b = NULL;
	if (!a || !b) return a == b;
	return strcmp(a, b) == 0;
}

/* Attribute values: pl_buf_append_xml_escaped plus tab and newline as character references. */
static void append_attr_value(pl_buf *out, const char *v)
{
	size_t start = 0, i = 0;
	for (; v[i]; i++) {
		if (v[i] != '\t' && v[i] != '\n') continue;
		pl_buf_append_xml_escaped(out, v + start, i - start, 1);
		pl_buf_appends(out, v[i] == '\t' ? "&#9;" : "&#10;");
		start = i + 1;
	}
	pl_buf_append_xml_escaped(out, v + start, i - start, 1);
}

static void append_attr(pl_buf *out, const char *prefix, const char *name, size_t namelen,
	const char *value)
{
	pl_buf_appendc(out, ' ');
	if (prefix) {
		pl_buf_appends(out, prefix);
		pl_buf_appendc(out, ':');
	}
	pl_buf_append(out, name, namelen);
	pl_buf_appends(out, "='");
	append_attr_value(out, value);
	pl_buf_appendc(out, '\'');
}

static void write_attrs(const pl_xml_node *n, pl_buf *out)
{
	int small[32];
	int *pfx = n->nattrs <= 32 ? small : pl_malloc(n->nattrs * sizeof(int));
	int next = 0;
	for (size_t i = 0; i < n->nattrs; i++) {
		const char *name = n->attrs[i].name, *value = n->attrs[i].value;
		const char *bar = strrchr(name, '|');
		pfx[i] = -1;
		if (!bar) {
			/* xmlns declarations are never attributes: the serializer writes its own */
			if (strcmp(name, "xmlns") == 0 || strncmp(name, "xmlns:", 6) == 0) continue;
			append_attr(out, NULL, name, strlen(name), value);
			continue;
		}
		size_t urilen = (size_t)(bar - name);
		const char *local = bar + 1;
		if (urilen == 0) {
			append_attr(out, NULL, local, strlen(local), value);
			continue;
		}
		if (urilen == strlen(NS_XML) && memcmp(name, NS_XML, urilen) == 0) {
			append_attr(out, "xml", local, strlen(local), value);
			continue;
		}
		if (urilen == strlen(NS_XMLNS) && memcmp(name, NS_XMLNS, urilen) == 0) continue;
		for (size_t j = 0; j < i; j++) {
			if (pfx[j] < 0) continue;
			if (strncmp(n->attrs[j].name, name, urilen + 1) == 0 &&
				strrchr(n->attrs[j].name, '|') == n->attrs[j].name + urilen) {
				pfx[i] = pfx[j];
				break;
			}
		}
		char p[24];
		if (pfx[i] < 0) {
			pfx[i] = next++;
			pl_buf_printf(out, " xmlns:ns%d='", pfx[i]);
			pl_buf_append_xml_escaped(out, name, urilen, 1);
			pl_buf_appendc(out, '\'');
		}
		snprintf(p, sizeof p, "ns%d", pfx[i]);
		append_attr(out, p, local, strlen(local), value);
	}
	if (pfx != small) pl_free(pfx);
}

static void serialize_rec(const pl_xml_node *n, const char *scope_ns, pl_buf *out)
{
	if (n->type == PL_XML_TEXT) {
		pl_buf_append_xml_escaped(out, n->text ? n->text : "", n->textlen, 0);
		return;
	}
	/* The xml namespace cannot be a default namespace: use its predefined prefix. */
	int xml_prefix = n->ns && strcmp(n->ns, NS_XML) == 0;
	const char *child_scope = xml_prefix ? scope_ns : n->ns;
	pl_buf_appendc(out, '<');
	if (xml_prefix) pl_buf_appends(out, "xml:");
	pl_buf_appends(out, n->name);
	if (!xml_prefix && !ns_equal(n->ns, scope_ns)) {
		pl_buf_appends(out, " xmlns='");
		if (n->ns) append_attr_value(out, n->ns);
		pl_buf_appendc(out, '\'');
	}
	write_attrs(n, out);
	if (n->nchildren == 0) {
		pl_buf_appends(out, "/>");
		return;
	}
	pl_buf_appendc(out, '>');
	for (size_t i = 0; i < n->nchildren; i++) serialize_rec(n->children[i], child_scope, out);
	pl_buf_appends(out, "</");
	if (xml_prefix) pl_buf_appends(out, "xml:");
	pl_buf_appends(out, n->name);
	pl_buf_appendc(out, '>');
}

void pl_xml_serialize(const pl_xml_node *n, const char *outer_ns, pl_buf *out)
{
	serialize_rec(n, outer_ns, out);
}

char *pl_xml_to_string(const pl_xml_node *n, const char *outer_ns)
{
	pl_buf b = PL_BUF_INIT;
	pl_xml_serialize(n, outer_ns, &b);
	if (!b.data) pl_buf_appends(&b, "");
	return pl_buf_steal(&b);
}
