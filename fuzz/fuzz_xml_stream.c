/* fuzz_xml_stream.c: libFuzzer target for the XML stream parser (src/xml/stream.c) and serializer. The
 * first input byte picks the mode (stream or WebSocket fragments) and seeds the chunk sizes the rest is
 * fed in; every stanza is serialized, reparsed with pl_xml_parse_document (which must succeed) and
 * compared with the original tree. Stanzas named restart / discard / stop exercise the callback return
 * codes. The whole input is also parsed as a standalone document. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/xml.h"

static int str_eq(const char *a, const char *b)
{
	if (!a || !b) return a == b;
	return strcmp(a, b) == 0;
}

static int tree_equal(const pl_xml_node *a, const pl_xml_node *b)
{
	if (a->type != b->type) return 0;
	if (a->type == PL_XML_TEXT)
		return a->textlen == b->textlen && memcmp(a->text, b->text, a->textlen) == 0;
	if (!str_eq(a->name, b->name) || !str_eq(a->ns, b->ns)) return 0;
	if (a->nattrs != b->nattrs || a->nchildren != b->nchildren) return 0;
	for (size_t i = 0; i < a->nattrs; i++)
		if (!str_eq(a->attrs[i].name, b->attrs[i].name) || !str_eq(a->attrs[i].value, b->attrs[i].value))
			return 0;
	for (size_t i = 0; i < a->nchildren; i++) {
		if (a->children[i]->parent != a) return 0;
		if (!tree_equal(a->children[i], b->children[i])) return 0;
	}
	return 1;
}

static void check_roundtrip(const pl_xml_node *n)
{
	pl_buf b = PL_BUF_INIT;
	pl_xml_serialize(n, NULL, &b);
	pl_xml_node *back = NULL;
	if (pl_xml_parse_document(b.data, b.len, 0, &back) != 0) abort();
	if (!tree_equal(n, back)) abort();
	pl_xml_free(back);
	pl_buf_free(&b);
}

static int on_open(void *ud, const pl_xml_node *root)
{
	if (!root->name || root->nchildren) abort();
	(void)pl_xml_attr_get(root, "to");
	return PL_XML_CONTINUE;
}

static int on_stanza(void *ud, pl_xml_node *st)
{
	if (st->parent) abort();
	check_roundtrip(st);
	pl_xml_node *copy = pl_xml_copy(st);
	if (!tree_equal(st, copy)) abort();
	pl_xml_free(copy);
	int rc = PL_XML_CONTINUE;
	if (strcmp(st->name, "restart") == 0) rc = PL_XML_RESTART;
	else if (strcmp(st->name, "discard") == 0) rc = PL_XML_RESTART_DISCARD;
	else if (strcmp(st->name, "stop") == 0) rc = -1;
	pl_xml_free(st);
	return rc;
}

static int on_close(void *ud) { return PL_XML_CONTINUE; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	uint32_t seed = data[0] * 2654435761u + 1;
	int flags = (data[0] & 1) ? PL_XML_STREAM_FRAGMENTS : 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;

	static const pl_xml_stream_cb cb = {on_open, on_stanza, on_close};
	pl_xml_stream *s = pl_xml_stream_new(&cb, NULL, 512, flags);
	size_t off = 0;
	while (off < len) {
		seed = seed * 1103515245u + 12345u;
		size_t n = 1 + (seed >> 16) % 64;
		if (n > len - off) n = len - off;
		if (pl_xml_stream_feed(s, in + off, n) != 0) break;
		off += n;
		if (((seed >> 8) & 255) == 0) pl_xml_stream_reset(s);
	}
	pl_xml_stream_free(s);

	pl_xml_node *doc = NULL;
	if (pl_xml_parse_document(in, len, 4096, &doc) == 0) {
		check_roundtrip(doc);
		pl_xml_free(doc);
	} else if (doc) {
		abort();
	}
	return 0;
}
