/* main.c: parleyd, the daemon. It parses the command line (--config FILE, --section.key=value
 * overrides), loads and checks the configuration, prepares the data directory and pid file, starts the
 * XMPP server and the admin socket on one libuv loop, and handles signals: SIGHUP reloads the
 * configuration and certificates, SIGTERM and SIGINT shut down gracefully. It always runs in the
 * foreground and logs to stderr (systemd and the terminal both want that). */
#include "core/admin.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "xmpp/server.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARLEY_VERSION "0.1.0"

static struct {
	const char *config_path;
	const char **overrides;
	size_t noverrides;
	uv_loop_t *loop;
	pl_server *srv;
	pl_admin *admin;
	uv_signal_t sig_hup, sig_term, sig_int;
	int stopping;
} g;

static void usage(FILE *f)
{
	fprintf(f, "usage: parleyd [--config FILE] [--section.key=value ...]\n"
		   "  --config FILE          configuration file (default: ./parley.ini when present)\n"
		   "  --section.key=value    override one configuration key, e.g. --daemon.c2s_port=15222\n"
		   "  --version              print the version\n"
		   "Runs in the foreground and logs to stderr. SIGHUP reloads, SIGTERM stops.\n");
}

static int mkdir_p(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/') continue;
		*p = 0;
		if (mkdir(tmp, 0750) != 0 && errno != EEXIST) return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0750) != 0 && errno != EEXIST) return -1;
	return 0;
}

static int load_config(pl_config **out)
{
	char err[1024];
	if (pl_config_load(g.config_path, g.overrides, g.noverrides, out, err, sizeof err) != 0) {
		fprintf(stderr, "parleyd: %s\n", err);
		return -1;
	}
	enum pl_log_level lvl;
	if (pl_log_parse_level((*out)->log_level, &lvl) == 0) pl_log_set_level(lvl);
	return 0;
}

/* Raises the open-file limit to its hard maximum: every client connection is a descriptor, and the soft
 * default (often 1024) would cap a small server far below max_connections. */
static void raise_nofile(int wanted)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl); /* warn on the real one */
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)wanted)
		PL_WARN(0, "open-file limit %llu is below max_connections %d: raise LimitNOFILE or ulimit -n",
			(unsigned long long)rl.rlim_cur, wanted);
}

static char *status_cb(void *ud) { return pl_server_status_json(g.srv); }

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void shutdown_done(pl_server *srv)
{
	if (g.admin) pl_admin_stop(g.admin);
	g.admin = NULL;
	uv_signal_stop(&g.sig_hup);
	uv_signal_stop(&g.sig_term);
	uv_signal_stop(&g.sig_int);
	uv_close((uv_handle_t *)&g.sig_hup, NULL);
	uv_close((uv_handle_t *)&g.sig_term, NULL);
	uv_close((uv_handle_t *)&g.sig_int, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	if (signum == SIGHUP) {
		PL_INFO(0, "SIGHUP: reloading %s", g.config_path ? g.config_path : "(defaults)");
		pl_config *cfg = NULL;
		if (load_config(&cfg) != 0) {
			PL_ERROR(0, "reload failed: the running configuration stays");
			return;
		}
		char err[1024];
		if (pl_server_reload(g.srv, cfg, err, sizeof err) != 0) PL_ERROR(0, "reload failed: %s", err);
		return;
	}
	if (g.stopping) {
		PL_WARN(0, "second signal: exiting at once");
		exit(1);
	}
	g.stopping = 1;
	PL_INFO(0, "%s received", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	pl_server_shutdown(g.srv, shutdown_done);
}

int main(int argc, char **argv)
{
	g.overrides = pl_calloc((size_t)argc, sizeof(char *));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("parleyd %s\n", PARLEY_VERSION);
			return 0;
		} else if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "parleyd: --config needs a file\n");
				return 2;
			}
			g.config_path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			g.config_path = a + 9;
		} else if (!strncmp(a, "--", 2) && strchr(a, '.') && strchr(a, '=')) {
			g.overrides[g.noverrides++] = a + 2;
		} else {
			fprintf(stderr, "parleyd: unknown argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!g.config_path && access("parley.ini", R_OK) == 0) g.config_path = "parley.ini";

	pl_config *cfg = NULL;
	if (load_config(&cfg) != 0) return 2;
	if (cfg->data_dir && *cfg->data_dir && mkdir_p(cfg->data_dir) != 0) {
		fprintf(stderr, "parleyd: cannot create data directory %s: %s\n", cfg->data_dir, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(cfg->max_connections);
	g.loop = uv_default_loop();
	char err[1024];
	char *admin_path = pl_strdup(cfg->admin_socket);
	char *pid_file = pl_strdup(cfg->pid_file);
	if (pl_server_start(g.loop, cfg, &g.srv, err, sizeof err) != 0) {
		fprintf(stderr, "parleyd: %s\n", err);
		pl_config_free(cfg);
		return 1;
	}
	if (admin_path && *admin_path && pl_admin_start(g.loop, admin_path, status_cb, NULL, &g.admin) != 0)
		PL_WARN(0, "admin socket %s unavailable: parleyctl status will not work", admin_path);
	if (pid_file && *pid_file) {
		FILE *f = fopen(pid_file, "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		} else {
			PL_WARN(0, "cannot write pid file %s: %s", pid_file, strerror(errno));
		}
	}
	uv_signal_init(g.loop, &g.sig_hup);
	uv_signal_init(g.loop, &g.sig_term);
	uv_signal_init(g.loop, &g.sig_int);
	uv_signal_start(&g.sig_hup, on_signal, SIGHUP);
	uv_signal_start(&g.sig_term, on_signal, SIGTERM);
	uv_signal_start(&g.sig_int, on_signal, SIGINT);
	PL_INFO(0, "parleyd %s ready (config: %s); add a user with: parleyctl%s%s adduser user@%s", PARLEY_VERSION,
		g.config_path ? g.config_path : "built-in defaults", g.config_path ? " --config " : "",
		g.config_path ? g.config_path : "", g.srv->cfg->hosts.n ? g.srv->cfg->hosts.items[0] : "localhost");

	uv_run(g.loop, UV_RUN_DEFAULT);
	uv_walk(g.loop, close_walk, NULL);
	uv_run(g.loop, UV_RUN_DEFAULT);
	pl_server_free(g.srv);
	if (pid_file && *pid_file) unlink(pid_file);
	free(pid_file);
	free(admin_path);
	uv_loop_close(g.loop);
	free(g.overrides);
	return 0;
}
