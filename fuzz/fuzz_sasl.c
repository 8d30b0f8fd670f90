/* fuzz_sasl.c: libFuzzer target for the SASL server (src/xmpp/sasl.c) and base64 (src/xmpp/base64.c).
 * Input layout: one mode byte, then the first client message, a 0xFF separator, the second client
 * message. Mode bits 0-1 pick SCRAM-SHA-256, SCRAM-SHA-256-PLUS, SCRAM-SHA-1 or PLAIN; bit 2 makes the
 * user unknown; bit 3 removes the channel binding data; bit 4 turns TLS off; bit 5 sends an empty initial
 * response first. The exchange is driven as stream.c drives it, with fixed credentials ("pencil") and a
 * fixed server nonce part "SRV" (so the fuzzer can echo it). Invariants: no output with an error, a
 * username exactly when credentials are needed, no step after the end. The whole input is also
 * base64-decoded: what decodes must encode back to the same text (the decoder is strict). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "xmpp/sasl.h"

static const char *const mechs[] = {"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "PLAIN"};
static const unsigned char cb[32] = "0123456789abcdef0123456789abcdef";
static pl_sasl_creds creds;
static int creds_ready;

/* One step; checks the output invariants. Returns the step result. */
static int step(pl_sasl *s, const uint8_t *in, size_t len)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	int rc = pl_sasl_step(s, in, len, &out, &outlen);
	if (rc < 0 && (out || outlen)) abort();
	if (!out && outlen) abort();
	if (rc == PL_SASL_NEED_CREDS && !pl_sasl_username(s)) abort();
	free(out);
	return rc;
}

/* Steps until the exchange needs new client data or ends; supplies credentials when asked. */
static int run_to_input(pl_sasl *s, int rc, int unknown)
{
	while (rc == PL_SASL_NEED_CREDS) {
		pl_sasl_set_creds(s, unknown ? NULL : &creds);
		rc = step(s, NULL, 0);
	}
	return rc;
}

static void exchange(const uint8_t *data, size_t size)
{
	if (size < 1) return;
	uint8_t mode = data[0];
	const uint8_t *msg = data + 1;
	size_t len = size - 1;
	const uint8_t *sep = memchr(msg, 0xff, len);
	size_t len1 = sep ? (size_t)(sep - msg) : len;
	const uint8_t *msg2 = sep ? sep + 1 : NULL;
	size_t len2 = sep ? len - len1 - 1 : 0;

	pl_sasl_opts o = {0};
	o.tls = !(mode & 0x10);
	o.allow_plain = 1;
	o.allow_anonymous = 1;
	if (!(mode & 0x08)) {
		o.cb_data = cb;
		o.cb_len = sizeof cb;
	}
	pl_sasl *s;
	if (pl_sasl_start(mechs[mode & 3], &o, &s) != 0) return;
	int unknown = mode & 0x04;
	int rc = PL_SASL_CONTINUE;
	if (mode & 0x20) rc = step(s, NULL, 0);
	if (rc == PL_SASL_CONTINUE) rc = run_to_input(s, step(s, msg, len1), unknown);
	if (rc == PL_SASL_CONTINUE && msg2) rc = run_to_input(s, step(s, msg2, len2), unknown);
	if (rc == PL_SASL_SUCCESS && unknown) abort(); /* an unknown user never authenticates */
	if (rc < 0 || rc == PL_SASL_SUCCESS) {
		if (step(s, msg, len1) != PL_SASL_E_STATE) abort();
	}
	pl_sasl_free(s);
}

static void base64(const uint8_t *data, size_t size)
{
	unsigned char *out;
	size_t outlen;
	if (pl_base64_decode((const char *)data, size, &out, &outlen) != 0) {
		if (out) abort();
		return;
	}
	char *e = pl_base64_encode(out, outlen);
	int empty = size == 0 || (size == 1 && data[0] == '=');
	if (empty ? (outlen != 0) : (strlen(e) != size || memcmp(e, data, size) != 0)) abort();
	free(e);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!creds_ready) {
		static const unsigned char salt[12] = "fuzz-salt-12";
		if (pl_sasl_derive_creds_salt("pencil", salt, sizeof salt, 2, &creds) != 0) abort();
		pl_sasl_test_set_nonce("SRV");
		creds_ready = 1;
	}
	exchange(data, size);
	base64(data, size);
	return 0;
}
