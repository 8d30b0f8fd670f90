/* parleyctl.c: the admin tool. It reads the same configuration as parleyd (--config FILE or ./parley.ini,
 * then --section.key=value overrides), manages accounts directly in the store (adduser, passwd, deluser,
 * users: the store is opened, one operation is submitted, the loop runs until its callback has fired,
 * the store is closed), validates a configuration (check) and asks a running server for its status over
 * the admin socket (status). It never talks XMPP.
 *
 * Exit codes: 0 ok, 1 the operation failed, 2 usage or configuration error, 3 server not reachable. */
#include "core/admin.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "store/store.h"
#include "xmpp/jid.h"
#include "xmpp/sasl.h"
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

#define MAX_PASSWORD 1024

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: parleyctl [--config FILE] [--section.key=value ...] <command> [args]\n"
	       "commands:\n"
	       "  adduser JID [PASSWORD]   create an account (password read from stdin when not given)\n"
	       "  passwd JID [PASSWORD]    change the password of an account\n"
	       "  deluser JID              delete an account with its roster and offline messages\n"
	       "  users [HOST]             list accounts, one JID per line (default: every configured host)\n"
	       "  check                    validate the configuration\n"
	       "  status                   show the status of the running server (admin socket)\n"
	       "  help                     this text\n"
	       "The configuration is FILE, else ./parley.ini when present, else the built-in defaults.\n"
	       "Exit codes: 0 ok, 1 operation failed, 2 usage or configuration error, 3 server not "
	       "reachable.\n");
}

/* ---- store operations: submit one, run the loop until it completes ---- */

typedef struct op_state {
	int done;
	int status;
	const char *host; /* for users */
} op_state;

static void on_done(void *ud, int status)
{
	op_state *st = ud;
	st->status = status;
	st->done = 1;
}

static void on_list(void *ud, int status, const char *const *names, size_t n)
{
	op_state *st = ud;
	st->status = status;
	st->done = 1;
	if (status != 0) return;
	for (size_t i = 0; i < n; i++)
		printf("%s@%s\n", names[i], st->host);
}

static int open_store(const pl_config *cfg, uv_loop_t *loop, pl_store **out)
{
	char err[512] = "";
	const char *where = !strcmp(cfg->store_backend, "sqlite") ? cfg->store_path : cfg->store_dsn;
	int rc = pl_store_open(loop, cfg->store_backend, where, out, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "error: cannot open the store: %s\n", err[0] ? err : pl_strerror(rc));
		return -1;
	}
	return 0;
}

/* Runs the loop until st->done (the store's completion callback fired). */
static void wait_op(uv_loop_t *loop, op_state *st)
{
	while (!st->done)
		uv_run(loop, UV_RUN_ONCE);
}

/* ---- arguments ---- */

/* Parses and checks an account JID: prepared, with a node, no resource, on a configured host that is not
 * anonymous. Returns 0 or prints the problem and returns EXIT_USAGE. */
static int account_jid(const pl_config *cfg, const char *s, pl_jid *j)
{
	if (pl_jid_parse(s, j) != 0) {
		fprintf(stderr, "error: invalid JID '%s'\n", s);
		return EXIT_USAGE;
	}
	int rc = EXIT_USAGE;
	if (!j->node)
		fprintf(stderr, "error: %s has no user part (expected user@host)\n", s);
	else if (j->resource)
		fprintf(stderr, "error: %s has a resource; give the bare JID user@host\n", s);
	else if (!pl_config_is_host(cfg, j->domain))
		fprintf(stderr, "error: host %s is not configured (see [hosts] hosts)\n", j->domain);
	else if (pl_config_is_anonymous_host(cfg, j->domain))
		fprintf(stderr, "error: %s is an anonymous host: it has no accounts\n", j->domain);
	else
		rc = 0;
	if (rc != 0) pl_jid_clear(j);
	return rc;
}

/* Reads one line from stdin into buf (trailing newline stripped), without echo on a terminal. */
static int read_password(char *buf, size_t n)
{
	int tty = isatty(STDIN_FILENO);
	struct termios old, noecho;
	if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		fprintf(stderr, "Password: ");
		fflush(stderr);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	} else {
		tty = 0;
	}
	char *r = fgets(buf, (int)n, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!r) return -1;
	size_t len = strlen(buf);
	if (len == n - 1 && buf[len - 1] != '\n') return -2; /* too long */
	if (len && buf[len - 1] == '\n') buf[--len] = 0;
	if (len && buf[len - 1] == '\r') buf[--len] = 0;
	return 0;
}

/* ---- commands ---- */

static int cmd_setpass(const pl_config *cfg, int create, int argc, char **argv)
{
	if (argc < 1 || argc > 2) {
		fprintf(stderr, "usage: parleyctl %s JID [PASSWORD]\n", create ? "adduser" : "passwd");
		return EXIT_USAGE;
	}
	pl_jid j;
	int rc = account_jid(cfg, argv[0], &j);
	if (rc != 0) return rc;
	char pw[MAX_PASSWORD];
	if (argc == 2) {
		snprintf(pw, sizeof pw, "%s", argv[1]);
		if (strlen(argv[1]) >= sizeof pw) pw[0] = 0, rc = -2;
	} else {
		rc = read_password(pw, sizeof pw);
		if (rc == -1) pw[0] = 0, rc = 0;
	}
	if (rc == -2) {
		fprintf(stderr, "error: password too long (at most %d bytes)\n", MAX_PASSWORD - 2);
		pl_jid_clear(&j);
		return EXIT_USAGE;
	}
	if (!pw[0]) {
		fprintf(stderr, "error: empty password\n");
		pl_jid_clear(&j);
		return EXIT_USAGE;
	}
	pl_sasl_creds creds;
	rc = pl_sasl_derive_creds(pw, cfg->scram_iterations, &creds);
	memset(pw, 0, sizeof pw);
	if (rc != 0) {
		fprintf(stderr, "error: password not accepted (it must pass SASLprep)\n");
		pl_jid_clear(&j);
		return EXIT_USAGE;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	pl_store *store = NULL;
	int ret = EXIT_FAILED;
	if (open_store(cfg, &loop, &store) == 0) {
		op_state st = {0};
		rc = create ? pl_store_account_create(store, j.domain, j.node, &creds, on_done, &st)
		            : pl_store_account_set_creds(store, j.domain, j.node, &creds, on_done, &st);
		if (rc == 0) {
			wait_op(&loop, &st);
			rc = st.status;
		}
		pl_store_close(store);
		if (rc == 0) {
			printf(create ? "user %s@%s created\n" : "password of %s@%s changed\n", j.node,
			       j.domain);
			ret = EXIT_OK;
		} else if (rc == PL_EEXIST) {
			fprintf(stderr, "error: user %s@%s already exists\n", j.node, j.domain);
		} else if (rc == PL_ENOTFOUND) {
			fprintf(stderr, "error: no such user\n");
		} else {
			fprintf(stderr, "error: store: %s\n", pl_strerror(rc));
		}
	}
	memset(&creds, 0, sizeof creds);
	uv_loop_close(&loop);
	pl_jid_clear(&j);
	return ret;
}

static int cmd_deluser(const pl_config *cfg, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: parleyctl deluser JID\n");
		return EXIT_USAGE;
	}
	pl_jid j;
	int rc = account_jid(cfg, argv[0], &j);
	if (rc != 0) return rc;
	uv_loop_t loop;
	uv_loop_init(&loop);
	pl_store *store = NULL;
	int ret = EXIT_FAILED;
	if (open_store(cfg, &loop, &store) == 0) {
		op_state st = {0};
		rc = pl_store_account_delete(store, j.domain, j.node, on_done, &st);
		if (rc == 0) {
			wait_op(&loop, &st);
			rc = st.status;
		}
		pl_store_close(store);
		if (rc == 0) {
			printf("user %s@%s deleted\n", j.node, j.domain);
			ret = EXIT_OK;
		} else if (rc == PL_ENOTFOUND) {
			fprintf(stderr, "error: no such user\n");
		} else {
			fprintf(stderr, "error: store: %s\n", pl_strerror(rc));
		}
	}
	uv_loop_close(&loop);
	pl_jid_clear(&j);
	return ret;
}

static int cmd_users(const pl_config *cfg, int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "usage: parleyctl users [HOST]\n");
		return EXIT_USAGE;
	}
	/* the hosts to list, prepared like the domain of a JID (the store is keyed by prepared names) */
	size_t nhosts = argc == 1 ? 1 : cfg->hosts.n;
	char **hosts = pl_calloc(nhosts ? nhosts : 1, sizeof(char *));
	int ret = EXIT_OK;
	for (size_t i = 0; i < nhosts && ret == EXIT_OK; i++) {
		const char *h = argc == 1 ? argv[0] : cfg->hosts.items[i];
		if (pl_jid_nameprep(h, &hosts[i]) != 0) {
			fprintf(stderr, "error: invalid host name '%s'\n", h);
			ret = EXIT_USAGE;
		} else if (!pl_config_is_host(cfg, hosts[i])) {
			fprintf(stderr, "error: host %s is not configured (see [hosts] hosts)\n", hosts[i]);
			ret = EXIT_USAGE;
		}
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	pl_store *store = NULL;
	if (ret == EXIT_OK && nhosts && open_store(cfg, &loop, &store) != 0) ret = EXIT_FAILED;
	for (size_t i = 0; i < nhosts && ret == EXIT_OK; i++) {
		op_state st = {.host = hosts[i]};
		int rc = pl_store_account_list(store, hosts[i], on_list, &st);
		if (rc == 0) {
			wait_op(&loop, &st);
			rc = st.status;
		}
		if (rc != 0) {
			fprintf(stderr, "error: store: %s\n", pl_strerror(rc));
			ret = EXIT_FAILED;
		}
	}
	if (store) pl_store_close(store);
	uv_loop_close(&loop);
	for (size_t i = 0; i < nhosts; i++)
		free(hosts[i]);
	free(hosts);
	return ret;
}

static int cmd_status(const pl_config *cfg)
{
	if (!cfg->admin_socket || !*cfg->admin_socket) {
		fprintf(stderr, "error: no admin socket configured ([daemon] admin_socket)\n");
		return EXIT_USAGE;
	}
	char err[512];
	char *reply = NULL;
	int rc = pl_admin_request(cfg->admin_socket, "status", 5000, &reply, err, sizeof err);
	if (rc == PL_ECLOSED) {
		fprintf(stderr, "error: parleyd is not running (nothing listens on %s)\n", cfg->admin_socket);
		return EXIT_UNREACHABLE;
	}
	if (rc != 0) {
		fprintf(stderr, "error: server not reachable: %s\n", err);
		return EXIT_UNREACHABLE;
	}
	printf("%s\n", reply);
	int ret = strncmp(reply, "{\"error\"", 8) == 0 ? EXIT_FAILED : EXIT_OK;
	free(reply);
	return ret;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	const char **overrides = pl_calloc((size_t)argc + 1, sizeof(char *));
	size_t noverrides = 0;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			free(overrides);
			return EXIT_OK;
		} else if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "parleyctl: --config needs a file\n");
				free(overrides);
				return EXIT_USAGE;
			}
			config_path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			config_path = a + 9;
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strncmp(a, "--", 2)) {
			if (!strchr(a, '.') || !strchr(a, '=')) {
				fprintf(
				    stderr,
				    "parleyctl: unknown option '%s' (overrides are --section.key=value)\n",
				    a);
				free(overrides);
				return EXIT_USAGE;
			}
			overrides[noverrides++] = a + 2;
		} else {
			break; /* the command: everything after it is its arguments */
		}
	}
	if (i >= argc) {
		usage(stderr);
		free(overrides);
		return EXIT_USAGE;
	}
	const char *cmd = argv[i];
	int cargc = argc - i - 1;
	char **cargv = argv + i + 1;
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		free(overrides);
		return EXIT_OK;
	}
	if (!config_path && access("parley.ini", R_OK) == 0) config_path = "parley.ini";

	pl_log_set_level(PL_LOG_WARN);
	char err[1024];
	pl_config *cfg = NULL;
	if (pl_config_load(config_path, overrides, noverrides, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "parleyctl: %s\n", err);
		free(overrides);
		return EXIT_USAGE;
	}
	free(overrides);

	int ret;
	if (!strcmp(cmd, "check")) {
		if (cargc != 0) {
			fprintf(stderr, "usage: parleyctl check\n");
			ret = EXIT_USAGE;
		} else {
			printf("config ok: %s\n", config_path ? config_path : "(built-in defaults)");
			ret = EXIT_OK;
		}
	} else if (!strcmp(cmd, "status")) {
		ret =
		    cargc == 0 ? cmd_status(cfg) : (fprintf(stderr, "usage: parleyctl status\n"), EXIT_USAGE);
	} else if (!strcmp(cmd, "adduser")) {
		ret = cmd_setpass(cfg, 1, cargc, cargv);
	} else if (!strcmp(cmd, "passwd")) {
		ret = cmd_setpass(cfg, 0, cargc, cargv);
	} else if (!strcmp(cmd, "deluser")) {
		ret = cmd_deluser(cfg, cargc, cargv);
	} else if (!strcmp(cmd, "users")) {
		ret = cmd_users(cfg, cargc, cargv);
	} else {
		fprintf(stderr, "parleyctl: unknown command '%s'\n", cmd);
		usage(stderr);
		ret = EXIT_USAGE;
	}
	pl_config_free(cfg);
	return ret;
}
