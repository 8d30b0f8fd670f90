/* fuzz_muc_admin.c: libFuzzer target for the muc#admin item parser (src/muc/admin.c,
 * pl_muc_admin_parse). The input is parsed as one XML document (the <query/> of an iq) and handed to the
 * parser as a get and as a set. Whatever it accepts must respect the contract in muc_internal.h: 1..max
 * items, each with exactly one of role and affiliation in range, one item for a get, a nick on every role
 * item of a set, a jid or a nick on every affiliation item, and a bare JID that parses again. A refusal must
 * leave nothing allocated (LeakSanitizer checks). Anything else aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "muc/muc_internal.h"

static void check(const pl_muc_admin_item *items, size_t n, size_t max, int is_set)
{
	if (n < 1 || n > max || (!is_set && n != 1)) abort();
	for (size_t i = 0; i < n; i++) {
		const pl_muc_admin_item *it = &items[i];
		int has_role = it->role != PL_MUC_ADMIN_UNSET,
		    has_aff = it->affiliation != PL_MUC_ADMIN_UNSET;
		if (has_role == has_aff || !it->node) abort();
		if (has_role && (it->role < PL_MUC_ROLE_NONE || it->role > PL_MUC_ROLE_MODERATOR)) abort();
		if (has_aff && (it->affiliation < PL_MUC_AFF_OUTCAST || it->affiliation > PL_MUC_AFF_OWNER))
			abort();
		if (!is_set) {
			if (it->nick || it->bare) abort();
			continue;
		}
		if (has_role && !it->nick) abort();
		if (has_aff && !it->nick && !it->bare) abort();
		if (it->nick && !*it->nick) abort();
		if (it->bare) {
			pl_jid j;
			if (pl_jid_parse(it->bare, &j) != 0 || j.resource) abort();
			pl_jid_clear(&j);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_xml_node *q = NULL;
	if (pl_xml_parse_document((const char *)data, size, 65536, &q) != 0) return 0;
	for (int is_set = 0; is_set < 2; is_set++) {
		pl_muc_admin_item items[4];
		size_t n = 99;
		if (pl_muc_admin_parse(q, is_set, items, 4, &n) == 0) {
			check(items, n, 4, is_set);
			pl_muc_admin_items_clear(items, n);
		} else if (n != 0) {
			abort();
		}
	}
	pl_xml_free(q);
	return 0;
}
