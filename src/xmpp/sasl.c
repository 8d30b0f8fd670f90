/* sasl.c: the server side of parley's SASL mechanisms and the SCRAM credential derivation.
 *
 * SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), with -PLUS variants bound to the TLS connection by
 * tls-exporter (RFC 9266: gs2 header "p=tls-exporter,,", c= carries base64(gs2-header || exporter)); a
 * -PLUS exchange whose client sends "n" (it cannot bind) is accepted unbound, as Prosody does.
 * Exchange: client-first -> NEED_CREDS (the caller looks the user up) -> server-first (CONTINUE) ->
 * client-final -> server-final "v=..." (SUCCESS) or an error. PLAIN (RFC 4616, TLS only): message ->
 * NEED_CREDS -> SUCCESS or NOT_AUTHORIZED; the password is checked by deriving the SCRAM keys with the
 * stored salt and iteration count. ANONYMOUS (RFC 4505): any trace data succeeds.
 *
 * Policy: an unknown user gets dummy credentials (a salt derived from the name with a per-process secret)
 * and the exchange fails only at the end. Channel binding problems (a -PLUS mechanism with "y" or another
 * binding than "p=tls-exporter", "p=" with a plain mechanism, "y" while -PLUS is offered, c= not matching) are
 * NOT_AUTHORIZED; syntax errors, a reserved "m=" extension and a wrong nonce are MALFORMED. An authzid is
 * accepted only when it is empty or a bare JID whose localpart is the authenticated username. All secret
 * comparisons are constant time. This module knows nothing of XMPP framing or the store. */
#include "xmpp/sasl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <stringprep.h>

#include "core/alloc.h"
#include "core/error.h"
#include "xmpp/jid.h"

#define MSG_MAX 4096          /* longest SCRAM / PLAIN client message accepted */
#define PREP_BUF (1024 * 4)   /* SASLprep works in place in a buffer of this size */
#define PLAIN_PART_MAX 255    /* RFC 4616: authzid, authcid, passwd are at most 255 octets */
#define NONCE_RAND 24         /* random bytes in the server part of the SCRAM nonce */
#define DUMMY_ITERATIONS 4096 /* for unknown users when opts.iterations is 0 */

enum mech_kind { MECH_SCRAM, MECH_PLAIN, MECH_ANONYMOUS };

typedef struct mech_info {
	const char *name;
	enum mech_kind kind;
	enum pl_sasl_alg alg;
	int plus;
} mech_info;

/* In order of preference, as pl_sasl_mechanisms lists them. */
static const mech_info mechs[] = {
    {"SCRAM-SHA-256-PLUS", MECH_SCRAM, PL_SASL_SHA256, 1},
    {"SCRAM-SHA-1-PLUS", MECH_SCRAM, PL_SASL_SHA1, 1},
    {"SCRAM-SHA-256", MECH_SCRAM, PL_SASL_SHA256, 0},
    {"SCRAM-SHA-1", MECH_SCRAM, PL_SASL_SHA1, 0},
    {"PLAIN", MECH_PLAIN, 0, 0},
    {"ANONYMOUS", MECH_ANONYMOUS, 0, 0},
};

enum state {
	ST_START,       /* waiting for the first client message */
	ST_SCRAM_CREDS, /* client-first parsed, waiting for pl_sasl_set_creds */
	ST_SCRAM_FINAL, /* server-first sent, waiting for client-final */
	ST_PLAIN_CREDS, /* PLAIN message parsed, waiting for pl_sasl_set_creds */
	ST_DONE,        /* success or error: no more steps */
};

struct pl_sasl {
	const mech_info *mech;
	pl_sasl_opts opts;
	unsigned char *cb; /* copy of opts.cb_data */
	enum state state;
	int empty_sent; /* an empty challenge was sent for a missing initial response */
	int creds_set;
	int user_known;
	pl_sasl_creds creds;
	char *username;
	char *authzid;
	char *gs2_header;        /* SCRAM: as sent by the client, e.g. "n,," */
	char *client_first_bare; /* SCRAM */
	char *server_first;      /* SCRAM */
	char *nonce;             /* SCRAM: client nonce, then the full nonce */
	char *password;          /* PLAIN: until checked */
};

static char test_nonce[128];

/* ---- primitives ---- */

static pthread_once_t secret_once = PTHREAD_ONCE_INIT;
static unsigned char dummy_secret[32];

static void secret_init(void)
{
	if (sodium_init() < 0) abort();
	randombytes_buf(dummy_secret, sizeof dummy_secret);
}

static const EVP_MD *alg_md(enum pl_sasl_alg alg)
{
	return alg == PL_SASL_SHA1 ? EVP_sha1() : EVP_sha256();
}

static size_t alg_len(enum pl_sasl_alg alg)
{
	return alg == PL_SASL_SHA1 ? 20 : 32;
}

static void hmac(enum pl_sasl_alg alg, const unsigned char *key, size_t klen, const void *msg, size_t mlen,
                 unsigned char *out)
{
	unsigned int n = 0;
	if (!HMAC(alg_md(alg), key, (int)klen, msg, mlen, out, &n)) abort();
}

/* SASLprep of pw into buf (PREP_BUF bytes); flags are libidn stringprep flags. Returns 0 or -1 (too
 * long, prohibited characters, invalid UTF-8, empty after preparation). */
static int saslprep(const char *pw, int flags, char *buf)
{
	size_t len = strlen(pw);
	if (len == 0 || len >= PREP_BUF) return -1;
	memcpy(buf, pw, len + 1);
	if (stringprep(buf, PREP_BUF, flags, stringprep_saslprep) != STRINGPREP_OK || buf[0] == '\0') {
		sodium_memzero(buf, PREP_BUF);
		return -1;
	}
	return 0;
}

/* SaltedPassword, ClientKey, StoredKey, ServerKey (RFC 5802 section 3) for one hash. */
static void scram_keys(enum pl_sasl_alg alg, const char *prepped, const unsigned char *salt, size_t salt_len,
                       int iterations, pl_scram_keys *k)
{
	size_t hl = alg_len(alg);
	unsigned char salted[32], client_key[32];
	if (PKCS5_PBKDF2_HMAC(prepped, (int)strlen(prepped), salt, (int)salt_len, iterations, alg_md(alg),
	                      (int)hl, salted) != 1)
		abort();
	hmac(alg, salted, hl, "Client Key", 10, client_key);
	if (EVP_Digest(client_key, hl, k->stored_key, NULL, alg_md(alg), NULL) != 1) abort();
	hmac(alg, salted, hl, "Server Key", 10, k->server_key);
	k->key_len = hl;
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(client_key, sizeof client_key);
}

static int creds_usable(const pl_sasl_creds *c)
{
	return c->salt_len > 0 && c->salt_len <= sizeof c->salt && c->iterations > 0;
}

static const pl_scram_keys *creds_keys(const pl_sasl_creds *c, enum pl_sasl_alg alg)
{
	const pl_scram_keys *k = alg == PL_SASL_SHA1 ? &c->sha1 : &c->sha256;
	return k->key_len == alg_len(alg) ? k : NULL;
}

/* ---- credentials ---- */

int pl_sasl_derive_creds_salt(const char *password, const unsigned char *salt, size_t salt_len,
                              int iterations, pl_sasl_creds *out)
{
	char buf[PREP_BUF];
	memset(out, 0, sizeof *out);
	if (!password || !salt || salt_len == 0 || salt_len > sizeof out->salt || iterations < 1)
		return PL_EINVAL;
	if (saslprep(password, STRINGPREP_NO_UNASSIGNED, buf) != 0) return PL_SASL_E_BAD_PASSWORD;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	out->iterations = iterations;
	scram_keys(PL_SASL_SHA1, buf, salt, salt_len, iterations, &out->sha1);
	scram_keys(PL_SASL_SHA256, buf, salt, salt_len, iterations, &out->sha256);
	sodium_memzero(buf, sizeof buf);
	return 0;
}

int pl_sasl_derive_creds(const char *password, int iterations, pl_sasl_creds *out)
{
	unsigned char salt[16];
	pthread_once(&secret_once, secret_init);
	randombytes_buf(salt, sizeof salt);
	return pl_sasl_derive_creds_salt(password, salt, sizeof salt, iterations, out);
}

int pl_sasl_check_password(const pl_sasl_creds *creds, const char *password)
{
	char buf[PREP_BUF];
	enum pl_sasl_alg alg = creds_keys(creds, PL_SASL_SHA256) ? PL_SASL_SHA256 : PL_SASL_SHA1;
	const pl_scram_keys *want = creds_keys(creds, alg);
	pl_scram_keys got;
	if (!password || !want || !creds_usable(creds)) return 0;
	if (saslprep(password, 0, buf) != 0) return 0;
	scram_keys(alg, buf, creds->salt, creds->salt_len, creds->iterations, &got);
	sodium_memzero(buf, sizeof buf);
	int ok = CRYPTO_memcmp(got.stored_key, want->stored_key, want->key_len) == 0;
	OPENSSL_cleanse(&got, sizeof got);
	return ok;
}

/* Credentials for a user that does not exist: a salt that depends only on the name (so repeated
 * attempts look like a real account) and random keys that no proof can match. */
static void dummy_creds(const pl_sasl *s, pl_sasl_creds *c)
{
	unsigned char mac[32];
	const char *name = s->username ? s->username : "";
	pthread_once(&secret_once, secret_init);
	memset(c, 0, sizeof *c);
	hmac(PL_SASL_SHA256, dummy_secret, sizeof dummy_secret, name, strlen(name), mac);
	memcpy(c->salt, mac, 16);
	c->salt_len = 16;
	c->iterations = s->opts.iterations > 0 ? s->opts.iterations : DUMMY_ITERATIONS;
	randombytes_buf(c->sha1.stored_key, sizeof c->sha1.stored_key);
	randombytes_buf(c->sha1.server_key, sizeof c->sha1.server_key);
	c->sha1.key_len = 20;
	randombytes_buf(c->sha256.stored_key, sizeof c->sha256.stored_key);
	randombytes_buf(c->sha256.server_key, sizeof c->sha256.server_key);
	c->sha256.key_len = 32;
}

/* ---- mechanisms, lifecycle ---- */

static int mech_offered(const mech_info *m, const pl_sasl_opts *o)
{
	switch (m->kind) {
	case MECH_SCRAM:
		return !m->plus || (o->cb_data && o->cb_len > 0);
	case MECH_PLAIN:
		return o->allow_plain && o->tls;
	default:
		return o->allow_anonymous;
	}
}

void pl_sasl_mechanisms(const pl_sasl_opts *opts, char *buf, size_t n)
{
	size_t pos = 0;
	if (n == 0) return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++) {
		if (!mech_offered(&mechs[i], opts)) continue;
		size_t need = strlen(mechs[i].name) + (pos ? 1 : 0);
		if (pos + need + 1 > n) break;
		pos += (size_t)snprintf(buf + pos, n - pos, "%s%s", pos ? " " : "", mechs[i].name);
	}
}

int pl_sasl_start(const char *mech, const pl_sasl_opts *opts, pl_sasl **out)
{
	const mech_info *m = NULL;
	*out = NULL;
	for (size_t i = 0; mech && i < sizeof mechs / sizeof mechs[0]; i++)
		if (strcmp(mechs[i].name, mech) == 0) m = &mechs[i];
	if (!m) return PL_SASL_E_INVALID_MECH;
	if (m->kind == MECH_PLAIN && opts->allow_plain && !opts->tls) return PL_SASL_E_ENCRYPTION;
	if (!mech_offered(m, opts)) return PL_SASL_E_INVALID_MECH;
	pl_sasl *s = PL_NEW(pl_sasl);
	s->mech = m;
	s->opts = *opts;
	if (opts->cb_data && opts->cb_len > 0) {
		s->cb = pl_malloc(opts->cb_len);
		memcpy(s->cb, opts->cb_data, opts->cb_len);
		s->opts.cb_data = s->cb;
	} else {
		s->opts.cb_data = NULL;
		s->opts.cb_len = 0;
	}
	s->state = ST_START;
	*out = s;
	return 0;
}

static void free_secret_str(char *p)
{
	if (!p) return;
	sodium_memzero(p, strlen(p));
	pl_free(p);
}

void pl_sasl_free(pl_sasl *s)
{
	if (!s) return;
	pl_free(s->cb);
	pl_free(s->username);
	pl_free(s->authzid);
	pl_free(s->gs2_header);
	pl_free(s->client_first_bare);
	pl_free(s->server_first);
	pl_free(s->nonce);
	free_secret_str(s->password);
	sodium_memzero(&s->creds, sizeof s->creds);
	pl_free(s);
}

const char *pl_sasl_username(const pl_sasl *s)
{
	return s->username;
}

const char *pl_sasl_authzid(const pl_sasl *s)
{
	return s->authzid;
}

const char *pl_sasl_mech_name(const pl_sasl *s)
{
	return s->mech->name;
}

void pl_sasl_set_creds(pl_sasl *s, const pl_sasl_creds *creds)
{
	if (creds && creds_usable(creds) &&
	    (s->mech->kind != MECH_SCRAM || creds_keys(creds, s->mech->alg))) {
		s->creds = *creds;
		s->user_known = 1;
	} else {
		dummy_creds(s, &s->creds);
		s->user_known = 0;
	}
	s->creds_set = 1;
}

void pl_sasl_test_set_nonce(const char *server_nonce_part)
{
	if (!server_nonce_part) {
		test_nonce[0] = '\0';
		return;
	}
	snprintf(test_nonce, sizeof test_nonce, "%s", server_nonce_part);
}

/* ---- shared checks ---- */

/* Prepares the authentication identity; sets s->username. Returns 0 or PL_SASL_E_MALFORMED. */
static int set_username(pl_sasl *s, const char *raw)
{
	char *u = NULL;
	if (pl_jid_nodeprep(raw, &u) != 0) return PL_SASL_E_MALFORMED;
	s->username = u;
	return 0;
}

/* Accepts an empty authzid, or a bare JID whose localpart is s->username; sets s->authzid to the
 * prepared bare JID. Returns 0 or PL_SASL_E_AUTHZID. */
static int check_authzid(pl_sasl *s, const char *az)
{
	pl_jid j;
	if (!az || !*az) return 0;
	if (pl_jid_parse(az, &j) != 0) return PL_SASL_E_AUTHZID;
	int ok = j.node && !j.resource && strcmp(j.node, s->username) == 0;
	if (ok) s->authzid = pl_jid_bare_string(&j);
	pl_jid_clear(&j);
	return ok ? 0 : PL_SASL_E_AUTHZID;
}

static void set_output(const char *text, unsigned char **out, size_t *outlen)
{
	*outlen = strlen(text);
	*out = (unsigned char *)pl_strdup(text);
}

/* ---- SCRAM ---- */

/* Decodes a SCRAM saslname (",": "=2C", "=": "=3D") of len bytes into a new string. Returns NULL when
 * empty or badly escaped. */
static char *saslname_decode(const char *p, size_t len)
{
	if (len == 0) return NULL;
	char *out = pl_malloc(len + 1), *w = out;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '=') {
			*w++ = p[i];
			continue;
		}
		if (len - i >= 3 && p[i + 1] == '2' && p[i + 2] == 'C')
			*w++ = ',';
		else if (len - i >= 3 && p[i + 1] == '3' && p[i + 2] == 'D')
			*w++ = '=';
		else {
			pl_free(out);
			return NULL;
		}
		i += 2;
	}
	*w = '\0';
	return out;
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of the attribute value starting at p (up to ',' or the end). */
static size_t value_len(const char *p)
{
	const char *c = strchr(p, ',');
	return c ? (size_t)(c - p) : strlen(p);
}

/* RFC 5802 printable: %x21-2B / %x2D-7E. */
static int nonce_valid(const char *p, size_t len)
{
	if (len == 0) return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',') return 0;
	return 1;
}

/* Checks that p is empty or a list ",a=value,b=value" of extensions (ignored). Returns 1 when valid. */
static int extensions_valid(const char *p)
{
	while (*p) {
		if (p[0] != ',' || !is_alpha(p[1]) || p[2] != '=' || value_len(p + 3) == 0) return 0;
		p += 3 + value_len(p + 3);
	}
	return 1;
}

/* Parses client-first-message msg (NUL-terminated, no NUL inside). */
static int scram_client_first(pl_sasl *s, const char *msg)
{
	const char *p = msg;
	char cbflag;
	int rc;
	/* gs2-header: cbind-flag "," [authzid] "," */
	if ((p[0] == 'n' || p[0] == 'y') && p[1] == ',') {
		cbflag = p[0];
		p += 2;
	} else if (p[0] == 'p' && p[1] == '=') {
		size_t n = value_len(p + 2);
		if (n == 0 || p[2 + n] != ',') return PL_SASL_E_MALFORMED;
		for (size_t i = 0; i < n; i++) {
			char c = p[2 + i];
			if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '.' && c != '-')
				return PL_SASL_E_MALFORMED;
		}
		cbflag = (n == 12 && memcmp(p + 2, "tls-exporter", 12) == 0) ? 'P' : 'p';
		p += 2 + n + 1;
	} else {
		return PL_SASL_E_MALFORMED;
	}
	char *authzid = NULL;
	if (p[0] == 'a' && p[1] == '=') {
		size_t n = value_len(p + 2);
		authzid = saslname_decode(p + 2, n);
		if (!authzid) return PL_SASL_E_MALFORMED;
		p += 2 + n;
	}
	if (p[0] != ',') {
		pl_free(authzid);
		return PL_SASL_E_MALFORMED;
	}
	p++;
	s->gs2_header = pl_strndup(msg, (size_t)(p - msg));
	s->client_first_bare = pl_strdup(p);

	/* client-first-message-bare: [reserved-mext ","] username "," nonce ["," extensions] */
	rc = PL_SASL_E_MALFORMED;
	if (p[0] == 'm' && p[1] == '=') goto out;
	if (p[0] != 'n' || p[1] != '=') goto out;
	size_t ulen = value_len(p + 2);
	char *user = saslname_decode(p + 2, ulen);
	if (!user) goto out;
	p += 2 + ulen;
	if (p[0] != ',' || p[1] != 'r' || p[2] != '=') {
		pl_free(user);
		goto out;
	}
	size_t nlen = value_len(p + 3);
	if (!nonce_valid(p + 3, nlen) || !extensions_valid(p + 3 + nlen)) {
		pl_free(user);
		goto out;
	}
	s->nonce = pl_strndup(p + 3, nlen);
	rc = set_username(s, user);
	pl_free(user);
	if (rc != 0) goto out;

	/* channel binding policy */
	rc = PL_SASL_E_NOT_AUTHORIZED;
	/* -PLUS needs p=tls-exporter, except "n": a client that cannot bind (e.g. no access to the TLS
	 * exporter) and says so; its gs2 header is covered by the proof, and Prosody accepts it the same
	 * way, which common clients (slixmpp) rely on. The exchange then is an unbound SCRAM. */
	if (s->mech->plus && cbflag != 'P' && cbflag != 'n') goto out;
	if (!s->mech->plus && (cbflag == 'p' || cbflag == 'P')) goto out; /* binding on a plain mech */
	if (!s->mech->plus && cbflag == 'y' && s->opts.cb_data) goto out; /* downgrade: -PLUS was offered */
	rc = check_authzid(s, authzid);
out:
	pl_free(authzid);
	return rc == 0 ? PL_SASL_NEED_CREDS : rc;
}

/* Builds server-first-message once the credentials are known. */
static int scram_server_first(pl_sasl *s, unsigned char **out, size_t *outlen)
{
	char *snonce;
	if (test_nonce[0]) {
		snonce = pl_strdup(test_nonce);
	} else {
		unsigned char rnd[NONCE_RAND];
		pthread_once(&secret_once, secret_init);
		randombytes_buf(rnd, sizeof rnd);
		snonce = pl_base64_encode(rnd, sizeof rnd);
	}
	size_t n = strlen(s->nonce) + strlen(snonce) + 1;
	char *full = pl_malloc(n);
	snprintf(full, n, "%s%s", s->nonce, snonce);
	pl_free(snonce);
	pl_free(s->nonce);
	s->nonce = full;

	char *salt = pl_base64_encode(s->creds.salt, s->creds.salt_len);
	n = strlen(full) + strlen(salt) + 32;
	s->server_first = pl_malloc(n);
	snprintf(s->server_first, n, "r=%s,s=%s,i=%d", full, salt, s->creds.iterations);
	pl_free(salt);
	set_output(s->server_first, out, outlen);
	return PL_SASL_CONTINUE;
}

/* Checks the decoded c= attribute against the expected gs2 header (|| channel binding data). */
static int scram_check_binding(const pl_sasl *s, const unsigned char *c, size_t clen)
{
	size_t hl = strlen(s->gs2_header);
	size_t cbl = s->mech->plus && strncmp(s->gs2_header, "p=", 2) == 0 ? s->opts.cb_len : 0;
	if (clen != hl + cbl) return 0;
	int ok = CRYPTO_memcmp(c, s->gs2_header, hl) == 0;
	if (cbl) ok &= CRYPTO_memcmp(c + hl, s->opts.cb_data, cbl) == 0;
	return ok;
}

/* Parses and verifies client-final-message msg; writes server-final on success. */
static int scram_client_final(pl_sasl *s, const char *msg, unsigned char **out, size_t *outlen)
{
	enum pl_sasl_alg alg = s->mech->alg;
	size_t hl = alg_len(alg);
	const pl_scram_keys *keys = creds_keys(&s->creds, alg);
	const char *last = strrchr(msg, ',');
	if (!keys || !last || last[1] != 'p' || last[2] != '=') return PL_SASL_E_MALFORMED;
	size_t wlen = (size_t)(last - msg); /* client-final-message-without-proof */

	/* "c=" cbind-input "," "r=" nonce ["," extensions] */
	if (msg[0] != 'c' || msg[1] != '=') return PL_SASL_E_MALFORMED;
	size_t clen = value_len(msg + 2);
	const char *r = msg + 2 + clen;
	if (r[0] != ',' || r[1] != 'r' || r[2] != '=') return PL_SASL_E_MALFORMED;
	size_t nlen = value_len(r + 3);
	const char *ext = r + 3 + nlen;
	if (!nonce_valid(r + 3, nlen)) return PL_SASL_E_MALFORMED;
	char *exts = pl_strndup(ext, (size_t)(last - ext));
	int exts_ok = extensions_valid(exts);
	pl_free(exts);
	if (!exts_ok) return PL_SASL_E_MALFORMED;

	unsigned char *cbind = NULL, *proof = NULL;
	size_t cblen = 0, prooflen = 0;
	int rc = PL_SASL_E_MALFORMED;
	if (pl_base64_decode(msg + 2, clen, &cbind, &cblen) != 0 || clen == 0) goto done;
	if (pl_base64_decode(last + 3, strlen(last + 3), &proof, &prooflen) != 0 || prooflen != hl) goto done;
	if (nlen != strlen(s->nonce) || CRYPTO_memcmp(r + 3, s->nonce, nlen) != 0) goto done;
	rc = PL_SASL_E_NOT_AUTHORIZED;
	if (!scram_check_binding(s, cbind, cblen)) goto done;

	/* AuthMessage = client-first-message-bare "," server-first-message "," client-final-without-proof */
	size_t alen = strlen(s->client_first_bare) + strlen(s->server_first) + wlen + 3;
	char *am = pl_malloc(alen);
	snprintf(am, alen, "%s,%s,%.*s", s->client_first_bare, s->server_first, (int)wlen, msg);
	unsigned char sig[32], client_key[32], stored[32], server_sig[32];
	hmac(alg, keys->stored_key, hl, am, strlen(am), sig);
	for (size_t i = 0; i < hl; i++)
		client_key[i] = proof[i] ^ sig[i];
	if (EVP_Digest(client_key, hl, stored, NULL, alg_md(alg), NULL) != 1) abort();
	int ok = CRYPTO_memcmp(stored, keys->stored_key, hl) == 0;
	hmac(alg, keys->server_key, hl, am, strlen(am), server_sig);
	pl_free(am);
	OPENSSL_cleanse(client_key, sizeof client_key);
	if (ok && s->user_known) {
		char *v = pl_base64_encode(server_sig, hl);
		size_t n = strlen(v) + 3;
		char *final = pl_malloc(n);
		snprintf(final, n, "v=%s", v);
		pl_free(v);
		*outlen = strlen(final);
		*out = (unsigned char *) final;
		rc = PL_SASL_SUCCESS;
	}
done:
	pl_free(cbind);
	pl_free(proof);
	return rc;
}

static int scram_step(pl_sasl *s, const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
	if (s->state == ST_SCRAM_CREDS) {
		if (inlen || !s->creds_set) return PL_SASL_E_STATE;
		s->state = ST_SCRAM_FINAL;
		return scram_server_first(s, out, outlen);
	}
	if (inlen == 0 || inlen > MSG_MAX || memchr(in, '\0', inlen)) return PL_SASL_E_MALFORMED;
	char *msg = pl_strndup((const char *)in, inlen);
	int rc;
	if (s->state == ST_START) {
		rc = scram_client_first(s, msg);
		if (rc == PL_SASL_NEED_CREDS) s->state = ST_SCRAM_CREDS;
	} else {
		rc = scram_client_final(s, msg, out, outlen);
	}
	pl_free(msg);
	return rc;
}

/* ---- PLAIN ---- */

static int plain_step(pl_sasl *s, const unsigned char *in, size_t inlen)
{
	if (s->state == ST_PLAIN_CREDS) {
		if (inlen || !s->creds_set) return PL_SASL_E_STATE;
		/* the dummy credentials cost the same derivation as a real check */
		int ok = pl_sasl_check_password(&s->creds, s->password);
		free_secret_str(s->password);
		s->password = NULL;
		return ok && s->user_known ? PL_SASL_SUCCESS : PL_SASL_E_NOT_AUTHORIZED;
	}
	if (inlen == 0 || inlen > MSG_MAX) return PL_SASL_E_MALFORMED;
	/* authzid NUL authcid NUL passwd */
	const unsigned char *n1 = memchr(in, '\0', inlen);
	if (!n1) return PL_SASL_E_MALFORMED;
	const unsigned char *n2 = memchr(n1 + 1, '\0', inlen - (size_t)(n1 + 1 - in));
	if (!n2 || memchr(n2 + 1, '\0', inlen - (size_t)(n2 + 1 - in))) return PL_SASL_E_MALFORMED;
	size_t azlen = (size_t)(n1 - in), aclen = (size_t)(n2 - n1 - 1),
	       pwlen = inlen - (size_t)(n2 + 1 - in);
	if (aclen == 0 || pwlen == 0 || azlen > PLAIN_PART_MAX || aclen > PLAIN_PART_MAX ||
	    pwlen > PLAIN_PART_MAX)
		return PL_SASL_E_MALFORMED;
	char *authcid = pl_strndup((const char *)n1 + 1, aclen);
	int rc = set_username(s, authcid);
	pl_free(authcid);
	if (rc != 0) return rc;
	char *authzid = pl_strndup((const char *)in, azlen);
	rc = check_authzid(s, authzid);
	pl_free(authzid);
	if (rc != 0) return rc;
	s->password = pl_strndup((const char *)n2 + 1, pwlen);
	s->state = ST_PLAIN_CREDS;
	return PL_SASL_NEED_CREDS;
}

/* ---- step ---- */

int pl_sasl_step(pl_sasl *s, const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
	int rc;
	*out = NULL;
	*outlen = 0;
	if (!in) inlen = 0;
	if (s->state == ST_DONE) return PL_SASL_E_STATE;
	if (s->state == ST_START && inlen == 0 && s->mech->kind != MECH_ANONYMOUS) {
		/* no initial response: send an empty challenge, once */
		if (s->empty_sent) {
			s->state = ST_DONE;
			return PL_SASL_E_MALFORMED;
		}
		s->empty_sent = 1;
		return PL_SASL_CONTINUE;
	}
	switch (s->mech->kind) {
	case MECH_SCRAM:
		rc = scram_step(s, in, inlen, out, outlen);
		break;
	case MECH_PLAIN:
		rc = plain_step(s, in, inlen);
		break;
	default:
		rc = PL_SASL_SUCCESS;
		break; /* ANONYMOUS: the trace data is not used */
	}
	if (rc < 0 || rc == PL_SASL_SUCCESS) s->state = ST_DONE;
	if (rc < 0 && *out) {
		pl_free(*out);
		*out = NULL;
		*outlen = 0;
	}
	return rc;
}
