/* log.c: leveled logging to stderr, one line per event with a UTC timestamp and connection id. */
#include "core/log.h"
#include "core/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum pl_log_level g_level = PL_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

void pl_log_set_level(enum pl_log_level lvl) { g_level = lvl; }
enum pl_log_level pl_log_get_level(void) { return g_level; }

int pl_log_parse_level(const char *s, enum pl_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (s && strcmp(s, names[i]) == 0) {
			*out = (enum pl_log_level)i;
			return 0;
		}
	}
	return PL_EINVAL;
}

void pl_log(enum pl_log_level lvl, uint64_t conn_id, const char *fmt, ...)
{
	if (lvl < g_level) return;
	char line[2048];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
		names[lvl]);
	if (conn_id)
		n += snprintf(line + n, sizeof line - n, "[c%llu] ", (unsigned long long)conn_id);
	else
		n += snprintf(line + n, sizeof line - n, "[-] ");
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2) len = sizeof line - 2;
	/* one event, one line: fold any newline that came in with the message */
	for (size_t i = (size_t)n; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}
