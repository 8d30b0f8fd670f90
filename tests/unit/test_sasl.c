/* test_sasl.c: unit tests for src/xmpp/sasl.c and base64.c: the RFC 5802 and RFC 7677 SCRAM test vectors
 * byte for byte, full SCRAM exchanges against an independent client written here with OpenSSL (wrong
 * password, unknown user, authzid), malformed client messages, -PLUS with tls-exporter channel binding
 * (right and wrong data, the "y" downgrade), PLAIN in and out of TLS with and without authzid, ANONYMOUS,
 * the state machine, credential derivation with SASLprep, base64 and the mechanism lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "xmpp/sasl.h"

/* ---- an independent SCRAM client ---- */

static void b64(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static size_t unb64(const char *in, unsigned char *out)
{
	size_t len = strlen(in);
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	assert_true(n >= 0);
	while (len > 0 && in[len - 1] == '=')
		len--, n--;
	return (size_t)n;
}

/* Computes the client proof and the expected server signature (base64) for AuthMessage am. */
static void client_proof(enum pl_sasl_alg alg, const char *password, const unsigned char *salt,
                         size_t saltlen, int iter, const char *am, char *proof_b64, char *v_b64)
{
	const EVP_MD *md = alg == PL_SASL_SHA1 ? EVP_sha1() : EVP_sha256();
	int hl = EVP_MD_get_size(md);
	unsigned char sp[32], ck[32], sk[32], stored[32], sig[32], proof[32], ssig[32];
	unsigned int n;
	assert_int_equal(
	    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, iter, md, hl, sp), 1);
	HMAC(md, sp, hl, (const unsigned char *)"Client Key", 10, ck, &n);
	HMAC(md, sp, hl, (const unsigned char *)"Server Key", 10, sk, &n);
	EVP_Digest(ck, (size_t)hl, stored, NULL, md, NULL);
	HMAC(md, stored, hl, (const unsigned char *)am, strlen(am), sig, &n);
	for (int i = 0; i < hl; i++)
		proof[i] = ck[i] ^ sig[i];
	HMAC(md, sk, hl, (const unsigned char *)am, strlen(am), ssig, &n);
	b64(proof, (size_t)hl, proof_b64);
	b64(ssig, (size_t)hl, v_b64);
}

typedef struct scram_case {
	const char *mech;
	pl_sasl_opts opts;
	const pl_sasl_creds *creds; /* NULL: unknown user */
	const char *gs2;            /* gs2 header sent in client-first, e.g. "n,," */
	const char *bare;           /* client-first-message-bare */
	const char *password;       /* the client's password */
	const unsigned char *cb;    /* channel binding data the client puts in c= (after gs2) */
	size_t cb_len;
	const char *c_gs2; /* header the client puts in c= (NULL: same as gs2) */
	/* results */
	int rc_first, rc_final;
	char server_first[256];
	char server_final[128];
	char expected_v[128];
	char username[64];
	char authzid[64];
} scram_case;

/* Runs one exchange the way stream.c drives it. Stops early when a step fails. */
static void scram_run(scram_case *t)
{
	pl_sasl *s;
	unsigned char *out;
	size_t outlen;
	char msg[1024];
	assert_int_equal(pl_sasl_start(t->mech, &t->opts, &s), 0);
	assert_string_equal(pl_sasl_mech_name(s), t->mech);
	snprintf(msg, sizeof msg, "%s%s", t->gs2, t->bare);
	t->rc_first = pl_sasl_step(s, (const unsigned char *)msg, strlen(msg), &out, &outlen);
	assert_null(out);
	if (t->rc_first != PL_SASL_NEED_CREDS) goto end;
	snprintf(t->username, sizeof t->username, "%s", pl_sasl_username(s));
	pl_sasl_set_creds(s, t->creds);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_CONTINUE);
	assert_true(outlen > 0 && outlen < sizeof t->server_first);
	memcpy(t->server_first, out, outlen);
	t->server_first[outlen] = '\0';
	assert_int_equal(strlen(t->server_first), outlen);
	free(out);

	/* parse r=, s=, i= */
	char nonce[256], salt64[128];
	int iter = 0;
	assert_int_equal(sscanf(t->server_first, "r=%255[^,],s=%127[^,],i=%d", nonce, salt64, &iter), 3);
	unsigned char salt[96];
	size_t saltlen = unb64(salt64, salt);
	unsigned char cbin[256];
	const char *cg = t->c_gs2 ? t->c_gs2 : t->gs2;
	size_t cl = strlen(cg);
	memcpy(cbin, cg, cl);
	if (t->cb_len) memcpy(cbin + cl, t->cb, t->cb_len);
	char c64[400];
	b64(cbin, cl + t->cb_len, c64);
	char without[700], am[1400], proof[64];
	snprintf(without, sizeof without, "c=%s,r=%s", c64, nonce);
	snprintf(am, sizeof am, "%s,%s,%s", t->bare, t->server_first, without);
	enum pl_sasl_alg alg = strstr(t->mech, "SHA-1") ? PL_SASL_SHA1 : PL_SASL_SHA256;
	client_proof(alg, t->password, salt, saltlen, iter, am, proof, t->expected_v);
	snprintf(msg, sizeof msg, "%s,p=%s", without, proof);
	t->rc_final = pl_sasl_step(s, (const unsigned char *)msg, strlen(msg), &out, &outlen);
	t->server_final[0] = '\0';
	if (out) {
		assert_true(outlen < sizeof t->server_final);
		memcpy(t->server_final, out, outlen);
		t->server_final[outlen] = '\0';
		free(out);
	}
	if (t->rc_final != PL_SASL_SUCCESS) assert_int_equal(outlen, 0);
	if (pl_sasl_authzid(s)) snprintf(t->authzid, sizeof t->authzid, "%s", pl_sasl_authzid(s));
	/* nothing after the end */
	assert_int_equal(pl_sasl_step(s, (const unsigned char *)"x", 1, &out, &outlen), PL_SASL_E_STATE);
end:
	pl_sasl_free(s);
}

static pl_sasl_creds pencil; /* "pencil", RFC 5802 salt, 4096 iterations */
static const unsigned char cb32[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                       17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static int setup(void **state)
{
	(void)state;
	unsigned char salt[32];
	size_t n = unb64("QSXCR+Q6sek8bf92", salt);
	assert_int_equal(n, 12);
	assert_int_equal(pl_sasl_derive_creds_salt("pencil", salt, n, 4096, &pencil), 0);
	return 0;
}

static void case_init(scram_case *t, const char *mech)
{
	memset(t, 0, sizeof *t);
	t->mech = mech;
	t->creds = &pencil;
	t->gs2 = "n,,";
	t->bare = "n=user,r=clientnonce123";
	t->password = "pencil";
	t->opts.tls = 1;
}

/* ---- RFC vectors ---- */

/* Feeds the exact messages of an RFC example and compares the server's. */
static void rfc_vector(const char *mech, const char *salt64, const char *snonce, const char *client_first,
                       const char *server_first, const char *client_final, const char *server_final)
{
	unsigned char salt[32];
	size_t n = unb64(salt64, salt);
	pl_sasl_creds c;
	assert_int_equal(pl_sasl_derive_creds_salt("pencil", salt, n, 4096, &c), 0);
	pl_sasl_opts o = {0};
	pl_sasl *s;
	unsigned char *out;
	size_t outlen;
	pl_sasl_test_set_nonce(snonce);
	assert_int_equal(pl_sasl_start(mech, &o, &s), 0);
	assert_int_equal(
	    pl_sasl_step(s, (const unsigned char *)client_first, strlen(client_first), &out, &outlen),
	    PL_SASL_NEED_CREDS);
	assert_string_equal(pl_sasl_username(s), "user");
	assert_null(pl_sasl_authzid(s));
	pl_sasl_set_creds(s, &c);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_CONTINUE);
	assert_int_equal(outlen, strlen(server_first));
	assert_memory_equal(out, server_first, outlen);
	free(out);
	assert_int_equal(
	    pl_sasl_step(s, (const unsigned char *)client_final, strlen(client_final), &out, &outlen),
	    PL_SASL_SUCCESS);
	assert_int_equal(outlen, strlen(server_final));
	assert_memory_equal(out, server_final, outlen);
	free(out);
	pl_sasl_free(s);
	pl_sasl_test_set_nonce(NULL);
}

static void test_rfc5802_vector(void **state)
{
	(void)state;
	rfc_vector("SCRAM-SHA-1", "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j",
	           "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	           "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	           "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	           "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void test_rfc7677_vector(void **state)
{
	(void)state;
	rfc_vector("SCRAM-SHA-256", "W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	           "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	           "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	           "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	           "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	           "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* The test client itself reproduces the RFC 7677 proof, so the exchanges below are checked against a
 * known-good client. */
static void test_client_matches_rfc(void **state)
{
	(void)state;
	unsigned char salt[32];
	size_t n = unb64("W22ZaJ0SNY7soEsUEjb6gQ==", salt);
	char proof[64], v[64];
	client_proof(PL_SASL_SHA256, "pencil", salt, n, 4096,
	             "n=user,r=rOprNGfwEbeRWgbNEkqO,"
	             "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
	             "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	             proof, v);
	assert_string_equal(proof, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
	assert_string_equal(v, "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* ---- SCRAM exchanges ---- */

static void test_scram_success_and_random_nonce(void **state)
{
	(void)state;
	const char *mechs[] = {"SCRAM-SHA-1", "SCRAM-SHA-256"};
	for (int i = 0; i < 2; i++) {
		scram_case t;
		case_init(&t, mechs[i]);
		t.bare = "n=User,r=abc,x=ext"; /* nodeprep'd name, an ignored extension */
		scram_run(&t);
		assert_int_equal(t.rc_first, PL_SASL_NEED_CREDS);
		assert_string_equal(t.username, "user");
		assert_int_equal(t.rc_final, PL_SASL_SUCCESS);
		char want[160];
		snprintf(want, sizeof want, "v=%s", t.expected_v);
		assert_string_equal(t.server_final, want);
		/* nonce: client part + 32 base64 chars from 24 random bytes; salt and count from the creds */
		char nonce[128];
		assert_int_equal(sscanf(t.server_first, "r=%127[^,]", nonce), 1);
		assert_int_equal(strncmp(nonce, "abc", 3), 0);
		assert_int_equal(strlen(nonce), 3 + 32);
		assert_non_null(strstr(t.server_first, ",s=QSXCR+Q6sek8bf92,i=4096"));
		scram_case u;
		case_init(&u, mechs[i]);
		u.bare = "n=User,r=abc,x=ext";
		scram_run(&u);
		assert_string_not_equal(u.server_first, t.server_first);
	}
}

static void test_scram_wrong_password(void **state)
{
	(void)state;
	scram_case t;
	case_init(&t, "SCRAM-SHA-256");
	t.password = "pencil2";
	scram_run(&t);
	assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
	assert_string_equal(t.server_final, "");
	case_init(&t, "SCRAM-SHA-1");
	t.password = "Pencil";
	scram_run(&t);
	assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
}

static void test_scram_unknown_user(void **state)
{
	(void)state;
	scram_case t, u, v;
	case_init(&t, "SCRAM-SHA-256");
	t.creds = NULL;
	t.bare = "n=ghost,r=n1";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_NEED_CREDS);
	assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
	/* the dummy salt is stable per name (a retry looks like a real account) and differs between names */
	case_init(&u, "SCRAM-SHA-256");
	u.creds = NULL;
	u.bare = "n=ghost,r=n1";
	scram_run(&u);
	case_init(&v, "SCRAM-SHA-256");
	v.creds = NULL;
	v.bare = "n=phantom,r=n1";
	scram_run(&v);
	const char *st = strstr(t.server_first, ",s="), *su = strstr(u.server_first, ",s="),
	           *sv = strstr(v.server_first, ",s=");
	assert_non_null(st);
	assert_string_equal(st, su);
	assert_string_not_equal(st, sv);
	assert_non_null(strstr(t.server_first, ",i=4096"));
	/* opts.iterations sets the dummy count */
	case_init(&t, "SCRAM-SHA-1");
	t.creds = NULL;
	t.opts.iterations = 10000;
	scram_run(&t);
	assert_non_null(strstr(t.server_first, ",i=10000"));
	assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
	/* creds without the keys for this hash count as unknown */
	pl_sasl_creds partial = pencil;
	partial.sha256.key_len = 0;
	case_init(&t, "SCRAM-SHA-256");
	t.creds = &partial;
	scram_run(&t);
	assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
}

static void test_scram_usernames(void **state)
{
	(void)state;
	scram_case t;
	case_init(&t, "SCRAM-SHA-256");
	t.bare = "n=a=2Cb=3Dc,r=x";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_NEED_CREDS);
	assert_string_equal(t.username, "a,b=c");
	const char *bad[] = {"n=a=2cb,r=x", "n=a=,r=x",  "n=a=3,r=x", "n=a=4Ab,r=x",
	                     "n=,r=x",      "n=a b,r=x", "n=a@b,r=x", "n=\xff,r=x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		case_init(&t, "SCRAM-SHA-256");
		t.bare = bad[i];
		scram_run(&t);
		if (t.rc_first != PL_SASL_E_MALFORMED) fail_msg("accepted '%s' (%d)", bad[i], t.rc_first);
	}
}

/* Sends one client-first message; returns the step result. */
static int first_rc(const char *mech, const pl_sasl_opts *o, const char *msg, size_t len)
{
	pl_sasl *s;
	unsigned char *out;
	size_t outlen;
	assert_int_equal(pl_sasl_start(mech, o, &s), 0);
	int rc = pl_sasl_step(s, (const unsigned char *)msg, len, &out, &outlen);
	assert_null(out);
	assert_int_equal(outlen, 0);
	if (rc < 0)
		assert_int_equal(pl_sasl_step(s, (const unsigned char *)msg, len, &out, &outlen),
		                 PL_SASL_E_STATE);
	pl_sasl_free(s);
	return rc;
}

static void test_scram_malformed_first(void **state)
{
	(void)state;
	pl_sasl_opts o = {0};
	const char *bad[] = {
	    "x,,n=user,r=abc",       /* bad cbind flag */
	    "n,n=user,r=abc",        /* no authzid field */
	    "nn,,n=user,r=abc",      /* bad flag */
	    "n,,r=abc",              /* missing n= */
	    "n,,n=user",             /* missing r= */
	    "n,,n=user,r=",          /* empty nonce */
	    "n,,n=user,r=a b",       /* nonce not printable */
	    "n,,m=ext,n=user,r=abc", /* reserved mandatory extension */
	    "n,,n=user,r=abc,",      /* empty extension */
	    "n,,n=user,r=abc,1=x",   /* extension name not a letter */
	    "n,,n=user,r=abc,x",     /* extension without value */
	    "n,,user,r=abc",         /* no attribute name */
	    "n,b=x,n=user,r=abc",    /* not an authzid */
	    "n,a=,n=user,r=abc",     /* empty authzid */
	    "p=,,n=user,r=abc",      /* empty cb name */
	    "p=tls exporter,,n=user,r=abc",
	    ",,n=user,r=abc",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = first_rc("SCRAM-SHA-256", &o, bad[i], strlen(bad[i]));
		if (rc != PL_SASL_E_MALFORMED) fail_msg("'%s' -> %d", bad[i], rc);
	}
	/* NUL inside */
	assert_int_equal(first_rc("SCRAM-SHA-1", &o, "n,,n=user\0x,r=abc", 17), PL_SASL_E_MALFORMED);
	/* oversized */
	char big[5000];
	memset(big, 'a', sizeof big);
	memcpy(big, "n,,n=user,r=", 12);
	assert_int_equal(first_rc("SCRAM-SHA-1", &o, big, sizeof big), PL_SASL_E_MALFORMED);
	/* sanity: the well-formed one goes on */
	assert_int_equal(first_rc("SCRAM-SHA-1", &o, "n,,n=user,r=abc", 15), PL_SASL_NEED_CREDS);
}

/* Runs up to the server-first message, then sends final; returns the result. */
static int final_rc(const char *final_fmt)
{
	pl_sasl_opts o = {0};
	pl_sasl *s;
	unsigned char *out;
	size_t outlen;
	pl_sasl_test_set_nonce("SRV");
	assert_int_equal(pl_sasl_start("SCRAM-SHA-1", &o, &s), 0);
	assert_int_equal(pl_sasl_step(s, (const unsigned char *)"n,,n=user,r=fyko", 16, &out, &outlen),
	                 PL_SASL_NEED_CREDS);
	pl_sasl_set_creds(s, &pencil);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_CONTINUE);
	assert_memory_equal(out, "r=fykoSRV,", 10);
	free(out);
	int rc = pl_sasl_step(s, (const unsigned char *)final_fmt, strlen(final_fmt), &out, &outlen);
	assert_null(out);
	pl_sasl_free(s);
	pl_sasl_test_set_nonce(NULL);
	return rc;
}

static void test_scram_malformed_final(void **state)
{
	(void)state;
	const char *proof = "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="; /* 20 bytes, wrong for this exchange */
	char m[256];
	struct {
		const char *fmt;
		int rc;
	} cases[] = {
	    {"c=biws,r=fykoSRV", PL_SASL_E_MALFORMED},               /* no proof */
	    {"r=fykoSRV,%s", PL_SASL_E_MALFORMED},                   /* no c= */
	    {"c=biws,%s", PL_SASL_E_MALFORMED},                      /* no r= */
	    {"c=biws,r=fykoSRV,%s,x=y", PL_SASL_E_MALFORMED},        /* proof not last */
	    {"c=b!ws,r=fykoSRV,%s", PL_SASL_E_MALFORMED},            /* bad base64 in c= */
	    {"c=biw,r=fykoSRV,%s", PL_SASL_E_MALFORMED},             /* bad base64 length */
	    {"c=,r=fykoSRV,%s", PL_SASL_E_MALFORMED},                /* empty c= */
	    {"c=biws,r=fykoSRX,%s", PL_SASL_E_MALFORMED},            /* wrong nonce */
	    {"c=biws,r=fyko,%s", PL_SASL_E_MALFORMED},               /* client part only */
	    {"c=biws,r=fykoSRVx,%s", PL_SASL_E_MALFORMED},           /* longer nonce */
	    {"c=biws,r=fykoSRV,p=dGVzdA==", PL_SASL_E_MALFORMED},    /* proof of the wrong length */
	    {"c=biws,r=fykoSRV,p=***", PL_SASL_E_MALFORMED},         /* proof not base64 */
	    {"c=biws,r=fykoSRV,1=x,%s", PL_SASL_E_MALFORMED},        /* bad extension */
	    {"c=eSws,r=fykoSRV,%s", PL_SASL_E_NOT_AUTHORIZED},       /* c= is "y,," instead of "n,," */
	    {"c=biws,r=fykoSRV,%s", PL_SASL_E_NOT_AUTHORIZED},       /* well-formed, wrong proof */
	    {"c=biws,r=fykoSRV,x=ext,%s", PL_SASL_E_NOT_AUTHORIZED}, /* extension ignored */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(m, sizeof m, cases[i].fmt, proof);
		int rc = final_rc(m);
		if (rc != cases[i].rc) fail_msg("'%s' -> %d, want %d", m, rc, cases[i].rc);
	}
}

static void test_scram_plus(void **state)
{
	(void)state;
	const char *mechs[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"};
	for (int i = 0; i < 2; i++) {
		scram_case t;
		case_init(&t, mechs[i]);
		t.opts.cb_data = cb32;
		t.opts.cb_len = sizeof cb32;
		t.gs2 = "p=tls-exporter,,";
		t.cb = cb32;
		t.cb_len = sizeof cb32;
		scram_run(&t);
		assert_int_equal(t.rc_first, PL_SASL_NEED_CREDS);
		assert_int_equal(t.rc_final, PL_SASL_SUCCESS);

		/* another connection's exporter (MITM) */
		unsigned char other[32];
		memcpy(other, cb32, 32);
		other[31] ^= 1;
		t.cb = other;
		scram_run(&t);
		assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
		/* data missing or truncated */
		t.cb_len = 0;
		scram_run(&t);
		assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
		t.cb = cb32;
		t.cb_len = 31;
		scram_run(&t);
		assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
		/* right data after a different header */
		t.cb_len = 32;
		t.c_gs2 = "p=tls-exporter,a=user@x,";
		scram_run(&t);
		assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
		t.c_gs2 = NULL;

		/* "n" on -PLUS: a client that cannot bind says so; accepted unbound (c=biws), as Prosody does */
		t.gs2 = "n,,";
		t.cb = NULL;
		t.cb_len = 0;
		scram_run(&t);
		assert_int_equal(t.rc_first, PL_SASL_NEED_CREDS);
		assert_int_equal(t.rc_final, PL_SASL_SUCCESS);
		/* ...but then it must not claim binding data in c= */
		t.cb = cb32;
		t.cb_len = 32;
		scram_run(&t);
		assert_int_equal(t.rc_final, PL_SASL_E_NOT_AUTHORIZED);
		/* -PLUS otherwise needs p=tls-exporter */
		t.gs2 = "y,,";
		scram_run(&t);
		assert_int_equal(t.rc_first, PL_SASL_E_NOT_AUTHORIZED);
		t.gs2 = "p=tls-unique,,";
		scram_run(&t);
		assert_int_equal(t.rc_first, PL_SASL_E_NOT_AUTHORIZED);
	}
	/* no exporter: no -PLUS */
	pl_sasl_opts o = {.tls = 1};
	pl_sasl *s = (pl_sasl *)1;
	assert_int_equal(pl_sasl_start("SCRAM-SHA-256-PLUS", &o, &s), PL_SASL_E_INVALID_MECH);
	assert_null(s);
	assert_int_equal(pl_sasl_start("SCRAM-SHA-1-PLUS", &o, &s), PL_SASL_E_INVALID_MECH);
}

/* opts.cb_data is copied: the caller's buffer may go away after start. */
static void test_scram_plus_copies_cb(void **state)
{
	(void)state;
	unsigned char *cb = malloc(32);
	memcpy(cb, cb32, 32);
	scram_case t;
	case_init(&t, "SCRAM-SHA-256-PLUS");
	t.opts.cb_data = cb;
	t.opts.cb_len = 32;
	t.gs2 = "p=tls-exporter,,";
	t.cb = cb32;
	t.cb_len = 32;
	pl_sasl *s;
	assert_int_equal(pl_sasl_start(t.mech, &t.opts, &s), 0);
	memset(cb, 0, 32);
	free(cb);
	pl_sasl_free(s);
	t.opts.cb_data = cb32;
	scram_run(&t);
	assert_int_equal(t.rc_final, PL_SASL_SUCCESS);
}

static void test_scram_downgrade(void **state)
{
	(void)state;
	scram_case t;
	/* the server offered -PLUS (it has the exporter): "y" means someone removed it */
	case_init(&t, "SCRAM-SHA-256");
	t.opts.cb_data = cb32;
	t.opts.cb_len = 32;
	t.gs2 = "y,,";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_E_NOT_AUTHORIZED);
	/* "n": the client does not do channel binding: fine */
	t.gs2 = "n,,";
	scram_run(&t);
	assert_int_equal(t.rc_final, PL_SASL_SUCCESS);
	/* "p" on a mechanism without -PLUS */
	t.gs2 = "p=tls-exporter,,";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_E_NOT_AUTHORIZED);
	/* no exporter (no -PLUS offered): "y" is fine */
	case_init(&t, "SCRAM-SHA-1");
	t.gs2 = "y,,";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_NEED_CREDS);
	assert_int_equal(t.rc_final, PL_SASL_SUCCESS);
}

static void test_scram_authzid(void **state)
{
	(void)state;
	scram_case t;
	case_init(&t, "SCRAM-SHA-256");
	t.gs2 = "n,a=User@Example.COM,";
	scram_run(&t);
	assert_int_equal(t.rc_final, PL_SASL_SUCCESS);
	assert_string_equal(t.authzid, "user@example.com");
	case_init(&t, "SCRAM-SHA-256");
	t.gs2 = "n,a=other@example.com,";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_E_AUTHZID);
	case_init(&t, "SCRAM-SHA-256");
	t.gs2 = "n,a=example.com,";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_E_AUTHZID);
	case_init(&t, "SCRAM-SHA-256");
	t.gs2 = "n,a=user@example.com/res,";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_E_AUTHZID);
	/* escaped '=' in the authzid is undone before the check */
	case_init(&t, "SCRAM-SHA-256");
	t.gs2 = "n,a=u=3Dv@d,";
	t.bare = "n=u=3Dv,r=x";
	scram_run(&t);
	assert_int_equal(t.rc_first, PL_SASL_NEED_CREDS);
	assert_string_equal(t.authzid, "u=v@d");
}

static void test_scram_states(void **state)
{
	(void)state;
	pl_sasl_opts o = {0};
	pl_sasl *s;
	unsigned char *out;
	size_t outlen;
	/* no initial response: one empty challenge, then the client-first */
	assert_int_equal(pl_sasl_start("SCRAM-SHA-1", &o, &s), 0);
	assert_null(pl_sasl_username(s));
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_CONTINUE);
	assert_null(out);
	assert_int_equal(outlen, 0);
	assert_int_equal(pl_sasl_step(s, (const unsigned char *)"n,,n=user,r=a", 13, &out, &outlen),
	                 PL_SASL_NEED_CREDS);
	/* resuming before the credentials are set, or with data, is a state error */
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_E_STATE);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_E_STATE);
	pl_sasl_free(s);

	assert_int_equal(pl_sasl_start("SCRAM-SHA-1", &o, &s), 0);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_CONTINUE);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_E_MALFORMED);
	pl_sasl_free(s);

	assert_int_equal(pl_sasl_start("SCRAM-SHA-1", &o, &s), 0);
	assert_int_equal(pl_sasl_step(s, (const unsigned char *)"n,,n=user,r=a", 13, &out, &outlen),
	                 PL_SASL_NEED_CREDS);
	pl_sasl_set_creds(s, &pencil);
	assert_int_equal(pl_sasl_step(s, (const unsigned char *)"x", 1, &out, &outlen), PL_SASL_E_STATE);
	pl_sasl_free(s);

	/* empty client-final */
	assert_int_equal(pl_sasl_start("SCRAM-SHA-1", &o, &s), 0);
	assert_int_equal(pl_sasl_step(s, (const unsigned char *)"n,,n=user,r=a", 13, &out, &outlen),
	                 PL_SASL_NEED_CREDS);
	pl_sasl_set_creds(s, &pencil);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_CONTINUE);
	free(out);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_E_MALFORMED);
	pl_sasl_free(s);

	/* unknown mechanisms */
	assert_int_equal(pl_sasl_start("SCRAM-SHA-512", &o, &s), PL_SASL_E_INVALID_MECH);
	assert_int_equal(pl_sasl_start("scram-sha-1", &o, &s), PL_SASL_E_INVALID_MECH);
	assert_int_equal(pl_sasl_start("DIGEST-MD5", &o, &s), PL_SASL_E_INVALID_MECH);
	assert_int_equal(pl_sasl_start(NULL, &o, &s), PL_SASL_E_INVALID_MECH);
}

/* ---- PLAIN ---- */

/* Runs a PLAIN exchange with msg (len bytes) and creds; returns the final result. */
static int plain_run(const pl_sasl_opts *o, const char *msg, size_t len, const pl_sasl_creds *creds,
                     char *user, char *authzid)
{
	pl_sasl *s;
	unsigned char *out;
	size_t outlen;
	int rc = pl_sasl_start("PLAIN", o, &s);
	if (rc != 0) return rc;
	rc = pl_sasl_step(s, (const unsigned char *)msg, len, &out, &outlen);
	assert_null(out);
	if (rc == PL_SASL_NEED_CREDS) {
		if (user) strcpy(user, pl_sasl_username(s));
		if (authzid) strcpy(authzid, pl_sasl_authzid(s) ? pl_sasl_authzid(s) : "");
		pl_sasl_set_creds(s, creds);
		rc = pl_sasl_step(s, NULL, 0, &out, &outlen);
		assert_null(out);
		assert_int_equal(outlen, 0);
	}
	pl_sasl_free(s);
	return rc;
}

#define PLAIN(o, lit, creds, u, a) plain_run((o), (lit), sizeof(lit) - 1, (creds), (u), (a))

static void test_plain(void **state)
{
	(void)state;
	pl_sasl_opts tls = {.tls = 1, .allow_plain = 1}, clear = {.allow_plain = 1}, off = {.tls = 1};
	char user[64], az[64];
	assert_int_equal(PLAIN(&tls, "\0user\0pencil", &pencil, user, az), PL_SASL_SUCCESS);
	assert_string_equal(user, "user");
	assert_string_equal(az, "");
	assert_int_equal(PLAIN(&tls, "\0USER\0pencil", &pencil, user, NULL), PL_SASL_SUCCESS);
	assert_string_equal(user, "user");
	assert_int_equal(PLAIN(&tls, "\0user\0pencil!", &pencil, NULL, NULL), PL_SASL_E_NOT_AUTHORIZED);
	assert_int_equal(PLAIN(&tls, "\0user\0Pencil", &pencil, NULL, NULL), PL_SASL_E_NOT_AUTHORIZED);
	assert_int_equal(PLAIN(&tls, "\0ghost\0pencil", NULL, NULL, NULL), PL_SASL_E_NOT_AUTHORIZED);
	/* out of TLS, or not allowed */
	assert_int_equal(PLAIN(&clear, "\0user\0pencil", &pencil, NULL, NULL), PL_SASL_E_ENCRYPTION);
	assert_int_equal(PLAIN(&off, "\0user\0pencil", &pencil, NULL, NULL), PL_SASL_E_INVALID_MECH);
	/* authzid */
	assert_int_equal(PLAIN(&tls, "user@example.com\0user\0pencil", &pencil, NULL, az), PL_SASL_SUCCESS);
	assert_string_equal(az, "user@example.com");
	assert_int_equal(PLAIN(&tls, "User@Example.COM.\0user\0pencil", &pencil, NULL, az), PL_SASL_SUCCESS);
	assert_string_equal(az, "user@example.com");
	assert_int_equal(PLAIN(&tls, "admin@example.com\0user\0pencil", &pencil, NULL, NULL),
	                 PL_SASL_E_AUTHZID);
	assert_int_equal(PLAIN(&tls, "example.com\0user\0pencil", &pencil, NULL, NULL), PL_SASL_E_AUTHZID);
	assert_int_equal(PLAIN(&tls, "user\0user\0pencil", &pencil, NULL, NULL), PL_SASL_E_AUTHZID);
	assert_int_equal(PLAIN(&tls, "user@d/r\0user\0pencil", &pencil, NULL, NULL), PL_SASL_E_AUTHZID);
	assert_int_equal(PLAIN(&tls, "@@\0user\0pencil", &pencil, NULL, NULL), PL_SASL_E_AUTHZID);
	/* malformed */
	assert_int_equal(PLAIN(&tls, "userpencil", &pencil, NULL, NULL), PL_SASL_E_MALFORMED);
	assert_int_equal(PLAIN(&tls, "user\0pencil", &pencil, NULL, NULL), PL_SASL_E_MALFORMED);
	assert_int_equal(PLAIN(&tls, "\0user\0pen\0cil", &pencil, NULL, NULL), PL_SASL_E_MALFORMED);
	assert_int_equal(PLAIN(&tls, "\0\0pencil", &pencil, NULL, NULL), PL_SASL_E_MALFORMED);
	assert_int_equal(PLAIN(&tls, "\0user\0", &pencil, NULL, NULL), PL_SASL_E_MALFORMED);
	assert_int_equal(PLAIN(&tls, "\0a b\0pencil", &pencil, NULL, NULL), PL_SASL_E_MALFORMED);
	char big[300 + 12];
	memset(big, 'p', sizeof big);
	memcpy(big, "\0user\0", 6);
	assert_int_equal(plain_run(&tls, big, sizeof big, &pencil, NULL, NULL), PL_SASL_E_MALFORMED);

	/* no initial response: empty challenge once */
	pl_sasl *s;
	unsigned char *out;
	size_t outlen;
	assert_int_equal(pl_sasl_start("PLAIN", &tls, &s), 0);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_CONTINUE);
	assert_int_equal(pl_sasl_step(s, (const unsigned char *)"\0user\0pencil", 12, &out, &outlen),
	                 PL_SASL_NEED_CREDS);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_E_STATE); /* creds not set */
	pl_sasl_free(s);
	assert_int_equal(pl_sasl_start("PLAIN", &tls, &s), 0);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_CONTINUE);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_E_MALFORMED);
	pl_sasl_free(s);
}

/* ---- ANONYMOUS ---- */

static void test_anonymous(void **state)
{
	(void)state;
	pl_sasl_opts yes = {.allow_anonymous = 1}, no = {.tls = 1, .allow_plain = 1};
	pl_sasl *s;
	unsigned char *out;
	size_t outlen;
	assert_int_equal(pl_sasl_start("ANONYMOUS", &no, &s), PL_SASL_E_INVALID_MECH);
	assert_int_equal(pl_sasl_start("ANONYMOUS", &yes, &s), 0);
	assert_string_equal(pl_sasl_mech_name(s), "ANONYMOUS");
	assert_int_equal(pl_sasl_step(s, (const unsigned char *)"trace\0\xff", 7, &out, &outlen),
	                 PL_SASL_SUCCESS);
	assert_null(out);
	assert_null(pl_sasl_username(s));
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_E_STATE);
	pl_sasl_free(s);
	assert_int_equal(pl_sasl_start("ANONYMOUS", &yes, &s), 0);
	assert_int_equal(pl_sasl_step(s, NULL, 0, &out, &outlen), PL_SASL_SUCCESS);
	pl_sasl_free(s);
}

/* ---- credentials ---- */

static void test_derive_and_check(void **state)
{
	(void)state;
	pl_sasl_creds a, b;
	assert_int_equal(pl_sasl_derive_creds("pencil", 4096, &a), 0);
	assert_int_equal(pl_sasl_derive_creds("pencil", 4096, &b), 0);
	assert_int_equal(a.salt_len, 16);
	assert_int_equal(a.iterations, 4096);
	assert_int_equal(a.sha1.key_len, 20);
	assert_int_equal(a.sha256.key_len, 32);
	assert_memory_not_equal(a.salt, b.salt, 16);
	assert_memory_not_equal(a.sha256.stored_key, b.sha256.stored_key, 32);
	assert_true(pl_sasl_check_password(&a, "pencil"));
	assert_false(pl_sasl_check_password(&a, "pencil "));
	assert_false(pl_sasl_check_password(&a, "Pencil"));
	assert_false(pl_sasl_check_password(&a, ""));
	assert_false(pl_sasl_check_password(&a, NULL));
	/* SHA-1-only creds are checked with SHA-1 */
	pl_sasl_creds one = a;
	one.sha256.key_len = 0;
	assert_true(pl_sasl_check_password(&one, "pencil"));
	memset(one.sha1.stored_key, 0, 20);
	assert_false(pl_sasl_check_password(&one, "pencil"));
	one.sha1.key_len = 0;
	assert_false(pl_sasl_check_password(&one, "pencil"));

	/* RFC 5802 known salt: the SHA-1 exchange vector passes only with the right keys (see above); here
	 * the same salt gives the same keys */
	unsigned char salt[16];
	memcpy(salt, pencil.salt, pencil.salt_len);
	assert_int_equal(pl_sasl_derive_creds_salt("pencil", salt, pencil.salt_len, 4096, &b), 0);
	assert_memory_equal(b.sha1.stored_key, pencil.sha1.stored_key, 20);
	assert_memory_equal(b.sha256.server_key, pencil.sha256.server_key, 32);

	/* SASLprep: soft hyphen maps to nothing, no-break space to space */
	assert_int_equal(pl_sasl_derive_creds("I\xc2\xadX", 1000, &a), 0);
	assert_true(pl_sasl_check_password(&a, "IX"));
	assert_int_equal(pl_sasl_derive_creds("a\xc2\xa0"
	                                      "b",
	                                      1000, &a),
	                 0);
	assert_true(pl_sasl_check_password(&a, "a b"));
	assert_false(pl_sasl_check_password(&a, "ab"));
	/* rejected passwords */
	assert_int_equal(pl_sasl_derive_creds("\x07", 1000, &a), PL_SASL_E_BAD_PASSWORD);
	assert_int_equal(pl_sasl_derive_creds("", 1000, &a), PL_SASL_E_BAD_PASSWORD);
	assert_int_equal(pl_sasl_derive_creds("\xc2\xad", 1000, &a), PL_SASL_E_BAD_PASSWORD);
	assert_int_equal(pl_sasl_derive_creds("ab\xff", 1000, &a), PL_SASL_E_BAD_PASSWORD);
	char *huge = malloc(5000);
	memset(huge, 'x', 4999);
	huge[4999] = '\0';
	assert_int_equal(pl_sasl_derive_creds(huge, 1000, &a), PL_SASL_E_BAD_PASSWORD);
	free(huge);
	assert_int_equal(pl_sasl_derive_creds("ok", 0, &a), PL_EINVAL);
	assert_int_equal(pl_sasl_derive_creds_salt("ok", salt, 0, 1000, &a), PL_EINVAL);
	assert_int_equal(pl_sasl_derive_creds_salt("ok", salt, 33, 1000, &a), PL_EINVAL);
}

/* ---- base64 ---- */

static void test_base64(void **state)
{
	(void)state;
	const char *vec[][2] = {{"", ""},
	                        {"f", "Zg=="},
	                        {"fo", "Zm8="},
	                        {"foo", "Zm9v"},
	                        {"foob", "Zm9vYg=="},
	                        {"fooba", "Zm9vYmE="},
	                        {"foobar", "Zm9vYmFy"},
	                        {"n,,", "biws"}};
	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		char *e = pl_base64_encode((const unsigned char *)vec[i][0], strlen(vec[i][0]));
		assert_string_equal(e, vec[i][1]);
		free(e);
		unsigned char *d;
		size_t dl;
		assert_int_equal(pl_base64_decode(vec[i][1], strlen(vec[i][1]), &d, &dl), 0);
		assert_int_equal(dl, strlen(vec[i][0]));
		assert_memory_equal(d, vec[i][0], dl);
		free(d);
	}
	/* round trips of every length with every byte value */
	unsigned char raw[300];
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof raw; len += (len < 40 ? 1 : 37)) {
		char *e = pl_base64_encode(raw, len);
		assert_int_equal(strlen(e), (len + 2) / 3 * 4);
		unsigned char *d;
		size_t dl;
		assert_int_equal(pl_base64_decode(e, strlen(e), &d, &dl), 0);
		assert_int_equal(dl, len);
		if (len) assert_memory_equal(d, raw, len);
		free(d);
		free(e);
	}
	/* "=" alone is the empty response */
	unsigned char *d = (unsigned char *)1;
	size_t dl = 99;
	assert_int_equal(pl_base64_decode("=", 1, &d, &dl), 0);
	assert_int_equal(dl, 0);
	free(d);
	/* decode reads len bytes only */
	assert_int_equal(pl_base64_decode("biwsXXXX", 4, &d, &dl), 0);
	assert_int_equal(dl, 3);
	assert_memory_equal(d, "n,,", 3);
	free(d);
	const char *bad[] = {"QQ",       "QQ=",   "QR==",   "QUJ=",     "Q===", "====",    "==",
	                     "QQ==QQ==", "QU I=", "QUI=\n", " QUI=",    "QUJ!", "Zm\xffv", "\x80\x80\x80\x80",
	                     "QUJD=",    "QUJDR", "QQ=A",   "Zm9v\r\n", "Zm-v", "Zm_v"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		d = (unsigned char *)1;
		if (pl_base64_decode(bad[i], strlen(bad[i]), &d, &dl) != PL_EPARSE)
			fail_msg("accepted '%s'", bad[i]);
		assert_null(d);
	}
	assert_int_equal(pl_base64_decode("QU\0=", 4, &d, &dl), PL_EPARSE);
}

/* ---- mechanism lists ---- */

static void test_mechanisms(void **state)
{
	(void)state;
	char buf[256];
	pl_sasl_opts o = {0};
	pl_sasl_mechanisms(&o, buf, sizeof buf);
	assert_string_equal(buf, "SCRAM-SHA-256 SCRAM-SHA-1");
	o.allow_plain = 1; /* no TLS: PLAIN is not offered */
	pl_sasl_mechanisms(&o, buf, sizeof buf);
	assert_string_equal(buf, "SCRAM-SHA-256 SCRAM-SHA-1");
	o.tls = 1;
	pl_sasl_mechanisms(&o, buf, sizeof buf);
	assert_string_equal(buf, "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN");
	o.allow_anonymous = 1;
	o.cb_data = cb32;
	o.cb_len = 32;
	pl_sasl_mechanisms(&o, buf, sizeof buf);
	assert_string_equal(buf,
	                    "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1 PLAIN ANONYMOUS");
	o.allow_plain = 0;
	o.cb_len = 0; /* no data: no -PLUS */
	pl_sasl_mechanisms(&o, buf, sizeof buf);
	assert_string_equal(buf, "SCRAM-SHA-256 SCRAM-SHA-1 ANONYMOUS");
	/* a short buffer holds whole names only */
	pl_sasl_mechanisms(&o, buf, 20);
	assert_string_equal(buf, "SCRAM-SHA-256");
	pl_sasl_mechanisms(&o, buf, 14);
	assert_string_equal(buf, "SCRAM-SHA-256");
	pl_sasl_mechanisms(&o, buf, 13);
	assert_string_equal(buf, "");
	buf[0] = 'x';
	pl_sasl_mechanisms(&o, buf, 0);
	assert_int_equal(buf[0], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc5802_vector),
	    cmocka_unit_test(test_rfc7677_vector),
	    cmocka_unit_test(test_client_matches_rfc),
	    cmocka_unit_test(test_scram_success_and_random_nonce),
	    cmocka_unit_test(test_scram_wrong_password),
	    cmocka_unit_test(test_scram_unknown_user),
	    cmocka_unit_test(test_scram_usernames),
	    cmocka_unit_test(test_scram_malformed_first),
	    cmocka_unit_test(test_scram_malformed_final),
	    cmocka_unit_test(test_scram_plus),
	    cmocka_unit_test(test_scram_plus_copies_cb),
	    cmocka_unit_test(test_scram_downgrade),
	    cmocka_unit_test(test_scram_authzid),
	    cmocka_unit_test(test_scram_states),
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_anonymous),
	    cmocka_unit_test(test_derive_and_check),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_mechanisms),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
