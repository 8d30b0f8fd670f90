/* sasl.h: server side of the SASL mechanisms parley offers: SCRAM-SHA-1, SCRAM-SHA-256 (RFC 5802,
 * RFC 7677), their -PLUS variants with tls-exporter channel binding (RFC 9266), PLAIN (RFC 4616) and
 * ANONYMOUS (RFC 4505); plus derivation of the stored SCRAM credentials from a password. This module
 * works on raw (already base64-decoded) bytes and knows nothing of XMPP framing or the store: it asks for
 * the user's credentials through the PL_SASL_NEED_CREDS step and the caller fetches them.
 *
 * Passwords are prepared with SASLprep (libidn's stringprep profile). Credentials are never plaintext. */
#ifndef PL_XMPP_SASL_H
#define PL_XMPP_SASL_H
#include <stddef.h>

enum pl_sasl_alg { PL_SASL_SHA1 = 1, PL_SASL_SHA256 = 2 };

/* Stored SCRAM credentials for one hash. key_len is 20 for SHA-1, 32 for SHA-256. */
typedef struct pl_scram_keys {
	unsigned char stored_key[32];
	unsigned char server_key[32];
	size_t key_len;
} pl_scram_keys;

typedef struct pl_sasl_creds {
	unsigned char salt[32];
	size_t salt_len;
	int iterations;
	pl_scram_keys sha1;
	pl_scram_keys sha256;
} pl_sasl_creds;

/* Derives credentials from a password: random 16-byte salt (libsodium randombytes), `iterations` (>=
 * 4096 recommended), keys for both hashes. Returns 0, or PL_SASL_E_BAD_PASSWORD if SASLprep rejects it. */
int pl_sasl_derive_creds(const char *password, int iterations, pl_sasl_creds *out);
/* Same with a given salt (for tests / test vectors). */
int pl_sasl_derive_creds_salt(const char *password, const unsigned char *salt, size_t salt_len,
	int iterations, pl_sasl_creds *out);
/* Checks a plaintext password against stored credentials in constant time. Returns 1 if it matches. */
int pl_sasl_check_password(const pl_sasl_creds *creds, const char *password);

enum {
	/* step results (>= 0) */
	PL_SASL_CONTINUE = 1,   /* send *out as a <challenge/> and wait for a <response/> */
	PL_SASL_SUCCESS = 2,    /* authenticated; send *out (may be empty) as <success/> data */
	PL_SASL_NEED_CREDS = 3, /* call pl_sasl_username(), look the user up, then pl_sasl_set_creds() and
	                           pl_sasl_step() again with no input */
	/* errors (< 0); each maps to a SASL failure condition */
	PL_SASL_E_MALFORMED = -130,     /* malformed-request */
	PL_SASL_E_NOT_AUTHORIZED = -131,/* not-authorized (wrong password, unknown user) */
	PL_SASL_E_INVALID_MECH = -132,  /* invalid-mechanism */
	PL_SASL_E_ENCRYPTION = -133,    /* encryption-required (PLAIN without TLS) */
	PL_SASL_E_BAD_PASSWORD = -134,  /* password rejected by SASLprep (derive only) */
	PL_SASL_E_AUTHZID = -135,       /* invalid-authzid */
	PL_SASL_E_STATE = -136,         /* step called in a wrong state */
};

typedef struct pl_sasl_opts {
	int tls;                      /* the stream is encrypted */
	int allow_anonymous;          /* the host allows ANONYMOUS */
	int allow_plain;              /* PLAIN is offered (still refused without tls) */
	const unsigned char *cb_data; /* tls-exporter channel binding data (32 bytes) or NULL when not
	                                 available: then -PLUS mechanisms are refused */
	size_t cb_len;
	int iterations;               /* unused by the server side; reserved */
} pl_sasl_opts;

typedef struct pl_sasl pl_sasl;

/* Writes a space-separated list of the mechanisms offered under opts into buf (size n), in order of
 * preference (SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, ANONYMOUS). */
void pl_sasl_mechanisms(const pl_sasl_opts *opts, char *buf, size_t n);
/* Starts an exchange. Returns 0 and *out, or PL_SASL_E_INVALID_MECH / PL_SASL_E_ENCRYPTION. opts is
 * copied (cb_data too). */
int pl_sasl_start(const char *mech, const pl_sasl_opts *opts, pl_sasl **out);
/* One step with the client's data (in may be NULL/0 for an empty initial response or a resumed step).
 * On return, *out and *outlen hold server data (caller frees *out; may be NULL with outlen 0). Returns a
 * PL_SASL_* step result or error; after an error or SUCCESS no more steps are allowed. */
int pl_sasl_step(pl_sasl *s, const unsigned char *in, size_t inlen, unsigned char **out,
	size_t *outlen);
/* The authentication identity (prepared localpart: SCRAM/PLAIN username after nodeprep) once known, or
 * NULL; for ANONYMOUS, NULL (the caller generates a random localpart). Valid until pl_sasl_free. */
const char *pl_sasl_username(const pl_sasl *s);
/* Supplies the user's credentials after PL_SASL_NEED_CREDS; creds == NULL means "no such user": the
 * exchange goes on with dummy credentials and ends in PL_SASL_E_NOT_AUTHORIZED (no user enumeration). */
void pl_sasl_set_creds(pl_sasl *s, const pl_sasl_creds *creds);
const char *pl_sasl_mech_name(const pl_sasl *s);
/* The authorization identity the client asked for (SCRAM "a=", PLAIN authzid) as a prepared bare JID, or
 * NULL when it gave none. It is accepted only when its localpart is the username; its domain is not
 * checked here: the caller must compare it with the stream's host. Valid until pl_sasl_free. */
const char *pl_sasl_authzid(const pl_sasl *s);
/* Tests only: makes every later SCRAM exchange use server_nonce_part as the server's part of the nonce
 * instead of 24 random bytes (to reproduce RFC test vectors); NULL restores random nonces. */
void pl_sasl_test_set_nonce(const char *server_nonce_part);
void pl_sasl_free(pl_sasl *s);

/* base64 (RFC 4648, no line breaks). encode returns a new NUL-terminated string; decode returns 0 and a
 * new buffer, or PL_EPARSE on invalid input ("=" alone decodes to empty, as XMPP SASL uses). */
char *pl_base64_encode(const unsigned char *in, size_t len);
int pl_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif
