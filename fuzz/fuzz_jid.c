/* fuzz_jid.c: libFuzzer target for the JID parser (src/xmpp/jid.c). The input, NUL-terminated, is parsed
 * as a JID and fed to the single-part preparation functions. A parsed JID must respect the invariants
 * (domain present, every part 1..1023 bytes) and round-trip: its to_string and bare_string parse again to
 * an equal JID, pl_jid_make and pl_jid_copy rebuild an equal one. Anything else aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "xmpp/jid.h"

static void check_part(const char *p)
{
	if (p && (strlen(p) == 0 || strlen(p) > 1023)) abort();
}

static void round_trip(const pl_jid *j)
{
	pl_jid k;
	if (!j->domain) abort();
	check_part(j->node);
	check_part(j->domain);
	check_part(j->resource);

	char *full = pl_jid_to_string(j);
	if (pl_jid_parse(full, &k) != 0 || !pl_jid_equal(j, &k, 0)) abort();
	pl_jid_clear(&k);
	char *again = pl_jid_prep_string(full);
	if (!again || strcmp(again, full) != 0) abort();
	free(again);
	free(full);

	char *bare = pl_jid_bare_string(j);
	if (pl_jid_parse(bare, &k) != 0 || !pl_jid_equal(j, &k, 1) || k.resource) abort();
	pl_jid_clear(&k);
	free(bare);

	if (pl_jid_make(j->node, j->domain, j->resource, &k) != 0 || !pl_jid_equal(j, &k, 0)) abort();
	pl_jid_clear(&k);
	pl_jid_copy(j, &k);
	if (!pl_jid_equal(j, &k, 0)) abort();
	pl_jid_clear(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = pl_malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';

	pl_jid j;
	if (pl_jid_parse(s, &j) == 0) {
		round_trip(&j);
		pl_jid_clear(&j);
	} else if (j.node || j.domain || j.resource) {
		abort(); /* a failed parse leaves *out zeroed */
	}

	char *out = NULL;
	if (pl_jid_nodeprep(s, &out) == 0) {
		check_part(out);
		free(out);
	}
	if (pl_jid_nameprep(s, &out) == 0) {
		check_part(out);
		free(out);
	}
	if (pl_jid_resourceprep(s, &out) == 0) {
		check_part(out);
		free(out);
	}
	free(s);
	return 0;
}
