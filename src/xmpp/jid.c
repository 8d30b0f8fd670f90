/* jid.c: JID parsing and preparation (RFC 7622 address syntax with the stringprep profiles that XMPP
 * servers use today, from libidn: nodeprep for the localpart, nameprep for the domainpart, resourceprep
 * for the resourcepart). It owns the pl_jid value type: parse, build, copy, compare, print. It knows
 * nothing of which domains are local; routing decides that.
 *
 * Splitting follows what servers do: the resourcepart starts after the first '/', the localpart ends at
 * the last '@' before that. Each part must be 1..1023 bytes after preparation. The domainpart is
 * lower-cased by nameprep, loses one trailing dot, may be an IPv6 literal in brackets, and may not have
 * empty labels or ASCII characters other than letters, digits, '-' and '_'. */
#include "xmpp/jid.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stringprep.h>

#include "core/alloc.h"

#define PART_MAX 1023       /* RFC 7622 limit per part, in bytes, after preparation */
#define PREP_BUF (1024 * 4) /* stringprep works in place in a buffer of this size */

enum prep_kind { PREP_NODE, PREP_NAME, PREP_RESOURCE };

/* Returns 1 when s[0..len) is well-formed UTF-8 without NUL (shortest forms, no surrogates, <= U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp, min;
		if (c == 0) return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (len - i - 1 < n) return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
		i += n + 1;
	}
	return 1;
}

/* Replaces the IDNA label separators U+3002, U+FF0E, U+FF61 by '.' in place (RFC 3490 section 3.1). */
static void map_dots(char *s)
{
	char *w = s;
	for (const char *r = s; *r;) {
		const unsigned char *u = (const unsigned char *)r;
		if ((u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x82) ||
		    (u[0] == 0xef && u[1] == 0xbc && u[2] == 0x8e) ||
		    (u[0] == 0xef && u[1] == 0xbd && u[2] == 0xa1)) {
			*w++ = '.';
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* Checks and normalizes an IPv6 literal "[...]" in buf (lower-cased in place). Returns 0 or -1. */
static int domain_ipv6(char *buf, size_t len)
{
	char inner[64];
	unsigned char addr[16];
	if (len < 3 || buf[len - 1] != ']' || len - 2 >= sizeof inner) return -1;
	memcpy(inner, buf + 1, len - 2);
	inner[len - 2] = '\0';
	if (inet_pton(AF_INET6, inner, addr) != 1) return -1;
	for (char *p = buf; *p; p++)
		if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + ('a' - 'A'));
	return 0;
}

/* Checks a nameprepped domain in buf: strips one trailing dot, rejects empty labels and ASCII characters
 * outside letters, digits, '-', '_' (non-ASCII is left to nameprep). Returns 0 or -1. */
static int domain_check(char *buf)
{
	size_t len = strlen(buf);
	if (len > 0 && buf[len - 1] == '.') buf[--len] = '\0';
	if (len == 0 || buf[0] == '.') return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '.') {
			if (buf[i + 1] == '.' || buf[i + 1] == '\0') return -1;
			continue;
		}
		if (c >= 0x80) continue;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return -1;
	}
	return 0;
}

/* Prepares in[0..len) with the profile of kind. Returns 0 and a new string in *out, or PL_JID_E_MALFORMED. */
static int prep_part(enum prep_kind kind, const char *in, size_t len, char **out)
{
	char buf[PREP_BUF];
	int rc;
	*out = NULL;
	if (len == 0 || len >= sizeof buf) return PL_JID_E_MALFORMED;
	memcpy(buf, in, len);
	buf[len] = '\0';
	if (kind == PREP_NAME && buf[0] == '[') {
		if (domain_ipv6(buf, len) != 0) return PL_JID_E_MALFORMED;
		*out = pl_strdup(buf);
		return 0;
	}
	if (!utf8_valid((const unsigned char *)buf, len)) return PL_JID_E_MALFORMED;
	switch (kind) {
	case PREP_NODE:
		rc = stringprep_xmpp_nodeprep(buf, sizeof buf);
		break;
	case PREP_NAME:
		rc = stringprep_nameprep(buf, sizeof buf);
		break;
	default:
		rc = stringprep_xmpp_resourceprep(buf, sizeof buf);
		break;
	}
	if (rc != STRINGPREP_OK) return PL_JID_E_MALFORMED;
	if (kind == PREP_NAME) {
		map_dots(buf);
		if (domain_check(buf) != 0) return PL_JID_E_MALFORMED;
	}
	len = strlen(buf);
	if (len == 0 || len > PART_MAX) return PL_JID_E_MALFORMED;
	*out = pl_strdup(buf);
	return 0;
}

int pl_jid_nodeprep(const char *in, char **out)
{
	return prep_part(PREP_NODE, in, in ? strlen(in) : 0, out);
}

int pl_jid_nameprep(const char *in, char **out)
{
	return prep_part(PREP_NAME, in, in ? strlen(in) : 0, out);
}

int pl_jid_resourceprep(const char *in, char **out)
{
	return prep_part(PREP_RESOURCE, in, in ? strlen(in) : 0, out);
}

void pl_jid_clear(pl_jid *j)
{
	if (!j) return;
	pl_free(j->node);
	pl_free(j->domain);
	pl_free(j->resource);
	j->node = j->domain = j->resource = NULL;
}

int pl_jid_parse(const char *s, pl_jid *out)
{
	memset(out, 0, sizeof *out);
	if (!s) return PL_JID_E_MALFORMED;
	size_t len = strlen(s);
	const char *slash = memchr(s, '/', len);
	size_t head = slash ? (size_t)(slash - s) : len; /* node@domain */
	const char *at = NULL;
	for (size_t i = head; i > 0; i--)
		if (s[i - 1] == '@') {
			at = s + i - 1;
			break;
		}
	const char *dom = at ? at + 1 : s;
	size_t domlen = (size_t)(s + head - dom);
	if ((at && at == s) || (slash && slash[1] == '\0')) return PL_JID_E_MALFORMED;
	if (prep_part(PREP_NAME, dom, domlen, &out->domain) != 0) goto bad;
	if (at && prep_part(PREP_NODE, s, (size_t)(at - s), &out->node) != 0) goto bad;
	if (slash && prep_part(PREP_RESOURCE, slash + 1, len - head - 1, &out->resource) != 0) goto bad;
	return 0;
bad:
	pl_jid_clear(out);
	return PL_JID_E_MALFORMED;
}

int pl_jid_make(const char *node, const char *domain, const char *resource, pl_jid *out)
{
	memset(out, 0, sizeof *out);
	if (!domain || pl_jid_nameprep(domain, &out->domain) != 0) goto bad;
	if (node && pl_jid_nodeprep(node, &out->node) != 0) goto bad;
	if (resource && pl_jid_resourceprep(resource, &out->resource) != 0) goto bad;
	return 0;
bad:
	pl_jid_clear(out);
	return PL_JID_E_MALFORMED;
}

/* Formats node@domain/resource, leaving out the parts that are absent (or the resource if bare). */
static char *jid_format(const pl_jid *j, int bare)
{
	const char *node = j->node, *res = bare ? NULL : j->resource;
	const char *dom = j->domain ? j->domain : "";
	size_t n = strlen(dom) + (node ? strlen(node) + 1 : 0) + (res ? strlen(res) + 1 : 0) + 1;
	char *s = pl_malloc(n);
	snprintf(s, n, "%s%s%s%s%s", node ? node : "", node ? "@" : "", dom, res ? "/" : "", res ? res : "");
	return s;
}

char *pl_jid_to_string(const pl_jid *j)
{
	return jid_format(j, 0);
}

char *pl_jid_bare_string(const pl_jid *j)
{
	return jid_format(j, 1);
}

void pl_jid_copy(const pl_jid *src, pl_jid *dst)
{
	dst->node = pl_strdup(src->node);
	dst->domain = pl_strdup(src->domain);
	dst->resource = pl_strdup(src->resource);
}

/* Equal strings, where NULL equals only NULL. */
static int part_equal(const char *a, const char *b)
{
	if (!a || !b) return a == b;
	return strcmp(a, b) == 0;
}

int pl_jid_equal(const pl_jid *a, const pl_jid *b, int bare_only)
{
	if (!part_equal(a->node, b->node) || !part_equal(a->domain, b->domain)) return 0;
	return bare_only || part_equal(a->resource, b->resource);
}

char *pl_jid_prep_string(const char *s)
{
	pl_jid j;
	if (pl_jid_parse(s, &j) != 0) return NULL;
	char *r = pl_jid_to_string(&j);
	pl_jid_clear(&j);
	return r;
}
