/* fuzz_http.c: libFuzzer target for the HTTP request path without sockets: llhttp parsing through
 * parley's callbacks (header and body limits, repeated headers, chunked bodies, pipelined requests,
 * input split at an arbitrary point), then the request preparation (absolute and origin-form URLs,
 * percent-decoding and path normalization, Host validation, X-Forwarded-For from a trusted proxy).
 * It checks that nothing crashes or leaks, and that a normalized path never holds a ".." segment. */
#include "http/http_internal.h"
#include "core/error.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_http_parse_for_fuzz((const char *)data, size);
	char *norm = NULL;
	if (http_normalize_path((const char *)data, size, &norm) == 0) {
		if (norm[0] != '/' || strstr(norm, "/../") || strstr(norm, "//")) abort();
		size_t n = strlen(norm);
		if (n >= 3 && !strcmp(norm + n - 3, "/..")) abort();
		free(norm);
	}
	return 0;
}
