/* config.c: parley's configuration loader (see config.h). One static table lists every section and key
 * with its type, range and default (STYLE.md rule 8); defaults go through the same parser as file values,
 * so the table is the single source of truth. The file is read into memory and fed to inih line by line
 * through a counting reader, which gives exact line numbers for every error (Debian's libinih is built
 * without INI_HANDLER_LINENO), strips leading whitespace (so inih never sees a continuation line) and
 * rejects lines inih would silently split. Command-line overrides are applied after the file, then the
 * cross-key checks run (host lists, ports). Using the values is left to the modules. */
#include "core/config.h"
#include "core/alloc.h"
#include "core/error.h"
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FILE_SIZE (1024 * 1024) /* a config file larger than this is refused */
#define MAX_LIST_ITEMS 256
#define MAX_HOST_LEN 1023

enum ftype { T_INT, T_BOOL, T_STR, T_LIST, T_ENUM };

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const store_backends[] = {"sqlite", NULL};

struct field {
	const char *section;
	const char *key;
	enum ftype type;
	size_t off;
	long min, max;              /* T_INT */
	const char *def;            /* default, parsed like a file value */
	const char *const *choices; /* T_ENUM */
};

#define F_INT(s, k, m, lo, hi, d)                                                                            \
	{                                                                                                    \
		s, k, T_INT, offsetof(pl_config, m), lo, hi, d, NULL                                         \
	}
#define F_BOOL(s, k, m, d)                                                                                   \
	{                                                                                                    \
		s, k, T_BOOL, offsetof(pl_config, m), 0, 1, d, NULL                                          \
	}
#define F_STR(s, k, m, d)                                                                                    \
	{                                                                                                    \
		s, k, T_STR, offsetof(pl_config, m), 0, 0, d, NULL                                           \
	}
#define F_LIST(s, k, m, d)                                                                                   \
	{                                                                                                    \
		s, k, T_LIST, offsetof(pl_config, m), 0, 0, d, NULL                                          \
	}
#define F_ENUM(s, k, m, d, c)                                                                                \
	{                                                                                                    \
		s, k, T_ENUM, offsetof(pl_config, m), 0, 0, d, c                                             \
	}

static const struct field fields[] = {
    F_LIST("daemon", "listen", listen, "0.0.0.0"),
    F_INT("daemon", "c2s_port", c2s_port, 0, 65535, "5222"),
    F_INT("daemon", "c2s_tls_port", c2s_tls_port, 0, 65535, "5223"),
    F_ENUM("daemon", "log_level", log_level, "info", log_levels),
    F_STR("daemon", "pid_file", pid_file, ""),
    F_STR("daemon", "admin_socket", admin_socket, "./var/parley.sock"),
    F_STR("daemon", "data_dir", data_dir, "./var"),

    F_LIST("hosts", "hosts", hosts, "localhost"),
    F_LIST("hosts", "anonymous", anonymous_hosts, "anon.localhost"),

    F_STR("tls", "cert", cert, "./var/tls/cert.pem"),
    F_STR("tls", "key", key, "./var/tls/key.pem"),
    F_BOOL("tls", "self_signed", self_signed, "true"),
    F_BOOL("tls", "starttls_required", starttls_required, "true"),
    F_BOOL("tls", "channel_binding", channel_binding, "true"),

    F_INT("limits", "max_connections", max_connections, 1, 1000000, "20000"),
    F_INT("limits", "max_connections_per_ip", max_connections_per_ip, 0, 1000000, "0"),
    F_INT("limits", "c2s_rate", c2s_rate, 0, 1073741824, "10240"),
    F_INT("limits", "c2s_burst", c2s_burst, 1, 3600, "2"),
    F_INT("limits", "max_stanza_size", max_stanza_size, 1024, 67108864, "262144"),
    F_INT("limits", "max_output_queue", max_output_queue, 1024, 1073741824, "1048576"),
    F_INT("limits", "auth_timeout", auth_timeout, 0, 3600, "30"),
    F_INT("limits", "idle_timeout", idle_timeout, 0, 86400, "600"),
    F_INT("limits", "max_offline", max_offline, 0, 100000, "500"),
    F_INT("limits", "max_resources", max_resources, 0, 1000, "10"),
    F_INT("limits", "sm_resume_timeout", sm_resume_timeout, 0, 86400, "300"),
    F_INT("limits", "sm_max_unacked", sm_max_unacked, 1, 100000, "500"),
    F_INT("limits", "scram_iterations", scram_iterations, 4096, 10000000, "10000"),

    F_ENUM("store", "backend", store_backend, "sqlite", store_backends),
    F_STR("store", "path", store_path, "./var/parley.db"),
    F_STR("store", "dsn", store_dsn, ""),

    F_INT("http", "port", http_port, 0, 65535, "8080"),
    F_LIST("http", "listen", http_listen, "0.0.0.0"),
    F_BOOL("http", "tls", http_tls, "false"),
    F_STR("http", "web_root", web_root, "./web/dist"),
    F_LIST("http", "trusted_proxies", trusted_proxies, ""),
    F_LIST("http", "cors_origins", cors_origins, ""),
    F_INT("http", "max_header_size", http_max_header_size, 1024, 1048576, "16384"),
    F_INT("http", "max_body_size", http_max_body_size, 0, 1073741824, "1048576"),
    F_INT("http", "request_timeout", http_request_timeout, 1, 3600, "30"),
    F_INT("http", "keepalive_timeout", http_keepalive_timeout, 1, 86400, "60"),

    F_INT("bosh", "max_wait", bosh_max_wait, 1, 3600, "60"),
    F_INT("bosh", "inactivity", bosh_inactivity, 1, 86400, "60"),
    F_INT("bosh", "max_requests", bosh_max_requests, 1, 16, "2"),

    F_LIST("muc", "domains", muc_domains, "room.localhost"),
    F_INT("muc", "max_occupants", muc_max_occupants, 1, 10000000, "10000"),
    F_INT("muc", "history_length", muc_history_length, 0, 10000, "20"),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* Where a field got its value: 0 = default, > 0 = file line, ORIGIN_CMDLINE = an override. */
#define ORIGIN_CMDLINE (-1)

typedef struct load_ctx {
	pl_config *cfg;
	const char *fname; /* as shown in messages */
	const char *data;
	size_t len, pos;
	int lineno;
	int origin[NFIELDS];
	int failed;   /* an error message is in err */
	int err_line; /* line of that error (file errors) */
	int stop;     /* reader returns EOF */
	char *err;
	size_t errlen;
} load_ctx;

static void set_err(load_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(load_ctx *x, const char *fmt, ...)
{
	if (x->failed) return;
	x->failed = 1;
	if (!x->err || !x->errlen) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
}

/* ---- values ---- */

static void list_clear(pl_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Splits a comma-separated list; items are trimmed, empty items rejected. An empty value is an empty
 * list. */
static int parse_list(const char *v, pl_strlist *out, char *problem, size_t plen)
{
	pl_strlist l = {NULL, 0};
	const char *p = v;
	while (*p && is_space(*p))
		p++;
	if (!*p) {
		*out = l;
		return 0;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		if (!end) end = p + strlen(p);
		const char *a = p, *b = end;
		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		if (a == b) {
			snprintf(problem, plen, "empty item in list");
			list_clear(&l);
			return PL_EINVAL;
		}
		if (l.n >= MAX_LIST_ITEMS) {
			snprintf(problem, plen, "too many items (at most %d)", MAX_LIST_ITEMS);
			list_clear(&l);
			return PL_EINVAL;
		}
		l.items = pl_realloc(l.items, (l.n + 1) * sizeof(char *));
		l.items[l.n++] = pl_strndup(a, (size_t)(b - a));
		if (!*end) break;
		p = end + 1;
	}
	*out = l;
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) return *out = 1, 0;
		if (!strcasecmp(v, no[i])) return *out = 0, 0;
	}
	return PL_EINVAL;
}

/* Parses v into the field of c, replacing the previous value. On error returns PL_EINVAL with the
 * problem (without the location) in problem. */
static int set_field(pl_config *c, const struct field *f, const char *v, char *problem, size_t plen)
{
	void *dst = (char *)c + f->off;
	switch (f->type) {
	case T_INT: {
		const char *p = v;
		if (*p == '+' || *p == '-') p++;
		if (*p < '0' || *p > '9') goto not_int;
		for (; *p; p++)
			if (*p < '0' || *p > '9') goto not_int;
		errno = 0;
		long n = strtol(v, NULL, 10);
		if (errno == ERANGE || n < f->min || n > f->max) {
			snprintf(problem, plen, "out of range (%ld..%ld)", f->min, f->max);
			return PL_EINVAL;
		}
		*(int *)dst = (int)n;
		return 0;
	not_int:
		snprintf(problem, plen, "not an integer");
		return PL_EINVAL;
	}
	case T_BOOL:
		if (parse_bool(v, (int *)dst) != 0) {
			snprintf(problem, plen, "not a boolean (true/false/yes/no/on/off/1/0)");
			return PL_EINVAL;
		}
		return 0;
	case T_STR:
		free(*(char **)dst);
		*(char **)dst = pl_strdup(v);
		return 0;
	case T_ENUM:
		for (size_t i = 0; f->choices[i]; i++) {
			if (!strcasecmp(v, f->choices[i])) {
				free(*(char **)dst);
				*(char **)dst = pl_strdup(f->choices[i]);
				return 0;
			}
		}
		{
			int n = snprintf(problem, plen, "'%.40s' is not one of ", v);
			for (size_t i = 0; f->choices[i] && n >= 0 && (size_t)n < plen; i++)
				n += snprintf(problem + n, plen - (size_t)n, "%s%s", i ? ", " : "",
				              f->choices[i]);
		}
		return PL_EINVAL;
	case T_LIST: {
		pl_strlist l;
		int rc = parse_list(v, &l, problem, plen);
		if (rc != 0) return rc;
		list_clear((pl_strlist *)dst);
		*(pl_strlist *)dst = l;
		return 0;
	}
	}
	return PL_EINVAL;
}

static int find_section(const char *section)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (!strcasecmp(fields[i].section, section)) return 1;
	return 0;
}

static int find_field(const char *section, const char *key)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (!strcasecmp(fields[i].section, section) && !strcasecmp(fields[i].key, key)) return (int)i;
	return -1;
}

/* ---- the file ---- */

/* fgets-style reader over the in-memory file: one line per call, counted. */
static char *read_line(char *str, int num, void *stream)
{
	load_ctx *x = stream;
	if (x->stop || x->pos >= x->len) return NULL;
	const char *start = x->data + x->pos;
	const char *nl = memchr(start, '\n', x->len - x->pos);
	size_t n = nl ? (size_t)(nl - start) : x->len - x->pos;
	x->pos += n + (nl ? 1 : 0);
	x->lineno++;
	if (memchr(start, '\0', n)) {
		set_err(x, "%s:%d: invalid NUL byte", x->fname, x->lineno);
		x->err_line = x->lineno, x->stop = 1;
		return NULL;
	}
	if (x->lineno == 1 && n >= 3 && !memcmp(start, "\xEF\xBB\xBF", 3)) start += 3, n -= 3;
	while (n && (*start == ' ' || *start == '\t'))
		start++, n--;
	while (n && is_space(start[n - 1]))
		n--;
	if (num < 3 || n + 2 > (size_t)num) {
		set_err(x, "%s:%d: line too long (at most %d characters)", x->fname, x->lineno,
		        num > 2 ? num - 2 : 0);
		x->err_line = x->lineno, x->stop = 1;
		return NULL;
	}
	memcpy(str, start, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	load_ctx *x = user;
	if (x->failed) return 0;
	int line = x->lineno;
	if (!*section) {
		set_err(x, "%s:%d: %s: key outside any [section]", x->fname, line, name);
	} else if (!find_section(section)) {
		set_err(x, "%s:%d: [%s] %s: unknown section", x->fname, line, section, name);
	} else {
		int i = find_field(section, name);
		char problem[256];
		if (i < 0) {
			set_err(x, "%s:%d: [%s] %s: unknown key", x->fname, line, section, name);
		} else if (x->origin[i] > 0) {
			set_err(x, "%s:%d: [%s] %s: duplicate key (first set on line %d)", x->fname, line,
			        section, name, x->origin[i]);
		} else if (set_field(x->cfg, &fields[i], value, problem, sizeof problem) != 0) {
			set_err(x, "%s:%d: [%s] %s: %s", x->fname, line, section, name, problem);
		} else {
			x->origin[i] = line;
			return 1;
		}
	}
	x->err_line = line;
	return 0;
}

static int parse_text(load_ctx *x)
{
	int rc = ini_parse_stream(read_line, x, on_key, x);
	if (rc > 0 && (!x->failed || rc < x->err_line)) {
		x->failed = 0;
		set_err(x, "%s:%d: syntax error (expected [section] or key = value)", x->fname, rc);
		return PL_EPARSE;
	}
	if (rc < 0 && !x->failed) set_err(x, "%s: cannot parse (inih error %d)", x->fname, rc);
	return x->failed ? PL_EINVAL : 0;
}

/* ---- overrides ---- */

static int apply_override(load_ctx *x, const char *ov)
{
	const char *eq = strchr(ov, '=');
	const char *dot = strchr(ov, '.');
	if (!eq || !dot || dot > eq) {
		set_err(x, "command line: --%s: expected --section.key=value", ov);
		return PL_EINVAL;
	}
	char section[64], key[64];
	const char *ks = dot + 1, *ke = eq; /* "section.key = value" is accepted too */
	while (ke > ks && is_space(ke[-1]))
		ke--;
	size_t slen = (size_t)(dot - ov), klen = (size_t)(ke - ks);
	if (slen == 0 || klen == 0 || slen >= sizeof section || klen >= sizeof key) {
		set_err(x, "command line: --%.*s: unknown key", (int)(ke - ov), ov);
		return PL_EINVAL;
	}
	memcpy(section, ov, slen);
	section[slen] = 0;
	memcpy(key, ks, klen);
	key[klen] = 0;
	if (!find_section(section)) {
		set_err(x, "command line: --%s.%s: unknown section", section, key);
		return PL_EINVAL;
	}
	int i = find_field(section, key);
	if (i < 0) {
		set_err(x, "command line: --%s.%s: unknown key", section, key);
		return PL_EINVAL;
	}
	/* trim the value like inih does for file values */
	const char *v = eq + 1;
	while (*v && is_space(*v))
		v++;
	size_t vlen = strlen(v);
	while (vlen && is_space(v[vlen - 1]))
		vlen--;
	char *value = pl_strndup(v, vlen);
	char problem[256];
	int rc = set_field(x->cfg, &fields[i], value, problem, sizeof problem);
	free(value);
	if (rc != 0) {
		set_err(x, "command line: --%s.%s: %s", section, key, problem);
		return rc;
	}
	x->origin[i] = ORIGIN_CMDLINE;
	return 0;
}

/* ---- validation ---- */

/* Formats where field i got its value, for validation messages. */
static const char *origin_of(load_ctx *x, int i, char *buf, size_t n)
{
	if (x->origin[i] > 0)
		snprintf(buf, n, "%s:%d: [%s] %s", x->fname, x->origin[i], fields[i].section, fields[i].key);
	else if (x->origin[i] == ORIGIN_CMDLINE)
		snprintf(buf, n, "command line: --%s.%s", fields[i].section, fields[i].key);
	else
		snprintf(buf, n, "default: [%s] %s", fields[i].section, fields[i].key);
	return buf;
}

static int field_index(size_t off)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].off == off) return (int)i;
	return -1;
}

static const char *host_problem(const char *h)
{
	size_t n = strlen(h);
	if (n == 0) return "empty host name";
	if (n > MAX_HOST_LEN) return "host name too long";
	if (h[0] == '.' || h[n - 1] == '.' || strstr(h, "..")) return "host name has an empty label";
	for (const unsigned char *p = (const unsigned char *)h; *p; p++)
		if (*p <= ' ' || *p == 0x7f || strchr("@/\\\"'<>&:[]", *p))
			return "invalid character in host name";
	return NULL;
}

static int validate(load_ctx *x)
{
	pl_config *c = x->cfg;
	char where[512];
	const pl_strlist *lists[2] = {&c->hosts, &c->anonymous_hosts};
	int idx[2] = {field_index(offsetof(pl_config, hosts)),
	              field_index(offsetof(pl_config, anonymous_hosts))};
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; i < lists[l]->n; i++) {
			const char *h = lists[l]->items[i];
			const char *p = host_problem(h);
			if (p) {
				set_err(x, "%s: %s: '%.100s'", origin_of(x, idx[l], where, sizeof where), p,
				        h);
				return PL_EINVAL;
			}
			for (size_t j = 0; j < i; j++) {
				if (!strcasecmp(h, lists[l]->items[j])) {
					set_err(x, "%s: %.100s listed twice",
					        origin_of(x, idx[l], where, sizeof where), h);
					return PL_EINVAL;
				}
			}
		}
	}
	for (size_t i = 0; i < c->anonymous_hosts.n; i++) {
		for (size_t j = 0; j < c->hosts.n; j++) {
			if (!strcasecmp(c->anonymous_hosts.items[i], c->hosts.items[j])) {
				set_err(
				    x,
				    "%s: %.100s is also in [hosts] hosts (a host is either anonymous or not)",
				    origin_of(x, idx[1], where, sizeof where), c->anonymous_hosts.items[i]);
				return PL_EINVAL;
			}
		}
	}
	int midx = field_index(offsetof(pl_config, muc_domains));
	for (size_t i = 0; i < c->muc_domains.n; i++) {
		const char *h = c->muc_domains.items[i];
		const char *p = host_problem(h);
		if (p) {
			set_err(x, "%s: %s: '%.100s'", origin_of(x, midx, where, sizeof where), p, h);
			return PL_EINVAL;
		}
		if (pl_config_is_host(c, h)) {
			set_err(x, "%s: %.100s is also a virtual host in [hosts]", origin_of(x, midx, where, sizeof where),
			        h);
			return PL_EINVAL;
		}
	}
	if (c->hosts.n == 0 && c->anonymous_hosts.n == 0) {
		set_err(x, "%s: no virtual host configured", origin_of(x, idx[0], where, sizeof where));
		return PL_EINVAL;
	}
	if (c->c2s_port != 0 && c->c2s_port == c->c2s_tls_port) {
		set_err(x, "%s: same port as [daemon] c2s_port (%d)",
		        origin_of(x, field_index(offsetof(pl_config, c2s_tls_port)), where, sizeof where),
		        c->c2s_port);
		return PL_EINVAL;
	}
	if (!strcmp(c->store_backend, "sqlite") && !*c->store_path) {
		set_err(x, "%s: the sqlite backend needs a database file",
		        origin_of(x, field_index(offsetof(pl_config, store_path)), where, sizeof where));
		return PL_EINVAL;
	}
	const pl_strlist *addrs[2] = {&c->listen, &c->http_listen};
	int aidx[2] = {field_index(offsetof(pl_config, listen)), field_index(offsetof(pl_config, http_listen))};
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; i < addrs[l]->n; i++) {
			if (host_problem(addrs[l]->items[i]) && !strchr(addrs[l]->items[i], ':')) {
				set_err(x, "%s: '%.100s' is not an address",
				        origin_of(x, aidx[l], where, sizeof where), addrs[l]->items[i]);
				return PL_EINVAL;
			}
		}
	}
	if (c->http_port != 0 && (c->http_port == c->c2s_port || c->http_port == c->c2s_tls_port)) {
		set_err(x, "%s: same port as an XMPP listener (%d)",
		        origin_of(x, field_index(offsetof(pl_config, http_port)), where, sizeof where),
		        c->http_port);
		return PL_EINVAL;
	}
	return 0;
}

/* ---- public ---- */

static pl_config *config_defaults(void)
{
	pl_config *c = PL_NEW(pl_config);
	char problem[256];
	for (size_t i = 0; i < NFIELDS; i++) {
		int rc = set_field(c, &fields[i], fields[i].def, problem, sizeof problem);
		if (rc != 0) { /* a bad row in the table is a programming error */
			fprintf(stderr, "config.c: bad default for [%s] %s: %s\n", fields[i].section,
			        fields[i].key, problem);
			abort();
		}
	}
	return c;
}

static int finish(load_ctx *x, const char *const *overrides, size_t noverrides, pl_config **out)
{
	int rc = 0;
	for (size_t i = 0; i < noverrides && rc == 0; i++)
		if (overrides[i]) rc = apply_override(x, overrides[i]);
	if (rc == 0) rc = validate(x);
	if (rc != 0) {
		pl_config_free(x->cfg);
		return rc;
	}
	*out = x->cfg;
	return 0;
}

int pl_config_load_buffer(const char *name, const char *data, size_t len, const char *const *overrides,
                          size_t noverrides, pl_config **out, char *err, size_t errlen)
{
	*out = NULL;
	if (err && errlen) err[0] = 0;
	load_ctx x = {.cfg = config_defaults(),
	              .fname = name ? name : "(config)",
	              .data = data,
	              .len = len,
	              .err = err,
	              .errlen = errlen};
	x.cfg->path = pl_strdup(name);
	int rc = parse_text(&x);
	if (rc != 0) {
		pl_config_free(x.cfg);
		return PL_EINVAL;
	}
	return finish(&x, overrides, noverrides, out);
}

int pl_config_load(const char *path, const char *const *overrides, size_t noverrides, pl_config **out,
                   char *err, size_t errlen)
{
	*out = NULL;
	if (err && errlen) err[0] = 0;
	if (!path) {
		load_ctx x = {.cfg = config_defaults(), .fname = "(defaults)", .err = err, .errlen = errlen};
		return finish(&x, overrides, noverrides, out);
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (err && errlen) snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return PL_EIO;
	}
	char *data = pl_malloc(MAX_FILE_SIZE + 1);
	size_t n = fread(data, 1, MAX_FILE_SIZE + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || n > MAX_FILE_SIZE) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path,
			         bad ? "read error" : "file too large (at most 1 MiB)");
		free(data);
		return PL_EIO;
	}
	int rc = pl_config_load_buffer(path, data, n, overrides, noverrides, out, err, errlen);
	free(data);
	return rc;
}

void pl_config_free(pl_config *c)
{
	if (!c) return;
	for (size_t i = 0; i < NFIELDS; i++) {
		void *p = (char *)c + fields[i].off;
		if (fields[i].type == T_STR || fields[i].type == T_ENUM)
			free(*(char **)p);
		else if (fields[i].type == T_LIST)
			list_clear((pl_strlist *)p);
	}
	free(c->path);
	free(c);
}

static int in_list(const pl_strlist *l, const char *host)
{
	if (!host) return 0;
	for (size_t i = 0; i < l->n; i++)
		if (!strcasecmp(l->items[i], host)) return 1;
	return 0;
}

int pl_config_is_host(const pl_config *c, const char *host)
{
	return in_list(&c->hosts, host) || in_list(&c->anonymous_hosts, host);
}

int pl_config_is_anonymous_host(const pl_config *c, const char *host)
{
	return in_list(&c->anonymous_hosts, host);
}
