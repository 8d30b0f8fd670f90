/* tls.c: TLS server contexts. It owns pl_tls_ctx, a reference-counted wrapper of an OpenSSL 3 SSL_CTX
 * configured for servers (TLS 1.2 minimum, no compression, no renegotiation, OpenSSL's default cipher
 * lists, session tickets on), the loading and checking of a certificate chain and its key with error
 * messages that name the file, and the generation of a self-signed certificate (EC P-256, SHA-256,
 * 10 years, subjectAltName DNS entries) on first start. A reload builds a new context; connections keep
 * the one they started with. The per-connection TLS state machine lives in net.c. */
#include "core/tls.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pl_tls_ctx {
	int refs;
	SSL_CTX *ssl_ctx;
};

/* Formats "<what>: <first OpenSSL error or fallback>" into err and clears OpenSSL's error queue. */
static int tls_fail(char *err, size_t errlen, const char *what, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	char reason[256];
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	else
		snprintf(reason, sizeof reason, "%s", fallback ? fallback : "unknown error");
	ERR_clear_error();
	if (err && errlen) snprintf(err, errlen, "%s: %s", what, reason);
	return PL_ETLS;
}

/* Checks that path can be opened for reading, so the error names the cause (ENOENT, EACCES...). */
static int check_readable(const char *kind, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f) {
		fclose(f);
		return 0;
	}
	if (err && errlen) snprintf(err, errlen, "cannot read %s %s: %s", kind, path, strerror(errno));
	return PL_ETLS;
}

int pl_tls_ctx_new(const char *cert_path, const char *key_path, pl_tls_ctx **out, char *err, size_t errlen)
{
	char what[PATH_MAX * 2 + 64];
	*out = NULL;
	if (!cert_path || !*cert_path || !key_path || !*key_path) {
		if (err && errlen) snprintf(err, errlen, "certificate and key paths are required");
		return PL_ETLS;
	}
	if (check_readable("certificate", cert_path, err, errlen) != 0) return PL_ETLS;
	if (check_readable("key", key_path, err, errlen) != 0) return PL_ETLS;
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) return tls_fail(err, errlen, "cannot create TLS context", NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* idle connections are many: give the record buffers back between reads and writes */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		snprintf(what, sizeof what, "invalid certificate %s", cert_path);
		SSL_CTX_free(ctx);
		return tls_fail(err, errlen, what, NULL);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
		/* OpenSSL compares the key with the certificate already loaded */
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(what, sizeof what, "certificate %s and key %s do not match", cert_path,
			         key_path);
		else
			snprintf(what, sizeof what, "invalid key %s", key_path);
		SSL_CTX_free(ctx);
		return tls_fail(err, errlen, what, NULL);
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof what, "certificate %s and key %s do not match", cert_path, key_path);
		SSL_CTX_free(ctx);
		return tls_fail(err, errlen, what, NULL);
	}
	pl_tls_ctx *t = PL_NEW(pl_tls_ctx);
	t->refs = 1;
	t->ssl_ctx = ctx;
	*out = t;
	return 0;
}

pl_tls_ctx *pl_tls_ctx_ref(pl_tls_ctx *ctx)
{
	ctx->refs++;
	return ctx;
}

void pl_tls_ctx_unref(pl_tls_ctx *ctx)
{
	if (!ctx || --ctx->refs > 0) return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

void *pl_tls_ctx_ssl_ctx(pl_tls_ctx *ctx)
{
	return ctx->ssl_ctx;
}

/* ---- self-signed certificate ---- */

/* Creates the parent directories of path (like mkdir -p on dirname). */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
		snprintf(err, errlen, "path too long: %s", path);
		return PL_ETLS;
	}
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir) return 0;
	*slash = 0;
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != 0) continue;
		char saved = *p;
		*p = 0;
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
			return PL_ETLS;
		}
		*p = saved;
		if (saved == 0) break;
	}
	return 0;
}

static int add_ext_conf(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext) return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int add_san(X509 *x, const char *const *hosts, size_t nhosts)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int rc = -1;
	if (!gens) return -1;
	for (size_t i = 0; i < nhosts; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (!g || !s || !ASN1_STRING_set(s, hosts[i], (int)strlen(hosts[i]))) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(s);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto out;
		}
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1) rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

/* Builds and signs the certificate for pkey. Returns NULL on failure (OpenSSL error queue set). */
static X509 *make_cert(EVP_PKEY *pkey, const char *const *hosts, size_t nhosts)
{
	X509 *x = X509_new();
	BIGNUM *bn = BN_new();
	unsigned char serial[16];
	if (!x || !bn || RAND_bytes(serial, sizeof serial) != 1) goto fail;
	serial[0] &= 0x7f; /* positive, at most 20 octets (RFC 5280 §4.1.2.2) */
	serial[0] |= 0x01; /* and never zero */
	if (!BN_bin2bn(serial, sizeof serial, bn) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto fail;
	if (!X509_set_version(x, X509_VERSION_3)) goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600)) goto fail; /* tolerate small clock skew */
	if (!X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL)) goto fail;
	X509_NAME *name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)hosts[0], -1, -1,
	                                0))
		goto fail;
	if (!X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pkey)) goto fail;
	if (add_ext_conf(x, NID_basic_constraints, "critical,CA:FALSE") != 0) goto fail;
	if (add_ext_conf(x, NID_key_usage, "critical,digitalSignature") != 0) goto fail;
	if (add_ext_conf(x, NID_ext_key_usage, "serverAuth") != 0) goto fail;
	if (add_ext_conf(x, NID_subject_key_identifier, "hash") != 0) goto fail;
	if (add_san(x, hosts, nhosts) != 0) goto fail;
	if (X509_sign(x, pkey, EVP_sha256()) <= 0) goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* Creates key_path with mode 0600 (never replacing a file) and writes pkey into it. */
static int write_key(const char *key_path, EVP_PKEY *pkey, char *err, size_t errlen)
{
	int fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create key %s: %s", key_path, strerror(errno));
		return PL_ETLS;
	}
	fchmod(fd, 0600);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		snprintf(err, errlen, "cannot write key %s: %s", key_path, strerror(errno));
		close(fd);
		unlink(key_path);
		return PL_ETLS;
	}
	int ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
	if (fclose(f) != 0) ok = 0;
	if (!ok) {
		unlink(key_path);
		char what[PATH_MAX + 32];
		snprintf(what, sizeof what, "cannot write key %s", key_path);
		return tls_fail(err, errlen, what, strerror(errno));
	}
	return 0;
}

static int write_cert(const char *cert_path, X509 *x, char *err, size_t errlen)
{
	FILE *f = fopen(cert_path, "w");
	if (!f) {
		snprintf(err, errlen, "cannot create certificate %s: %s", cert_path, strerror(errno));
		return PL_ETLS;
	}
	int ok = PEM_write_X509(f, x) == 1;
	if (fclose(f) != 0) ok = 0;
	if (!ok) {
		unlink(cert_path);
		char what[PATH_MAX + 40];
		snprintf(what, sizeof what, "cannot write certificate %s", cert_path);
		return tls_fail(err, errlen, what, strerror(errno));
	}
	return 0;
}

static EVP_PKEY *read_key(const char *key_path, char *err, size_t errlen)
{
	FILE *f = fopen(key_path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read key %s: %s", key_path, strerror(errno));
		return NULL;
	}
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey) {
		char what[PATH_MAX + 16];
		snprintf(what, sizeof what, "invalid key %s", key_path);
		tls_fail(err, errlen, what, NULL);
	}
	return pkey;
}

int pl_tls_ensure_self_signed(const char *cert_path, const char *key_path, const char *const *hosts,
                              size_t nhosts, char *err, size_t errlen)
{
	char dummy[1];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	struct stat st;
	int have_cert = stat(cert_path, &st) == 0;
	int have_key = stat(key_path, &st) == 0;
	if (have_cert && have_key) return 0;
	if (have_cert) {
		/* never replace a certificate someone put there because its key path is wrong */
		snprintf(err, errlen, "certificate %s exists but key %s does not", cert_path, key_path);
		return PL_ETLS;
	}
	if (nhosts == 0 || !hosts[0] || !*hosts[0]) {
		snprintf(err, errlen, "no host name for the self-signed certificate %s", cert_path);
		return PL_ETLS;
	}
	if (make_parent_dirs(cert_path, err, errlen) != 0 || make_parent_dirs(key_path, err, errlen) != 0)
		return PL_ETLS;
	ERR_clear_error();
	EVP_PKEY *pkey;
	if (have_key) { /* a key without certificate: certify that key */
		pkey = read_key(key_path, err, errlen);
		if (!pkey) return PL_ETLS;
	} else {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (!pkey) return tls_fail(err, errlen, "cannot generate an EC P-256 key", NULL);
	}
	X509 *x = make_cert(pkey, hosts, nhosts);
	if (!x) {
		EVP_PKEY_free(pkey);
		return tls_fail(err, errlen, "cannot build the self-signed certificate", NULL);
	}
	int rc = 0;
	if (!have_key) rc = write_key(key_path, pkey, err, errlen);
	if (rc == 0) {
		rc = write_cert(cert_path, x, err, errlen);
		if (rc != 0 && !have_key) unlink(key_path);
	}
	if (rc == 0)
		PL_INFO(0, "created a self-signed certificate for %s in %s (key %s)", hosts[0], cert_path,
		        key_path);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}
