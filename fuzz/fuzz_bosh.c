/* fuzz_bosh.c: libFuzzer target for BOSH request bodies (src/xmpp/bosh.c). The input is parsed as a POSTed
 * <body/> with a size limit, as the /http-bind handler does. A parsed body must respect the invariants
 * (root <body/> in the httpbind namespace, rid in 1..2^53-1, no child element left in the httpbind
 * namespace) and round-trip: its children, serialized and wrapped in a response body, parse again to the
 * same number of children. The rid is also run through the window check against neighbouring values.
 * Anything else aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "xmpp/bosh.h"

#define MAX_BODY 65536

static void check_rid_window(uint64_t rid)
{
	if (pl_bosh_rid_check(rid - 1, rid, 2) != PL_BOSH_RID_NEXT) abort();
	if (pl_bosh_rid_check(rid, rid, 2) != PL_BOSH_RID_REPEAT) abort();
	if (pl_bosh_rid_check(rid - 1, rid + 1, 2) != PL_BOSH_RID_AHEAD) abort();
	if (pl_bosh_rid_check(rid - 1, rid + 2, 2) != PL_BOSH_RID_OUT) abort();
	if (rid > 2 && pl_bosh_rid_check(rid, rid - 2, 2) != PL_BOSH_RID_OUT) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_bosh_body b;
	int rc = pl_bosh_body_parse((const char *)data, size, MAX_BODY, &b);
	if (rc != 0) {
		if (b.root || b.sid || b.to || b.type) abort(); /* a failed parse leaves *out zeroed */
		if (rc != PL_BOSH_E_XML && rc != PL_BOSH_E_ROOT && rc != PL_BOSH_E_RID &&
		    rc != PL_BOSH_E_ATTR)
			abort();
		return 0;
	}
	if (!b.root || strcmp(b.root->name, "body") != 0 || strcmp(b.root->ns, PL_NS_HTTPBIND) != 0) abort();
	if (b.rid == 0 || b.rid > PL_BOSH_RID_MAX) abort();
	if (b.wait < -1 || b.hold < -1) abort();
	if (b.type && strcmp(b.type, "terminate") != 0) abort();
	check_rid_window(b.rid);

	size_t n = pl_xml_count_elems(b.root), i = 0;
	pl_bytes **els = pl_calloc(n + 1, sizeof *els);
	for (pl_xml_node *c = pl_xml_first_elem(b.root); c; c = pl_xml_next_child(b.root, c, NULL, NULL)) {
		if (c->ns && strcmp(c->ns, PL_NS_HTTPBIND) == 0) abort();
		pl_buf s = PL_BUF_INIT;
		pl_xml_serialize(c, NULL, &s);
		els[i++] = pl_bytes_from_buf(&s);
	}
	pl_buf out = PL_BUF_INIT;
	pl_bosh_wrap(&out, b.type, NULL, " rid='1'", els, n);
	pl_bosh_body again;
	if (pl_bosh_body_parse(out.data, out.len, 0, &again) != 0) abort();
	if (pl_xml_count_elems(again.root) != n || again.rid != 1) abort();
	pl_bosh_body_free(&again);
	pl_buf_free(&out);
	for (i = 0; i < n; i++)
		pl_bytes_unref(els[i]);
	free(els);
	pl_bosh_body_free(&b);
	return 0;
}
