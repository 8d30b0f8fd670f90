/* jid.h: JID parsing and preparation (RFC 7622 as implemented by XMPP servers today: stringprep
 * nodeprep / nameprep / resourceprep from libidn), with the RFC length limit of 1023 bytes per part. */
#ifndef PL_XMPP_JID_H
#define PL_XMPP_JID_H
#include <stddef.h>

enum {
	PL_JID_E_MALFORMED = -120, /* -> stanza error jid-malformed */
};

typedef struct pl_jid {
	char *node;     /* prepared localpart or NULL */
	char *domain;   /* prepared domainpart, never NULL after a successful parse (lower-case, no
	                   trailing dot) */
	char *resource; /* prepared resourcepart or NULL */
} pl_jid;

/* Parses and prepares s. On success fills *out (caller frees with pl_jid_clear) and returns 0; on
 * failure returns PL_JID_E_MALFORMED and leaves *out zeroed. */
int pl_jid_parse(const char *s, pl_jid *out);
void pl_jid_clear(pl_jid *j);
/* Builds from parts (each prepared; node/resource may be NULL). Returns 0 or PL_JID_E_MALFORMED. */
int pl_jid_make(const char *node, const char *domain, const char *resource, pl_jid *out);
/* Newly allocated strings (caller frees). */
char *pl_jid_to_string(const pl_jid *j); /* full form as present */
char *pl_jid_bare_string(const pl_jid *j); /* node@domain or domain */
void pl_jid_copy(const pl_jid *src, pl_jid *dst);
/* Compares prepared JIDs (full, or bare only when bare_only). Returns 1 when equal. */
int pl_jid_equal(const pl_jid *a, const pl_jid *b, int bare_only);

/* Single-part preparation: newly allocated prepared string in *out, or PL_JID_E_MALFORMED
 * (invalid characters, empty, or over 1023 bytes after preparation). */
int pl_jid_nodeprep(const char *in, char **out);
int pl_jid_nameprep(const char *in, char **out);
int pl_jid_resourceprep(const char *in, char **out);
/* Returns a prepared full JID string or NULL if malformed: shortcut used by routing. */
char *pl_jid_prep_string(const char *s);

#endif
