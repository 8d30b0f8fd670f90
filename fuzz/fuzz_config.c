/* fuzz_config.c: libFuzzer target for the configuration loader (src/core/config.c). The input up to the
 * first 0x01 byte is the INI file; what follows is a list of command-line overrides, one per line. A
 * successful load must satisfy the validated invariants (ranges, host lists); a failed one must leave a
 * message naming the file or the command line. Nothing may crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/config.h"

#define MAX_OVERRIDES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *sep = memchr(text, 0x01, size);
	size_t flen = sep ? (size_t)(sep - text) : size;

	/* overrides: NUL-terminated copies of the lines after the separator */
	char *ovbuf = NULL;
	const char *ov[MAX_OVERRIDES];
	size_t nov = 0;
	if (sep) {
		size_t olen = size - flen - 1;
		ovbuf = pl_malloc(olen + 1);
		memcpy(ovbuf, sep + 1, olen);
		ovbuf[olen] = 0;
		char *p = ovbuf;
		while (p && nov < MAX_OVERRIDES) {
			char *nl = strchr(p, '\n');
			if (nl) *nl = 0;
			ov[nov++] = p;
			p = nl ? nl + 1 : NULL;
		}
	}

	pl_config *c = NULL;
	char err[512];
	int rc = pl_config_load_buffer("fuzz.ini", text, flen, ov, nov, &c, err, sizeof err);
	if (rc == 0) {
		if (!c || c->c2s_port < 0 || c->c2s_port > 65535 || c->c2s_tls_port < 0 ||
		    c->c2s_tls_port > 65535)
			abort();
		if (c->c2s_port && c->c2s_port == c->c2s_tls_port) abort();
		if (c->hosts.n + c->anonymous_hosts.n == 0) abort();
		for (size_t i = 0; i < c->hosts.n; i++) {
			if (!c->hosts.items[i][0] || !pl_config_is_host(c, c->hosts.items[i])) abort();
			if (pl_config_is_anonymous_host(c, c->hosts.items[i])) abort();
		}
		for (size_t i = 0; i < c->anonymous_hosts.n; i++)
			if (!pl_config_is_anonymous_host(c, c->anonymous_hosts.items[i])) abort();
		for (size_t i = 0; i < c->listen.n; i++)
			if (!c->listen.items[i][0]) abort();
		if (!c->log_level || !c->store_backend || strcmp(c->store_backend, "sqlite")) abort();
		pl_config_free(c);
	} else {
		if (c) abort();
		if (strncmp(err, "fuzz.ini", 8) && strncmp(err, "command line: --", 16) &&
		    strncmp(err, "default: ", 9))
			abort();
	}
	free(ovbuf);
	return 0;
}
