/* alloc.c: allocation wrappers that abort with the caller's file and line on failure (see alloc.h). */
#include "core/alloc.h"
#include <stdio.h>
#include <string.h>

static void die(size_t n, const char *file, int line)
{
	fprintf(stderr, "parley: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
	abort();
}

void *pl_malloc_at(size_t n, const char *file, int line)
{
	void *p = malloc(n ? n : 1);
	if (!p) die(n, file, line);
	return p;
}

void *pl_calloc_at(size_t n, size_t size, const char *file, int line)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) die(n * size, file, line);
	return p;
}

void *pl_realloc_at(void *p, size_t n, const char *file, int line)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) die(n, file, line);
	return q;
}

char *pl_strdup_at(const char *s, const char *file, int line)
{
	if (!s) return NULL;
	return pl_strndup_at(s, strlen(s), file, line);
}

char *pl_strndup_at(const char *s, size_t n, const char *file, int line)
{
	if (!s) return NULL;
	size_t len = strnlen(s, n);
	char *d = pl_malloc_at(len + 1, file, line);
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}
