/* base64.c: the strict base64 codec (RFC 4648 section 4, with padding, no line breaks) that SASL and
 * SCRAM use, on top of libsodium's constant-time codec. Decoding refuses whitespace, missing or extra
 * padding and non-zero trailing bits; "=" alone and the empty string decode to no bytes, as XMPP SASL
 * writes an empty response. The alphabet is checked here first: libsodium 1.0.18 takes bytes >= 0x80 for
 * base64 digits (found by fuzz_sasl). Declared in sasl.h. */
#include <sodium.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "xmpp/sasl.h"

char *pl_base64_encode(const unsigned char *in, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *out = pl_malloc(n);
	if (len == 0) {
		out[0] = '\0';
		return out;
	}
	sodium_bin2base64(out, n, in, len, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

int pl_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (len == 0 || (len == 1 && in[0] == '=')) {
		*out = pl_malloc(1);
		return 0;
	}
	if (len % 4 != 0) return PL_EPARSE;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || c == '='))
			return PL_EPARSE;
	}
	size_t cap = len / 4 * 3;
	unsigned char *buf = pl_malloc(cap);
	size_t n = 0;
	const char *end = NULL;
	if (sodium_base642bin(buf, cap, in, len, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != in + len) {
		pl_free(buf);
		return PL_EPARSE;
	}
	*out = buf;
	*outlen = n;
	return 0;
}
