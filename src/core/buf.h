/* buf.h: growable byte buffers (pl_buf) for building output, and immutable reference-counted byte
 * blobs (pl_bytes) for sharing one serialization among many recipients (a broadcast is serialized once
 * and the same pl_bytes is queued to every connection). */
#ifndef PL_CORE_BUF_H
#define PL_CORE_BUF_H
#include <stddef.h>

typedef struct pl_buf {
	char *data; /* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
} pl_buf;

#define PL_BUF_INIT {NULL, 0, 0}
void pl_buf_init(pl_buf *b);
void pl_buf_free(pl_buf *b);
void pl_buf_reset(pl_buf *b); /* len = 0, keeps memory */
void pl_buf_append(pl_buf *b, const void *data, size_t len);
void pl_buf_appends(pl_buf *b, const char *s);
void pl_buf_appendc(pl_buf *b, char c);
void pl_buf_printf(pl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text with XML escaping (&, <, >, and in attributes also ' and "). */
void pl_buf_append_xml_escaped(pl_buf *b, const char *s, size_t len, int in_attr);
/* Removes the first n bytes. */
void pl_buf_consume(pl_buf *b, size_t n);
/* Transfers ownership of the data to the caller (NUL-terminated, possibly NULL when empty). */
char *pl_buf_steal(pl_buf *b);

typedef struct pl_bytes {
	int refs;
	size_t len;
	char data[]; /* NUL-terminated for convenience */
} pl_bytes;

/* Returns a new blob with refs = 1 holding a copy of data. */
pl_bytes *pl_bytes_new(const void *data, size_t len);
/* Takes over a pl_buf's content as a blob (the buf is left empty). */
pl_bytes *pl_bytes_from_buf(pl_buf *b);
pl_bytes *pl_bytes_ref(pl_bytes *b);
void pl_bytes_unref(pl_bytes *b);

#endif
