/* xmppload_sasl.c: the client side of SASL for xmppload: SCRAM-SHA-1 (RFC 5802) with OpenSSL's PBKDF2 and
 * HMAC, PLAIN (RFC 4616), base64, the abort-on-OOM allocators, and the salted-password cache.
 *
 * The cache exists because PBKDF2 is a client cost, not a server cost: the three servers store SCRAM keys,
 * so a login costs them no PBKDF2, while the client would pay thousands of HMACs per login on the same CPUs
 * and measure itself. RFC 5802 §5.1 allows clients to cache the salted password; the cache is keyed by
 * (password, salt, iterations), so a stale entry is never used for another account. */
#include "xmppload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define SCRAM_MAX_ITER 1000000
#define CACHE_BUCKETS 65536
#define CACHE_MAX 2000000

uint64_t xl_pbkdf2_count;

void *xl_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "xmppload: out of memory\n");
		abort();
	}
	return p;
}

void *xl_calloc(size_t n, size_t s)
{
	void *p = calloc(n ? n : 1, s ? s : 1);
	if (!p) {
		fprintf(stderr, "xmppload: out of memory\n");
		abort();
	}
	return p;
}

char *xl_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xl_malloc(n);
	memcpy(p, s, n);
	return p;
}

int xl_b64_encode(const unsigned char *in, size_t n, char *out, size_t cap)
{
	if (cap < 4 * ((n + 2) / 3) + 1) return -1;
	return EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int xl_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	/* skip surrounding whitespace the server may put in the element text */
	while (n && (*in == ' ' || *in == '\n' || *in == '\r' || *in == '\t'))
		in++, n--;
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\n' || in[n - 1] == '\r' || in[n - 1] == '\t'))
		n--;
	if (n % 4 || cap < n / 4 * 3 + 1) return -1;
	int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0) return -1;
	if (n >= 1 && in[n - 1] == '=') len--;
	if (n >= 2 && in[n - 2] == '=') len--;
	out[len] = 0;
	return len;
}

/* ---- salted-password cache ---- */

struct cache_entry {
	struct cache_entry *next;
	char *key; /* "iterations:hexsalt:hexsha1(password)" */
	unsigned char sp[SHA_DIGEST_LENGTH];
};

static struct cache_entry *cache[CACHE_BUCKETS];
static size_t cache_count;

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int unhex(const char *in, unsigned char *out, size_t cap)
{
	size_t n = strlen(in);
	if (n % 2 || n / 2 > cap) return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(in + 2 * i, "%2x", &v) != 1) return -1;
		out[i] = (unsigned char)v;
	}
	return (int)(n / 2);
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct cache_entry *cache_find(const char *key)
{
	for (struct cache_entry *e = cache[hash_str(key) % CACHE_BUCKETS]; e; e = e->next)
		if (!strcmp(e->key, key)) return e;
	return NULL;
}

static void cache_put(const char *key, const unsigned char *sp)
{
	if (cache_count >= CACHE_MAX || cache_find(key)) return;
	struct cache_entry *e = xl_calloc(1, sizeof *e);
	e->key = xl_strdup(key);
	memcpy(e->sp, sp, sizeof e->sp);
	uint32_t b = hash_str(key) % CACHE_BUCKETS;
	e->next = cache[b];
	cache[b] = e;
	cache_count++;
}

void xl_scram_cache_load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) return;
	char line[1024], key[900], sphex[64];
	unsigned char sp[SHA_DIGEST_LENGTH];
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%899s %63s", key, sphex) == 2 &&
		    unhex(sphex, sp, sizeof sp) == (int)sizeof sp)
			cache_put(key, sp);
	fclose(f);
}

void xl_scram_cache_save(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) return;
	char sphex[2 * SHA_DIGEST_LENGTH + 1];
	for (size_t b = 0; b < CACHE_BUCKETS; b++)
		for (struct cache_entry *e = cache[b]; e; e = e->next) {
			hex(e->sp, sizeof e->sp, sphex);
			fprintf(f, "%s %s\n", e->key, sphex);
		}
	if (fclose(f) == 0) rename(tmp, path);
}

static void salted_password(const char *password, const unsigned char *salt, size_t salt_len, int iter,
                            unsigned char sp[SHA_DIGEST_LENGTH])
{
	char key[900], salthex[2 * 256 + 1], pwhex[2 * SHA_DIGEST_LENGTH + 1];
	unsigned char pwh[SHA_DIGEST_LENGTH];
	SHA1((const unsigned char *)password, strlen(password), pwh);
	hex(pwh, sizeof pwh, pwhex);
	hex(salt, salt_len, salthex);
	snprintf(key, sizeof key, "%d:%s:%s", iter, salthex, pwhex);
	struct cache_entry *e = cache_find(key);
	if (e) {
		memcpy(sp, e->sp, SHA_DIGEST_LENGTH);
		return;
	}
	PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iter, EVP_sha1(),
	                  SHA_DIGEST_LENGTH, sp);
	xl_pbkdf2_count++;
	cache_put(key, sp);
}

/* ---- SCRAM-SHA-1 ---- */

int xl_scram_first(struct xl_conn *c, char *out, size_t cap)
{
	unsigned char rnd[18];
	char user[200];
	size_t u = 0;
	RAND_bytes(rnd, sizeof rnd);
	hex(rnd, sizeof rnd, c->cnonce);
	for (const char *p = c->user; *p && u + 4 < sizeof user; p++) { /* saslname escaping */
		if (*p == '=')
			memcpy(user + u, "=3D", 3), u += 3;
		else if (*p == ',')
			memcpy(user + u, "=2C", 3), u += 3;
		else
			user[u++] = *p;
	}
	user[u] = 0;
	char msg[512];
	snprintf(msg, sizeof msg, "n=%s,r=%s", user, c->cnonce);
	free(c->client_first_bare);
	c->client_first_bare = xl_strdup(msg);
	snprintf(msg, sizeof msg, "n,,n=%s,r=%s", user, c->cnonce);
	return xl_b64_encode((const unsigned char *)msg, strlen(msg), out, cap);
}

/* Finds "k=" at the start of an attribute of a comma-separated SCRAM message; copies its value. */
static int scram_attr(const char *msg, char k, char *out, size_t cap)
{
	const char *p = msg;
	while (p && *p) {
		if (p[0] == k && p[1] == '=') {
			const char *end = strchr(p, ',');
			size_t n = end ? (size_t)(end - p - 2) : strlen(p + 2);
			if (n >= cap) return -1;
			memcpy(out, p + 2, n);
			out[n] = 0;
			return 0;
		}
		p = strchr(p, ',');
		if (p) p++;
	}
	return -1;
}

int xl_scram_final(struct xl_conn *c, const char *challenge_b64, char *out, size_t cap)
{
	unsigned char server_first[1024], salt[256];
	char nonce[256], salt64[512], iters[32];
	if (!c->client_first_bare) return -1;
	if (xl_b64_decode(challenge_b64, strlen(challenge_b64), server_first, sizeof server_first) < 0)
		return -1;
	const char *sf = (const char *)server_first;
	if (scram_attr(sf, 'r', nonce, sizeof nonce) || scram_attr(sf, 's', salt64, sizeof salt64) ||
	    scram_attr(sf, 'i', iters, sizeof iters))
		return -1;
	if (strncmp(nonce, c->cnonce, strlen(c->cnonce)) != 0) return -1;
	int salt_len = xl_b64_decode(salt64, strlen(salt64), salt, sizeof salt);
	int iter = atoi(iters);
	if (salt_len <= 0 || iter < 1 || iter > SCRAM_MAX_ITER) return -1;

	unsigned char sp[SHA_DIGEST_LENGTH], client_key[SHA_DIGEST_LENGTH], stored_key[SHA_DIGEST_LENGTH];
	unsigned char client_sig[SHA_DIGEST_LENGTH], server_key[SHA_DIGEST_LENGTH], proof[SHA_DIGEST_LENGTH];
	unsigned int len;
	salted_password(c->opts->password, salt, (size_t)salt_len, iter, sp);
	HMAC(EVP_sha1(), sp, sizeof sp, (const unsigned char *)"Client Key", 10, client_key, &len);
	SHA1(client_key, sizeof client_key, stored_key);
	HMAC(EVP_sha1(), sp, sizeof sp, (const unsigned char *)"Server Key", 10, server_key, &len);

	char without_proof[512], auth_msg[2048];
	snprintf(without_proof, sizeof without_proof, "c=biws,r=%s", nonce);
	int n = snprintf(auth_msg, sizeof auth_msg, "%s,%s,%s", c->client_first_bare, sf, without_proof);
	if (n < 0 || (size_t)n >= sizeof auth_msg) return -1;
	HMAC(EVP_sha1(), stored_key, sizeof stored_key, (unsigned char *)auth_msg, (size_t)n, client_sig,
	     &len);
	HMAC(EVP_sha1(), server_key, sizeof server_key, (unsigned char *)auth_msg, (size_t)n, c->server_sig,
	     &len);
	c->server_sig_len = len;
	for (size_t i = 0; i < sizeof proof; i++)
		proof[i] = client_key[i] ^ client_sig[i];

	char proof64[64], final[700];
	xl_b64_encode(proof, sizeof proof, proof64, sizeof proof64);
	n = snprintf(final, sizeof final, "%s,p=%s", without_proof, proof64);
	if (n < 0 || (size_t)n >= sizeof final) return -1;
	return xl_b64_encode((unsigned char *) final, (size_t)n, out, cap);
}

int xl_scram_verify(struct xl_conn *c, const char *b64)
{
	unsigned char msg[512], sig[64];
	char v[256];
	if (!c->server_sig_len || xl_b64_decode(b64, strlen(b64), msg, sizeof msg) < 0) return -1;
	if (scram_attr((const char *)msg, 'v', v, sizeof v)) return -1;
	int n = xl_b64_decode(v, strlen(v), sig, sizeof sig);
	if (n != (int)c->server_sig_len || memcmp(sig, c->server_sig, (size_t)n) != 0) return -1;
	return 0;
}

int xl_plain_initial(const char *user, const char *password, char *out, size_t cap)
{
	char msg[512];
	size_t u = strlen(user), p = strlen(password);
	if (u + p + 2 > sizeof msg) return -1;
	msg[0] = 0;
	memcpy(msg + 1, user, u);
	msg[1 + u] = 0;
	memcpy(msg + 2 + u, password, p);
	return xl_b64_encode((unsigned char *)msg, u + p + 2, out, cap);
}
