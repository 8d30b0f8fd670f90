/* test_config.c: unit tests for src/core/config.c: the built-in defaults, every value type (int, bool,
 * string, list, enum), every error kind with its exact "file:line: [section] key: problem" text, INI
 * details (comments, CRLF, BOM, indentation, missing final newline), command-line overrides, and the
 * cross-key validation (host lists, ports, store). Config files are written under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"

static char tmp_path[64];

/* Writes text to a fresh file under /tmp; its name is in tmp_path. */
static const char *write_tmp(const char *text)
{
	snprintf(tmp_path, sizeof tmp_path, "/tmp/parley-test-config-XXXXXX");
	int fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return tmp_path;
}

/* Loads text from a temp file; returns the rc, fills *out and err. */
static int load_text(const char *text, const char *const *ov, size_t nov, pl_config **out, char *err,
                     size_t errlen)
{
	const char *path = write_tmp(text);
	int rc = pl_config_load(path, ov, nov, out, err, errlen);
	unlink(path);
	return rc;
}

/* Expects text to fail with "<tmpfile>:<suffix>". */
static void expect_file_error(const char *text, const char *suffix)
{
	pl_config *c = (pl_config *)0x1;
	char err[512], want[512];
	int rc = load_text(text, NULL, 0, &c, err, sizeof err);
	assert_int_not_equal(rc, 0);
	assert_null(c);
	snprintf(want, sizeof want, "%s:%s", tmp_path, suffix);
	assert_string_equal(err, want);
}

static void expect_override_error(const char *ov, const char *want)
{
	pl_config *c = (pl_config *)0x1;
	char err[512];
	const char *ovs[] = {ov};
	assert_int_equal(pl_config_load(NULL, ovs, 1, &c, err, sizeof err), PL_EINVAL);
	assert_null(c);
	assert_string_equal(err, want);
}

static void test_defaults(void **state)
{
	pl_config *c = NULL;
	char err[256] = "x";
	assert_int_equal(pl_config_load(NULL, NULL, 0, &c, err, sizeof err), 0);
	assert_non_null(c);
	assert_string_equal(err, "");
	assert_null(c->path);
	assert_int_equal(c->listen.n, 1);
	assert_string_equal(c->listen.items[0], "0.0.0.0");
	assert_int_equal(c->c2s_port, 5222);
	assert_int_equal(c->c2s_tls_port, 5223);
	assert_string_equal(c->log_level, "info");
	assert_string_equal(c->pid_file, "");
	assert_string_equal(c->admin_socket, "./var/parley.sock");
	assert_string_equal(c->data_dir, "./var");
	assert_int_equal(c->hosts.n, 1);
	assert_string_equal(c->hosts.items[0], "localhost");
	assert_int_equal(c->anonymous_hosts.n, 1);
	assert_string_equal(c->anonymous_hosts.items[0], "anon.localhost");
	assert_string_equal(c->cert, "./var/tls/cert.pem");
	assert_string_equal(c->key, "./var/tls/key.pem");
	assert_int_equal(c->self_signed, 1);
	assert_int_equal(c->starttls_required, 1);
	assert_int_equal(c->channel_binding, 1);
	assert_int_equal(c->max_connections, 20000);
	assert_int_equal(c->max_connections_per_ip, 0);
	assert_int_equal(c->c2s_rate, 10240);
	assert_int_equal(c->c2s_burst, 2);
	assert_int_equal(c->max_stanza_size, 262144);
	assert_int_equal(c->max_output_queue, 1048576);
	assert_int_equal(c->auth_timeout, 30);
	assert_int_equal(c->idle_timeout, 600);
	assert_int_equal(c->max_offline, 500);
	assert_int_equal(c->max_resources, 10);
	assert_int_equal(c->sm_resume_timeout, 300);
	assert_int_equal(c->sm_max_unacked, 500);
	assert_int_equal(c->scram_iterations, 10000);
	assert_string_equal(c->store_backend, "sqlite");
	assert_string_equal(c->store_path, "./var/parley.db");
	assert_string_equal(c->store_dsn, "");
	assert_int_equal(c->http_port, 8080);
	assert_int_equal(c->http_listen.n, 1);
	assert_string_equal(c->http_listen.items[0], "0.0.0.0");
	assert_int_equal(c->http_tls, 0);
	assert_string_equal(c->web_root, "./web/dist");
	assert_int_equal(c->trusted_proxies.n, 0);
	assert_int_equal(c->cors_origins.n, 0);
	assert_int_equal(c->http_max_header_size, 16384);
	assert_int_equal(c->http_max_body_size, 1048576);
	assert_int_equal(c->http_request_timeout, 30);
	assert_int_equal(c->http_keepalive_timeout, 60);
	assert_true(pl_config_is_host(c, "localhost"));
	assert_false(pl_config_is_anonymous_host(c, "localhost"));
	assert_false(pl_config_is_host(c, "example.com"));
	pl_config_free(c);
	pl_config_free(NULL);
}

static void test_empty_file_is_defaults(void **state)
{
	pl_config *c = NULL;
	char err[256];
	assert_int_equal(load_text("", NULL, 0, &c, err, sizeof err), 0);
	assert_string_equal(c->path, tmp_path);
	assert_int_equal(c->c2s_port, 5222);
	assert_string_equal(c->hosts.items[0], "localhost");
	pl_config_free(c);
}

static void test_every_type(void **state)
{
	const char *text = "; a comment\n"
	                   "# another comment\n"
	                   "[daemon]\n"
	                   "listen = 127.0.0.1 ,  ::1,10.0.0.1\n"
	                   "c2s_port = 15222\n"
	                   "c2s_tls_port = 0\n"
	                   "log_level = DEBUG\n"
	                   "pid_file = /run/parley.pid ; inline comment\n"
	                   "admin_socket = /tmp/x.sock\n"
	                   "data_dir = /var/lib/parley\n"
	                   "\n"
	                   "[hosts]\n"
	                   "hosts = example.com, Chat.Example.org\n"
	                   "anonymous = guest.example.com\n"
	                   "[tls]\n"
	                   "cert = /etc/c.pem\n"
	                   "key = /etc/k.pem\n"
	                   "self_signed = no\n"
	                   "starttls_required = Off\n"
	                   "channel_binding = no\n"
	                   "[limits]\n"
	                   "max_connections = 1\n"
	                   "max_connections_per_ip = +5\n"
	                   "c2s_rate = 0\n"
	                   "c2s_burst = 3600\n"
	                   "max_stanza_size = 65536\n"
	                   "max_output_queue = 2048\n"
	                   "auth_timeout = 0\n"
	                   "idle_timeout = 86400\n"
	                   "max_offline = 7\n"
	                   "max_resources = 3\n"
	                   "sm_resume_timeout = 60\n"
	                   "sm_max_unacked = 100\n"
	                   "scram_iterations = 4096\n"
	                   "[store]\n"
	                   "backend = sqlite\n"
	                   "path = /tmp/p.db\n"
	                   "dsn = host=x\n";
	pl_config *c = NULL;
	char err[256] = "";
	assert_int_equal(load_text(text, NULL, 0, &c, err, sizeof err), 0);
	assert_string_equal(err, "");
	assert_int_equal(c->listen.n, 3);
	assert_string_equal(c->listen.items[0], "127.0.0.1");
	assert_string_equal(c->listen.items[1], "::1");
	assert_string_equal(c->listen.items[2], "10.0.0.1");
	assert_int_equal(c->c2s_port, 15222);
	assert_int_equal(c->c2s_tls_port, 0);
	assert_string_equal(c->log_level, "debug");
	assert_string_equal(c->pid_file, "/run/parley.pid");
	assert_string_equal(c->admin_socket, "/tmp/x.sock");
	assert_string_equal(c->data_dir, "/var/lib/parley");
	assert_int_equal(c->hosts.n, 2);
	assert_string_equal(c->hosts.items[1], "Chat.Example.org");
	assert_int_equal(c->anonymous_hosts.n, 1);
	assert_string_equal(c->cert, "/etc/c.pem");
	assert_string_equal(c->key, "/etc/k.pem");
	assert_int_equal(c->self_signed, 0);
	assert_int_equal(c->starttls_required, 0);
	assert_int_equal(c->channel_binding, 0);
	assert_int_equal(c->max_connections, 1);
	assert_int_equal(c->max_connections_per_ip, 5);
	assert_int_equal(c->c2s_rate, 0);
	assert_int_equal(c->c2s_burst, 3600);
	assert_int_equal(c->max_stanza_size, 65536);
	assert_int_equal(c->max_output_queue, 2048);
	assert_int_equal(c->auth_timeout, 0);
	assert_int_equal(c->idle_timeout, 86400);
	assert_int_equal(c->max_offline, 7);
	assert_int_equal(c->max_resources, 3);
	assert_int_equal(c->sm_resume_timeout, 60);
	assert_int_equal(c->sm_max_unacked, 100);
	assert_int_equal(c->scram_iterations, 4096);
	assert_string_equal(c->store_path, "/tmp/p.db");
	assert_string_equal(c->store_dsn, "host=x");
	/* host lookups are case-insensitive; anonymous hosts are hosts too */
	assert_true(pl_config_is_host(c, "EXAMPLE.com"));
	assert_true(pl_config_is_host(c, "chat.example.org"));
	assert_true(pl_config_is_host(c, "guest.example.com"));
	assert_true(pl_config_is_anonymous_host(c, "Guest.Example.COM"));
	assert_false(pl_config_is_anonymous_host(c, "example.com"));
	assert_false(pl_config_is_host(c, "localhost"));
	assert_false(pl_config_is_host(c, NULL));
	pl_config_free(c);
}

static void test_booleans(void **state)
{
	const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
	const char *no[] = {"false", "no", "off", "0", "FALSE", "No"};
	for (int v = 0; v < 2; v++) {
		for (size_t i = 0; i < 6; i++) {
			char text[128], err[256];
			snprintf(text, sizeof text, "[tls]\nself_signed = %s\n", v ? yes[i] : no[i]);
			pl_config *c = NULL;
			assert_int_equal(load_text(text, NULL, 0, &c, err, sizeof err), 0);
			assert_int_equal(c->self_signed, v);
			pl_config_free(c);
		}
	}
}

static void test_lists(void **state)
{
	pl_config *c = NULL;
	char err[256];
	/* an empty value is an empty list */
	assert_int_equal(load_text("[hosts]\nanonymous =\n", NULL, 0, &c, err, sizeof err), 0);
	assert_int_equal(c->anonymous_hosts.n, 0);
	pl_config_free(c);
	assert_int_equal(load_text("[hosts]\nhosts = a.example\t,b.example\n", NULL, 0, &c, err, sizeof err),
	                 0);
	assert_int_equal(c->hosts.n, 2);
	assert_string_equal(c->hosts.items[0], "a.example");
	assert_string_equal(c->hosts.items[1], "b.example");
	pl_config_free(c);
	expect_file_error("[hosts]\nhosts = a.example, , b.example\n",
	                  "2: [hosts] hosts: empty item in list");
	expect_file_error("[hosts]\nhosts = a.example,\n", "2: [hosts] hosts: empty item in list");
	expect_file_error("[hosts]\nhosts = ,a.example\n", "2: [hosts] hosts: empty item in list");
	expect_file_error("[daemon]\nlisten = ::1,,127.0.0.1\n", "2: [daemon] listen: empty item in list");
}

static void test_ini_details(void **state)
{
	pl_config *c = NULL;
	char err[256];
	/* CRLF line ends, a BOM, indented keys, no final newline */
	assert_int_equal(load_text("\xEF\xBB\xBF[limits]\r\n  max_offline = 9\r\n\tmax_resources=4", NULL, 0,
	                           &c, err, sizeof err),
	                 0);
	assert_int_equal(c->max_offline, 9);
	assert_int_equal(c->max_resources, 4);
	pl_config_free(c);
	/* an indented key after another key is a key, not a continuation of the previous value */
	assert_int_equal(
	    load_text("[limits]\nmax_offline = 9\n    max_offline_x = 1\n", NULL, 0, &c, err, sizeof err),
	    PL_EINVAL);
	char want[256];
	snprintf(want, sizeof want, "%s:3: [limits] max_offline_x: unknown key", tmp_path);
	assert_string_equal(err, want);
	/* a section can appear twice; its keys still may not */
	assert_int_equal(load_text("[limits]\nmax_offline = 9\n[tls]\nkey=k\n[limits]\nmax_resources = 2\n",
	                           NULL, 0, &c, err, sizeof err),
	                 0);
	assert_int_equal(c->max_offline, 9);
	assert_int_equal(c->max_resources, 2);
	pl_config_free(c);
	/* keys and sections are case-insensitive */
	assert_int_equal(load_text("[Limits]\nMAX_OFFLINE = 11\n", NULL, 0, &c, err, sizeof err), 0);
	assert_int_equal(c->max_offline, 11);
	pl_config_free(c);
	/* pl_config_load_buffer: not NUL-terminated, name in messages */
	const char buf[] = "[limits]\nmax_offline = 12\nXX";
	assert_int_equal(pl_config_load_buffer("mem.ini", buf, sizeof buf - 3, NULL, 0, &c, err, sizeof err),
	                 0);
	assert_int_equal(c->max_offline, 12);
	assert_string_equal(c->path, "mem.ini");
	pl_config_free(c);
	assert_int_equal(pl_config_load_buffer("mem.ini", buf, sizeof buf - 1, NULL, 0, &c, err, sizeof err),
	                 PL_EINVAL);
	assert_string_equal(err, "mem.ini:3: syntax error (expected [section] or key = value)");
}

static void test_file_errors(void **state)
{
	expect_file_error("[daemon]\nc2s_port = 1\n[nosuch]\nfoo = 1\n", "4: [nosuch] foo: unknown section");
	expect_file_error("[daemon]\n\nc2s_prot = 1\n", "3: [daemon] c2s_prot: unknown key");
	expect_file_error("c2s_port = 1\n", "1: c2s_port: key outside any [section]");
	expect_file_error("[limits]\nc2s_rate = 12a\n", "2: [limits] c2s_rate: not an integer");
	expect_file_error("[limits]\nc2s_rate =\n", "2: [limits] c2s_rate: not an integer");
	expect_file_error("[limits]\nc2s_rate = 0x10\n", "2: [limits] c2s_rate: not an integer");
	expect_file_error("[limits]\nc2s_rate = 1.5\n", "2: [limits] c2s_rate: not an integer");
	expect_file_error("[limits]\nc2s_rate = -\n", "2: [limits] c2s_rate: not an integer");
	expect_file_error("[daemon]\nc2s_port = 65536\n", "2: [daemon] c2s_port: out of range (0..65535)");
	expect_file_error("[daemon]\nc2s_port = -1\n", "2: [daemon] c2s_port: out of range (0..65535)");
	expect_file_error("[limits]\nmax_connections = 99999999999999999999999\n",
	                  "2: [limits] max_connections: out of range (1..1000000)");
	expect_file_error("[limits]\nscram_iterations = 4095\n",
	                  "2: [limits] scram_iterations: out of range (4096..10000000)");
	expect_file_error("[tls]\nself_signed = maybe\n",
	                  "2: [tls] self_signed: not a boolean (true/false/yes/no/on/off/1/0)");
	expect_file_error("[tls]\nstarttls_required =\n",
	                  "2: [tls] starttls_required: not a boolean (true/false/yes/no/on/off/1/0)");
	expect_file_error("[limits]\nmax_offline = 1\n\nmax_offline = 2\n",
	                  "4: [limits] max_offline: duplicate key (first set on line 2)");
	expect_file_error("[limits]\nmax_offline = 1\n[limits]\nMax_Offline = 2\n",
	                  "4: [limits] Max_Offline: duplicate key (first set on line 2)");
	expect_file_error("[daemon]\nlog_level = verbose\n",
	                  "2: [daemon] log_level: 'verbose' is not one of debug, info, warn, error");
	expect_file_error("[store]\nbackend = postgresql\n",
	                  "2: [store] backend: 'postgresql' is not one of sqlite");
	/* syntax errors: a line without '=', an unterminated section */
	expect_file_error("[daemon]\nc2s_port = 1\njunk\n",
	                  "3: syntax error (expected [section] or key = value)");
	expect_file_error("[daemon\nc2s_port = 1\n", "1: syntax error (expected [section] or key = value)");
	/* the first error wins, whatever its kind */
	expect_file_error("[daemon]\njunk\nc2s_port = x\n",
	                  "2: syntax error (expected [section] or key = value)");
	expect_file_error("[daemon]\nc2s_port = x\njunk\n", "2: [daemon] c2s_port: not an integer");
	/* over-long lines and NUL bytes are refused rather than misread */
	char longline[600];
	snprintf(longline, sizeof longline, "[hosts]\nhosts = %0500d\n", 0);
	expect_file_error(longline, "2: line too long (at most 198 characters)");
	char errbuf[256];
	pl_config *c = NULL;
	assert_int_equal(pl_config_load_buffer("nul.ini", "[daemon]\nc2s_port = 1\0\n", 23, NULL, 0, &c,
	                                       errbuf, sizeof errbuf),
	                 PL_EINVAL);
	assert_string_equal(errbuf, "nul.ini:2: invalid NUL byte");
}

static void test_missing_file(void **state)
{
	pl_config *c = (pl_config *)0x1;
	char err[256];
	assert_int_equal(pl_config_load("/tmp/parley-no-such-dir/none.ini", NULL, 0, &c, err, sizeof err),
	                 PL_EIO);
	assert_null(c);
	assert_string_equal(err, "/tmp/parley-no-such-dir/none.ini: cannot open: No such file or directory");
}

static void test_overrides(void **state)
{
	pl_config *c = NULL;
	char err[256];
	const char *ov[] = {"daemon.c2s_port=15222",          "limits.max_offline = 3 ",
	                    "hosts.anonymous=anon.localhost", "tls.self_signed=off",
	                    "daemon.log_level=warn",          "limits.max_offline=4"};
	/* overrides win over the file, later overrides over earlier ones */
	assert_int_equal(
	    load_text("[daemon]\nc2s_port = 1\n[limits]\nmax_offline = 1\n", ov, 6, &c, err, sizeof err), 0);
	assert_int_equal(c->c2s_port, 15222);
	assert_int_equal(c->max_offline, 4);
	assert_int_equal(c->self_signed, 0);
	assert_string_equal(c->log_level, "warn");
	assert_true(pl_config_is_anonymous_host(c, "anon.localhost"));
	assert_true(pl_config_is_host(c, "localhost"));
	pl_config_free(c);
	/* NULL entries are skipped */
	const char *ov2[] = {NULL, "store.path=/tmp/y.db"};
	assert_int_equal(pl_config_load(NULL, ov2, 2, &c, err, sizeof err), 0);
	assert_string_equal(c->store_path, "/tmp/y.db");
	pl_config_free(c);

	expect_override_error("daemon.c2s_prot=1", "command line: --daemon.c2s_prot: unknown key");
	expect_override_error("nosuch.key=1", "command line: --nosuch.key: unknown section");
	expect_override_error("limits.c2s_rate=fast", "command line: --limits.c2s_rate: not an integer");
	expect_override_error("limits.c2s_rate=-5",
	                      "command line: --limits.c2s_rate: out of range (0..1073741824)");
	expect_override_error(
	    "tls.self_signed=2",
	    "command line: --tls.self_signed: not a boolean (true/false/yes/no/on/off/1/0)");
	expect_override_error(
	    "daemon.log_level=loud",
	    "command line: --daemon.log_level: 'loud' is not one of debug, info, warn, error");
	expect_override_error("hosts.hosts=a,,b", "command line: --hosts.hosts: empty item in list");
	expect_override_error("daemon.c2s_port",
	                      "command line: --daemon.c2s_port: expected --section.key=value");
	expect_override_error("c2s_port=1", "command line: --c2s_port=1: expected --section.key=value");
	expect_override_error(".c2s_port=1", "command line: --.c2s_port: unknown key");
}

static void test_override_error_after_good_file(void **state)
{
	pl_config *c = (pl_config *)0x1;
	char err[256];
	const char *ov[] = {"limits.max_offline=x"};
	assert_int_equal(load_text("[limits]\nmax_offline = 1\n", ov, 1, &c, err, sizeof err), PL_EINVAL);
	assert_null(c);
	assert_string_equal(err, "command line: --limits.max_offline: not an integer");
}

static void test_validation(void **state)
{
	expect_file_error(
	    "[hosts]\nhosts = a.example, b.example\nanonymous = B.example\n",
	    "3: [hosts] anonymous: B.example is also in [hosts] hosts (a host is either anonymous or not)");
	expect_file_error("[hosts]\nhosts = a.example, A.EXAMPLE\n",
	                  "2: [hosts] hosts: A.EXAMPLE listed twice");
	expect_file_error("[hosts]\nhosts = user@a.example\n",
	                  "2: [hosts] hosts: invalid character in host name: 'user@a.example'");
	expect_file_error("[hosts]\nanonymous = a..example\n",
	                  "2: [hosts] anonymous: host name has an empty label: 'a..example'");
	expect_file_error("[hosts]\nhosts =\nanonymous =\n", "2: [hosts] hosts: no virtual host configured");
	expect_file_error("[daemon]\nc2s_port = 5000\n\nc2s_tls_port = 5000\n",
	                  "4: [daemon] c2s_tls_port: same port as [daemon] c2s_port (5000)");
	expect_file_error("[store]\npath =\n", "2: [store] path: the sqlite backend needs a database file");

	/* validation errors name the command line when the value came from there */
	expect_override_error("hosts.anonymous=localhost",
	                      "command line: --hosts.anonymous: localhost is also in [hosts] hosts (a host "
	                      "is either anonymous or "
	                      "not)");
	expect_override_error("daemon.c2s_tls_port=5222",
	                      "command line: --daemon.c2s_tls_port: same port as [daemon] c2s_port (5222)");
	expect_override_error("daemon.c2s_port=5223",
	                      "default: [daemon] c2s_tls_port: same port as [daemon] c2s_port (5223)");

	/* both ports 0 is allowed; only-anonymous hosts are allowed */
	pl_config *c = NULL;
	char err[256];
	const char *ov[] = {"daemon.c2s_port=0", "daemon.c2s_tls_port=0",
	                    "hosts.hosts=", "hosts.anonymous=anon.x"};
	assert_int_equal(pl_config_load(NULL, ov, 4, &c, err, sizeof err), 0);
	assert_int_equal(c->hosts.n, 0);
	assert_true(pl_config_is_host(c, "anon.x"));
	assert_true(pl_config_is_anonymous_host(c, "anon.x"));
	pl_config_free(c);
}

static void assert_lists_equal(const pl_strlist *a, const pl_strlist *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->items[i], b->items[i]);
}

static void test_shipped_example(void **state)
{
	/* etc/parley.ini sets every key to its default: loading it must give exactly the defaults (and proves
	 * that every key it documents exists) */
	pl_config *c = NULL, *d = NULL;
	char err[512];
	int rc = pl_config_load("etc/parley.ini", NULL, 0, &c, err, sizeof err);
	assert_int_equal(rc, 0);
	assert_int_equal(pl_config_load(NULL, NULL, 0, &d, err, sizeof err), 0);
	assert_lists_equal(&c->listen, &d->listen);
	assert_lists_equal(&c->hosts, &d->hosts);
	assert_lists_equal(&c->anonymous_hosts, &d->anonymous_hosts);
	assert_lists_equal(&c->http_listen, &d->http_listen);
	assert_lists_equal(&c->trusted_proxies, &d->trusted_proxies);
	assert_lists_equal(&c->cors_origins, &d->cors_origins);
	const char *cs[] = {c->log_level, c->pid_file,      c->admin_socket, c->data_dir, c->cert,
	                    c->key,       c->store_backend, c->store_path,   c->store_dsn, c->web_root};
	const char *ds[] = {d->log_level, d->pid_file,      d->admin_socket, d->data_dir, d->cert,
	                    d->key,       d->store_backend, d->store_path,   d->store_dsn, d->web_root};
	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
		assert_string_equal(cs[i], ds[i]);
	const int ci[] = {c->c2s_port,          c->c2s_tls_port,    c->self_signed,
	                  c->starttls_required, c->max_connections, c->max_connections_per_ip,
	                  c->c2s_rate,          c->c2s_burst,       c->max_stanza_size,
	                  c->max_output_queue,  c->auth_timeout,    c->idle_timeout,
	                  c->max_offline,       c->max_resources,   c->sm_resume_timeout,
	                  c->sm_max_unacked,    c->scram_iterations,  c->http_port,
	                  c->http_tls,          c->http_max_header_size, c->http_max_body_size,
	                  c->http_request_timeout, c->http_keepalive_timeout};
	const int di[] = {d->c2s_port,          d->c2s_tls_port,    d->self_signed,
	                  d->starttls_required, d->max_connections, d->max_connections_per_ip,
	                  d->c2s_rate,          d->c2s_burst,       d->max_stanza_size,
	                  d->max_output_queue,  d->auth_timeout,    d->idle_timeout,
	                  d->max_offline,       d->max_resources,   d->sm_resume_timeout,
	                  d->sm_max_unacked,    d->scram_iterations,  d->http_port,
	                  d->http_tls,          d->http_max_header_size, d->http_max_body_size,
	                  d->http_request_timeout, d->http_keepalive_timeout};
	for (size_t i = 0; i < sizeof ci / sizeof ci[0]; i++)
		assert_int_equal(ci[i], di[i]);
	/* and every key is really written out: a duplicate of each one must be refused */
	static const char *const keys[] = {"daemon.listen",
	                                   "daemon.c2s_port",
	                                   "daemon.c2s_tls_port",
	                                   "daemon.log_level",
	                                   "daemon.pid_file",
	                                   "daemon.admin_socket",
	                                   "daemon.data_dir",
	                                   "hosts.hosts",
	                                   "hosts.anonymous",
	                                   "tls.cert",
	                                   "tls.key",
	                                   "tls.self_signed",
	                                   "tls.starttls_required",
	                                   "limits.max_connections",
	                                   "limits.max_connections_per_ip",
	                                   "limits.c2s_rate",
	                                   "limits.c2s_burst",
	                                   "limits.max_stanza_size",
	                                   "limits.max_output_queue",
	                                   "limits.auth_timeout",
	                                   "limits.idle_timeout",
	                                   "limits.max_offline",
	                                   "limits.max_resources",
	                                   "limits.sm_resume_timeout",
	                                   "limits.sm_max_unacked",
	                                   "limits.scram_iterations",
	                                   "store.backend",
	                                   "store.path",
	                                   "store.dsn",
	                                   "http.port",
	                                   "http.listen",
	                                   "http.tls",
	                                   "http.web_root",
	                                   "http.trusted_proxies",
	                                   "http.cors_origins",
	                                   "http.max_header_size",
	                                   "http.max_body_size",
	                                   "http.request_timeout",
	                                   "http.keepalive_timeout",
	                                   "muc.domains",
	                                   "muc.max_occupants",
	                                   "muc.history_length"};
	FILE *f = fopen("etc/parley.ini", "r");
	assert_non_null(f);
	char text[16384];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char extra[20000];
		const char *dot = strchr(keys[i], '.');
		snprintf(extra, sizeof extra, "%s\n[%.*s]\n%s = x\n", text, (int)(dot - keys[i]), keys[i],
		         dot + 1);
		pl_config *e = NULL;
		assert_int_equal(
		    pl_config_load_buffer("p.ini", extra, strlen(extra), NULL, 0, &e, err, sizeof err),
		    PL_EINVAL);
		assert_non_null(strstr(err, "duplicate key"));
	}
	pl_config_free(c);
	pl_config_free(d);
}

static void test_muc_section(void **state)
{
	pl_config *c = NULL;
	char err[512];
	assert_int_equal(pl_config_load(NULL, NULL, 0, &c, err, sizeof err), 0);
	assert_int_equal(c->muc_domains.n, 1);
	assert_string_equal(c->muc_domains.items[0], "room.localhost");
	assert_int_equal(c->muc_max_occupants, 10000);
	assert_int_equal(c->muc_history_length, 20);
	pl_config_free(c);
	assert_int_equal(load_text("[muc]\ndomains = conf.a, rooms.b\nmax_occupants = 5\nhistory_length = 0\n", NULL,
	                           0, &c, err, sizeof err),
	                 0);
	assert_int_equal(c->muc_domains.n, 2);
	assert_string_equal(c->muc_domains.items[1], "rooms.b");
	assert_int_equal(c->muc_max_occupants, 5);
	assert_int_equal(c->muc_history_length, 0);
	pl_config_free(c);
	/* a MUC domain is a component, never also a virtual host */
	expect_file_error("[muc]\ndomains = localhost\n",
	                  "2: [muc] domains: localhost is also a virtual host in [hosts]");
	expect_file_error("[muc]\ndomains = bad/domain\n",
	                  "2: [muc] domains: invalid character in host name: 'bad/domain'");
}

static void test_http_section(void **state)
{
	pl_config *c = NULL;
	char err[512];
	const char *text = "[http]\nport = 0\nlisten = 127.0.0.1, ::1\ntls = yes\nweb_root = /srv/www\n"
	                   "trusted_proxies = 10.0.0.1, ::1\ncors_origins = *\nmax_header_size = 2048\n"
	                   "max_body_size = 0\nrequest_timeout = 5\nkeepalive_timeout = 7\n";
	assert_int_equal(load_text(text, NULL, 0, &c, err, sizeof err), 0);
	assert_int_equal(c->http_port, 0);
	assert_int_equal(c->http_listen.n, 2);
	assert_string_equal(c->http_listen.items[1], "::1");
	assert_int_equal(c->http_tls, 1);
	assert_string_equal(c->web_root, "/srv/www");
	assert_int_equal(c->trusted_proxies.n, 2);
	assert_string_equal(c->trusted_proxies.items[0], "10.0.0.1");
	assert_int_equal(c->cors_origins.n, 1);
	assert_string_equal(c->cors_origins.items[0], "*");
	assert_int_equal(c->http_max_header_size, 2048);
	assert_int_equal(c->http_max_body_size, 0);
	assert_int_equal(c->http_request_timeout, 5);
	assert_int_equal(c->http_keepalive_timeout, 7);
	pl_config_free(c);
	expect_file_error("[http]\nmax_header_size = 100\n", "2: [http] max_header_size: out of range (1024..1048576)");
	expect_file_error("[http]\nrequest_timeout = 0\n", "2: [http] request_timeout: out of range (1..3600)");
	expect_file_error("[http]\nlisten = bad/addr\n", "2: [http] listen: 'bad/addr' is not an address");
	expect_file_error("[http]\nport = 5222\n", "2: [http] port: same port as an XMPP listener (5222)");
	expect_override_error("http.port=5223",
	                      "command line: --http.port: same port as an XMPP listener (5223)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),    cmocka_unit_test(test_empty_file_is_defaults),
	    cmocka_unit_test(test_http_section), cmocka_unit_test(test_muc_section),
	    cmocka_unit_test(test_every_type),  cmocka_unit_test(test_booleans),
	    cmocka_unit_test(test_lists),       cmocka_unit_test(test_ini_details),
	    cmocka_unit_test(test_file_errors), cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_overrides),   cmocka_unit_test(test_override_error_after_good_file),
	    cmocka_unit_test(test_validation),  cmocka_unit_test(test_shipped_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
