/* alloc.h: memory allocation that never returns NULL. On allocation failure the process aborts with the
 * file and line of the caller (STYLE.md rule 4), so callers do not check for NULL. */
#ifndef PL_CORE_ALLOC_H
#define PL_CORE_ALLOC_H
#include <stddef.h>

void *pl_malloc_at(size_t n, const char *file, int line);
void *pl_calloc_at(size_t n, size_t size, const char *file, int line);
void *pl_realloc_at(void *p, size_t n, const char *file, int line);
char *pl_strdup_at(const char *s, const char *file, int line);
char *pl_strndup_at(const char *s, size_t n, const char *file, int line);

#define pl_malloc(n) pl_malloc_at((n), __FILE__, __LINE__)
#define pl_calloc(n, s) pl_calloc_at((n), (s), __FILE__, __LINE__)
#define pl_realloc(p, n) pl_realloc_at((p), (n), __FILE__, __LINE__)
/* pl_strdup(NULL) returns NULL. */
#define pl_strdup(s) pl_strdup_at((s), __FILE__, __LINE__)
#define pl_strndup(s, n) pl_strndup_at((s), (n), __FILE__, __LINE__)
#define PL_NEW(T) ((T *)pl_calloc(1, sizeof(T)))
#define pl_free free
#include <stdlib.h>

#endif
