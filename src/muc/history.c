/* history.c: a room's recent messages in memory (a ring of serialized stanzas that already carry their
 * XEP-0203 delay, so a replay is just sends) and the selection a newcomer's <history/> element asks for
 * (XEP-0045 §7.2.15: maxchars, maxstanzas, seconds, since; all given limits hold). Pure functions: no
 * server state, unit-tested in tests/unit/test_muc_history.c. */
#include "muc/muc.h"
#include "core/alloc.h"
#include "core/buf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void entry_release(pl_muc_history_entry *e)
{
	pl_bytes_unref(e->bytes);
	e->bytes = NULL;
}

void pl_muc_history_init(pl_muc_history *h, size_t cap)
{
	pl_muc_history_entry *ne = cap ? pl_calloc(cap, sizeof *ne) : NULL;
	size_t keep = h->n < cap ? h->n : cap, drop = h->n - keep;
	for (size_t i = 0; i < h->n; i++) {
		pl_muc_history_entry *e = &h->e[(h->head + i) % h->cap];
		if (i < drop)
			entry_release(e);
		else
			ne[i - drop] = *e;
	}
	free(h->e);
	h->e = ne;
	h->cap = cap;
	h->n = keep;
	h->head = 0;
}

void pl_muc_history_clear(pl_muc_history *h)
{
	for (size_t i = 0; i < h->n; i++)
		entry_release(&h->e[(h->head + i) % h->cap]);
	free(h->e);
	memset(h, 0, sizeof *h);
}

void pl_muc_history_push(pl_muc_history *h, time_t stamp, void *bytes, size_t chars)
{
	if (h->cap == 0) {
		pl_bytes_unref(bytes);
		return;
	}
	if (h->n == h->cap) { /* full: the oldest goes */
		entry_release(&h->e[h->head]);
		h->head = (h->head + 1) % h->cap;
		h->n--;
	}
	pl_muc_history_entry *e = &h->e[(h->head + h->n) % h->cap];
	e->stamp = stamp;
	e->bytes = bytes;
	e->chars = chars;
	h->n++;
}

const pl_muc_history_entry *pl_muc_history_at(const pl_muc_history *h, size_t i)
{
	return &h->e[(h->head + i) % h->cap];
}

size_t pl_muc_history_select(const pl_muc_history *h, const pl_muc_history_filter *f, time_t now)
{
	size_t first = h->n, chars = 0;
	/* walk back from the newest while every limit still allows one more */
	while (first > 0) {
		const pl_muc_history_entry *e = pl_muc_history_at(h, first - 1);
		if (f->maxstanzas >= 0 && (long)(h->n - first) >= f->maxstanzas) break;
		if (f->maxchars >= 0 && (long)(chars + e->chars) > f->maxchars) break;
		if (f->seconds >= 0 && e->stamp < now - f->seconds) break;
		if (f->since >= 0 && e->stamp < f->since) break;
		chars += e->chars;
		first--;
	}
	return first;
}

static int parse_nonneg(const char *s, long *out)
{
	if (!s) return 0;
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 0) return -1;
	*out = v;
	return 0;
}

int pl_muc_history_filter_parse(const pl_xml_node *hist, pl_muc_history_filter *f)
{
	f->maxchars = f->maxstanzas = f->seconds = -1;
	f->since = -1;
	if (!hist) return 0;
	if (parse_nonneg(pl_xml_attr_get(hist, "maxchars"), &f->maxchars) != 0) return -1;
	if (parse_nonneg(pl_xml_attr_get(hist, "maxstanzas"), &f->maxstanzas) != 0) return -1;
	if (parse_nonneg(pl_xml_attr_get(hist, "seconds"), &f->seconds) != 0) return -1;
	const char *since = pl_xml_attr_get(hist, "since");
	if (since && pl_muc_parse_datetime(since, &f->since) != 0) return -1;
	return 0;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* days from 1970-01-01 to y-m-d (proleptic Gregorian) */
static long long days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int pl_muc_parse_datetime(const char *s, time_t *out)
{
	int Y, M, D, h, m, sec;
	if (!s || strlen(s) < 20) return -1;
	if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' || digits(s + 8, 2, &D) ||
	    s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return -1;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9') return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	long off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p) return -1;
	*out = (time_t)(days_from_civil(Y, M, D) * 86400LL + h * 3600LL + m * 60LL + sec - off);
	return 0;
}

void pl_muc_format_datetime(time_t t, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
