/* log.h: leveled logging to stderr, one line per event:
 *   2026-11-24T02:53:18.123Z info  [c42] message
 * The bracketed id is the connection id (0 = not tied to a connection, printed as [-]). */
#ifndef PL_CORE_LOG_H
#define PL_CORE_LOG_H
#include <stdint.h>

enum pl_log_level { PL_LOG_DEBUG = 0, PL_LOG_INFO = 1, PL_LOG_WARN = 2, PL_LOG_ERROR = 3 };

/* Sets the minimum level written. */
void pl_log_set_level(enum pl_log_level lvl);
enum pl_log_level pl_log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns 0 or PL_EINVAL. */
int pl_log_parse_level(const char *s, enum pl_log_level *out);
void pl_log(enum pl_log_level lvl, uint64_t conn_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define PL_DEBUG(cid, ...)                                                                         \
	do {                                                                                           \
		if (pl_log_get_level() <= PL_LOG_DEBUG) pl_log(PL_LOG_DEBUG, (cid), __VA_ARGS__);          \
	} while (0)
#define PL_INFO(cid, ...) pl_log(PL_LOG_INFO, (cid), __VA_ARGS__)
#define PL_WARN(cid, ...) pl_log(PL_LOG_WARN, (cid), __VA_ARGS__)
#define PL_ERROR(cid, ...) pl_log(PL_LOG_ERROR, (cid), __VA_ARGS__)

#endif
