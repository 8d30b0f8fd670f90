/* buf.c: growable buffers and shared reference-counted byte blobs (see buf.h). */
#include "core/buf.h"
#include "core/alloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pl_buf_init(pl_buf *b) { b->data = NULL, b->len = 0, b->cap = 0; }

void pl_buf_free(pl_buf *b)
{
	free(b->data);
	pl_buf_init(b);
}

void pl_buf_reset(pl_buf *b)
{
	b->len = 0;
	if (b->data) b->data[0] = 0;
}

static void reserve(pl_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap) return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need) cap *= 2;
	b->data = pl_realloc(b->data, cap);
	b->cap = cap;
}

void pl_buf_append(pl_buf *b, const void *data, size_t len)
{
	reserve(b, len);
	if (len) memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = 0;
}

void pl_buf_appends(pl_buf *b, const char *s) { pl_buf_append(b, s, strlen(s)); }

void pl_buf_appendc(pl_buf *b, char c) { pl_buf_append(b, &c, 1); }

void pl_buf_printf(pl_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0) return;
	reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void pl_buf_append_xml_escaped(pl_buf *b, const char *s, size_t len, int in_attr)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = in_attr ? "&quot;" : NULL; break;
		case '\'': rep = in_attr ? "&apos;" : NULL; break;
		case '\r': rep = "&#13;"; break; /* keep CR through an XML parser's newline normalisation */
		default: break;
		}
		if (rep) {
			pl_buf_append(b, s + start, i - start);
			pl_buf_appends(b, rep);
			start = i + 1;
		}
	}
	pl_buf_append(b, s + start, len - start);
}

void pl_buf_consume(pl_buf *b, size_t n)
{
	if (n >= b->len) {
		pl_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = 0;
}

char *pl_buf_steal(pl_buf *b)
{
	char *d = b->data;
	pl_buf_init(b);
	return d;
}

pl_bytes *pl_bytes_new(const void *data, size_t len)
{
	pl_bytes *b = pl_malloc(sizeof(pl_bytes) + len + 1);
	b->refs = 1;
	b->len = len;
	if (len) memcpy(b->data, data, len);
	b->data[len] = 0;
	return b;
}

pl_bytes *pl_bytes_from_buf(pl_buf *buf)
{
	pl_bytes *b = pl_bytes_new(buf->data, buf->len);
	pl_buf_free(buf);
	return b;
}

pl_bytes *pl_bytes_ref(pl_bytes *b)
{
	b->refs++;
	return b;
}

void pl_bytes_unref(pl_bytes *b)
{
	if (b && --b->refs == 0) free(b);
}
