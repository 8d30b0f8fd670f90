/* tree.c: the stanza tree (pl_xml_node): construction, attributes, child lookup, text extraction, deep
 * copy and freeing. Children and attribute arrays grow geometrically so building a node with many
 * children stays linear. Parsing lives in stream.c, serialization in serialize.c. */
#include "xml/xml.h"
#include "core/alloc.h"
#include <string.h>

static pl_xml_node *node_new(enum pl_xml_node_type type)
{
	pl_xml_node *n = PL_NEW(pl_xml_node);
	n->type = type;
	return n;
}

pl_xml_node *pl_xml_elem_new(const char *name, const char *ns)
{
	pl_xml_node *n = node_new(PL_XML_ELEM);
	n->name = pl_strdup(name ? name : "");
	n->ns = (ns && *ns) ? pl_strdup(ns) : NULL; /* "" is "no namespace" too */
	return n;
}

void pl_xml_detach(pl_xml_node *child)
{
	pl_xml_node *p = child->parent;
	if (!p) return;
	/* Search from the end: removing the last child (the common case) is O(1). */
	for (size_t i = p->nchildren; i-- > 0;) {
		if (p->children[i] != child) continue;
		memmove(&p->children[i], &p->children[i + 1], (p->nchildren - i - 1) * sizeof(*p->children));
		p->nchildren--;
		break;
	}
	child->parent = NULL;
}

static void free_rec(pl_xml_node *n)
{
	for (size_t i = 0; i < n->nchildren; i++) free_rec(n->children[i]);
	for (size_t i = 0; i < n->nattrs; i++) {
		pl_free(n->attrs[i].name);
		pl_free(n->attrs[i].value);
	}
	pl_free(n->attrs);
	pl_free(n->children);
	pl_free(n->name);
	pl_free(n->ns);
	pl_free(n->text);
	pl_free(n);
}

void pl_xml_free(pl_xml_node *n)
{
	if (!n) return;
	pl_xml_detach(n);
	free_rec(n);
}

pl_xml_node *pl_xml_append(pl_xml_node *parent, pl_xml_node *child)
{
	if (child->parent) pl_xml_detach(child);
	if (parent->nchildren == parent->cap_children) {
		size_t cap = parent->cap_children ? parent->cap_children * 2 : 4;
		parent->children = pl_realloc(parent->children, cap * sizeof(*parent->children));
		parent->cap_children = cap;
	}
	parent->children[parent->nchildren++] = child;
	child->parent = parent;
	return child;
}

pl_xml_node *pl_xml_add_elem(pl_xml_node *parent, const char *name, const char *ns)
{
	return pl_xml_append(parent, pl_xml_elem_new(name, ns ? ns : parent->ns));
}

void pl_xml_add_text(pl_xml_node *parent, const char *text, size_t len)
{
	if (!text || len == 0) return;
	pl_xml_node *last = parent->nchildren ? parent->children[parent->nchildren - 1] : NULL;
	if (last && last->type == PL_XML_TEXT) {
		last->text = pl_realloc(last->text, last->textlen + len + 1);
		memcpy(last->text + last->textlen, text, len);
		last->textlen += len;
		last->text[last->textlen] = 0;
		return;
	}
	pl_xml_node *t = node_new(PL_XML_TEXT);
	t->text = pl_strndup(text, len);
	t->textlen = len;
	pl_xml_append(parent, t);
}

pl_xml_node *pl_xml_add_text_elem(pl_xml_node *parent, const char *name, const char *ns,
	const char *text)
{
	pl_xml_node *c = pl_xml_add_elem(parent, name, ns);
	if (text) pl_xml_add_text(c, text, strlen(text));
	return c;
}

static pl_xml_attr *find_attr(const pl_xml_node *n, const char *name)
{
	for (size_t i = 0; i < n->nattrs; i++)
		if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
	return NULL;
}

void pl_xml_set_attr(pl_xml_node *n, const char *name, const char *value)
{
	pl_xml_attr *a = find_attr(n, name);
	if (a) {
		if (value) {
			char *v = pl_strdup(value); /* value may point into the old one */
			pl_free(a->value);
			a->value = v;
			return;
		}
		pl_free(a->name);
		pl_free(a->value);
		size_t i = (size_t)(a - n->attrs);
		memmove(a, a + 1, (n->nattrs - i - 1) * sizeof(*a));
		n->nattrs--;
		return;
	}
	if (!value) return;
	if (n->nattrs == n->cap_attrs) {
		size_t cap = n->cap_attrs ? n->cap_attrs * 2 : 4;
		n->attrs = pl_realloc(n->attrs, cap * sizeof(*n->attrs));
		n->cap_attrs = cap;
	}
	n->attrs[n->nattrs].name = pl_strdup(name);
	n->attrs[n->nattrs].value = pl_strdup(value);
	n->nattrs++;
}

const char *pl_xml_attr_get(const pl_xml_node *n, const char *name)
{
	if (!n) return NULL;
	pl_xml_attr *a = find_attr(n, name);
	return a ? a->value : NULL;
}

static int matches(const pl_xml_node *c, const char *name, const char *ns)
{
	if (c->type != PL_XML_ELEM) return 0;
	if (name && strcmp(c->name, name) != 0) return 0;
	if (ns && (!c->ns || strcmp(c->ns, ns) != 0)) return 0;
	return 1;
}

pl_xml_node *pl_xml_child(const pl_xml_node *n, const char *name, const char *ns)
{
	if (!n) return NULL;
	for (size_t i = 0; i < n->nchildren; i++)
		if (matches(n->children[i], name, ns)) return n->children[i];
	return NULL;
}

pl_xml_node *pl_xml_next_child(const pl_xml_node *n, const pl_xml_node *after, const char *name,
	const char *ns)
{
	if (!n) return NULL;
	size_t i = 0;
	if (after) {
		while (i < n->nchildren && n->children[i] != after) i++;
		if (i == n->nchildren) return NULL;
		i++;
	}
	for (; i < n->nchildren; i++)
		if (matches(n->children[i], name, ns)) return n->children[i];
	return NULL;
}

pl_xml_node *pl_xml_first_elem(const pl_xml_node *n) { return pl_xml_child(n, NULL, NULL); }

char *pl_xml_text(const pl_xml_node *n)
{
	size_t len = 0;
	if (n)
		for (size_t i = 0; i < n->nchildren; i++)
			if (n->children[i]->type == PL_XML_TEXT) len += n->children[i]->textlen;
	char *s = pl_malloc(len + 1);
	size_t off = 0;
	if (n)
		for (size_t i = 0; i < n->nchildren; i++) {
			const pl_xml_node *c = n->children[i];
			if (c->type != PL_XML_TEXT) continue;
			memcpy(s + off, c->text, c->textlen);
			off += c->textlen;
		}
	s[off] = 0;
	return s;
}

char *pl_xml_child_text(const pl_xml_node *n, const char *name, const char *ns)
{
	pl_xml_node *c = pl_xml_child(n, name, ns);
	return c ? pl_xml_text(c) : NULL;
}

pl_xml_node *pl_xml_copy(const pl_xml_node *n)
{
	pl_xml_node *c = node_new(n->type);
	if (n->type == PL_XML_TEXT) {
		c->text = pl_strndup(n->text ? n->text : "", n->textlen);
		c->textlen = n->textlen;
		return c;
	}
	c->name = pl_strdup(n->name);
	c->ns = pl_strdup(n->ns);
	if (n->nattrs) {
		c->attrs = pl_malloc(n->nattrs * sizeof(*c->attrs));
		c->cap_attrs = c->nattrs = n->nattrs;
		for (size_t i = 0; i < n->nattrs; i++) {
			c->attrs[i].name = pl_strdup(n->attrs[i].name);
			c->attrs[i].value = pl_strdup(n->attrs[i].value);
		}
	}
	if (n->nchildren) {
		c->children = pl_malloc(n->nchildren * sizeof(*c->children));
		c->cap_children = n->nchildren;
		for (size_t i = 0; i < n->nchildren; i++) {
			c->children[i] = pl_xml_copy(n->children[i]);
			c->children[i]->parent = c;
		}
		c->nchildren = n->nchildren;
	}
	return c;
}

size_t pl_xml_count_elems(const pl_xml_node *n)
{
	size_t k = 0;
	for (size_t i = 0; n && i < n->nchildren; i++)
		if (n->children[i]->type == PL_XML_ELEM) k++;
	return k;
}
