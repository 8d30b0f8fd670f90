/* xmppload.c: the command line and the scenarios of xmppload, the XMPP load tool of bench/run.sh.
 *
 *   xmppload register  create bench<first>..bench<first+users-1> by in-band registration (XEP-0077)
 *   xmppload login     log every user in (TLS, SASL, bind) and out again; logins per second
 *   xmppload idle      keep --users sessions open; the server's RSS per session from /proc/PID/status
 *   xmppload msg       --pairs pairs send --messages chat messages each to the partner's full JID with at
 *                      most --window in flight; delivered messages per second and latency percentiles
 *
 * Output is plain lines "metric value unit" on stdout, then one "summary ..." line; diagnostics go to
 * stderr. Every scenario ends by itself: by its counts, or by --timeout (then the exit code is 2 and the
 * figures cover what was done). Connection failures are counted by reason and printed as "error" lines;
 * the exit code is 1 when any happened. The stream code is in xmppload_conn.c, SASL in xmppload_sasl.c,
 * the WebSocket transport (--transport ws: RFC 7395 on ws://, --port is then the HTTP port) in
 * xmppload_ws.c; every scenario runs over either transport. */
#include "xmppload.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_REASONS 16

enum scenario { SC_REGISTER, SC_LOGIN, SC_IDLE, SC_MSG };

static struct {
	enum scenario sc;
	struct xl_opts o;
	int users, first, concurrency, passes, pairs, messages, window, pid;
	double timeout, settle, keepalive;
	const char *cache;
} cfg = {
    .o = {.host = "127.0.0.1",
          .port = 5222,
          .domain = "localhost",
          .password = "bench",
          .resource = "xl",
          .use_tls = 1,
          .ws_path = "/xmpp-websocket"},
    .users = 1000,
    .first = 1,
    .concurrency = 50,
    .passes = 2,
    .pairs = 50,
    .messages = 1000,
    .window = 10,
    .timeout = 300,
    .settle = 3,
    .keepalive = 30,
};

static uv_loop_t *loop;
static uv_timer_t timeout_timer, phase_timer, keepalive_timer;
static struct xl_conn **conns; /* every connection of the run, by slot */
static int nconns;             /* slots in use */
static int open_conns;         /* started and not yet closed */
static int timed_out, stopping;
static uint64_t errors;
static struct {
	char why[80];
	uint64_t n;
} reasons[MAX_REASONS];

/* per-pass (login, register) or ramp (idle, msg) progress */
static int launched, done_ok, done_fail, target;
static int reg_conflicts;
static uint64_t phase_start;
static uint32_t *lat_us; /* latencies in microseconds */
static size_t lat_n, lat_cap;
static void (*on_all_ready)(void);

/* msg scenario */
struct msg_peer {
	int sent, received, partner_slot, is_sender;
};
static struct msg_peer *peers;
static uint64_t msg_delivered, msg_target, msg_errors, msg_start, msg_end;

static double now_s(void)
{
	return (double)uv_hrtime() / 1e9;
}

static void count_error(const char *why)
{
	errors++;
	for (int i = 0; i < MAX_REASONS; i++) {
		if (reasons[i].n && !strcmp(reasons[i].why, why)) {
			reasons[i].n++;
			return;
		}
		if (!reasons[i].n) {
			snprintf(reasons[i].why, sizeof reasons[i].why, "%s", why);
			reasons[i].n = 1;
			return;
		}
	}
	reasons[MAX_REASONS - 1].n++; /* the last slot collects the rest */
}

static void lat_add(uint64_t ns)
{
	if (lat_n < lat_cap) lat_us[lat_n++] = (uint32_t)(ns / 1000 > UINT32_MAX ? UINT32_MAX : ns / 1000);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void print_latency(const char *prefix)
{
	if (!lat_n) return;
	qsort(lat_us, lat_n, sizeof *lat_us, cmp_u32);
	double p[] = {50, 90, 99, 99.9};
	const char *name[] = {"p50", "p90", "p99", "p999"};
	for (int i = 0; i < 4; i++) {
		size_t k = (size_t)(p[i] / 100.0 * (double)(lat_n - 1) + 0.5);
		printf("%s_%s %.3f ms\n", prefix, name[i], lat_us[k] / 1000.0);
	}
	printf("%s_max %.3f ms\n", prefix, lat_us[lat_n - 1] / 1000.0);
}

/* VmRSS of a process in KiB, or -1. */
static long read_rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f) return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6)) kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/* CPU seconds (user + system) used so far by a process (pid > 0) or by this one (pid 0); -1 if unknown. */
static double cpu_seconds(int pid)
{
	if (pid == 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		       ru.ru_stime.tv_usec / 1e6;
	}
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f) return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may contain spaces */
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double cpu0_client, cpu0_server;

static void cpu_mark(void)
{
	cpu0_client = cpu_seconds(0);
	cpu0_server = cfg.pid > 0 ? cpu_seconds(cfg.pid) : -1;
}

/* Prints the CPU used since cpu_mark() as a percentage of one core over el seconds. */
static void cpu_report(const char *what, double el)
{
	if (el <= 0) return;
	printf("%s_client_cpu %.0f %%\n", what, 100 * (cpu_seconds(0) - cpu0_client) / el);
	double s = cfg.pid > 0 ? cpu_seconds(cfg.pid) : -1;
	if (s >= 0 && cpu0_server >= 0) printf("%s_server_cpu %.0f %%\n", what, 100 * (s - cpu0_server) / el);
}

/* ---- connection pool ---- */

static void launch_next(void);
static void phase_done(void);
static void on_timeout(uv_timer_t *t);

static void conn_ready(struct xl_conn *c);
static void conn_stanza(struct xl_conn *c, struct xl_node *n);

static void check_ramp(void)
{
	if ((cfg.sc == SC_IDLE || cfg.sc == SC_MSG) && done_ok + done_fail == target && on_all_ready) {
		void (*f)(void) = on_all_ready;
		on_all_ready = NULL;
		f();
	}
}

static void conn_fail(struct xl_conn *c, const char *why)
{
	if (stopping) return;
	count_error(why);
	if (c->state < XL_S_READY) { /* a failed login or registration */
		done_fail++;
		check_ramp();
		return;
	}
	if (cfg.sc == SC_MSG && msg_start) {
		/* a lost peer: its undelivered messages will never arrive; stop waiting for them */
		struct msg_peer *p = &peers[(intptr_t)c->data];
		struct msg_peer *s = p->is_sender ? p : &peers[p->partner_slot];
		msg_target -= (uint64_t)(cfg.messages - s->received);
		s->received = cfg.messages;
	}
}

static void conn_closed(struct xl_conn *c)
{
	int slot = (int)(intptr_t)c->data;
	conns[slot] = NULL;
	free(c);
	open_conns--;
	if (stopping) {
		if (open_conns == 0) uv_stop(loop);
		return;
	}
	if (cfg.sc == SC_REGISTER || cfg.sc == SC_LOGIN)
		launch_next();
	else if (done_ok + done_fail < target)
		launch_next();
	if (done_ok + done_fail == target && open_conns == 0 && (cfg.sc == SC_REGISTER || cfg.sc == SC_LOGIN))
		phase_done();
	if (cfg.sc == SC_MSG && msg_start && msg_delivered >= msg_target) phase_done();
}

static struct xl_conn_ops ops = {conn_ready, conn_stanza, conn_fail, conn_closed};

/* Starts the connection for slot launched (user first+launched) when the concurrency allows. */
static void launch_next(void)
{
	while (launched < target && launched - done_ok - done_fail < cfg.concurrency &&
	       (cfg.sc == SC_IDLE || cfg.sc == SC_MSG || open_conns < cfg.concurrency)) {
		int slot = launched++;
		struct xl_conn *c = xl_calloc(1, sizeof *c);
		c->ops = &ops;
		c->opts = &cfg.o;
		c->data = (void *)(intptr_t)slot;
		c->index = cfg.first + slot;
		c->mode = cfg.sc == SC_REGISTER ? XL_MODE_REGISTER : XL_MODE_LOGIN;
		conns[slot] = c;
		open_conns++;
		xl_conn_start(loop, c);
	}
}

static void conn_ready(struct xl_conn *c)
{
	done_ok++;
	lat_add(c->t_ready - c->t_start);
	if (c->reg_conflict) reg_conflicts++;
	if (cfg.sc == SC_REGISTER || cfg.sc == SC_LOGIN) {
		xl_conn_close(c);
		return;
	}
	launch_next();
	check_ramp();
}

/* Stops everything: closes (or aborts) the remaining connections and ends the loop when all are closed. */
static void stop_all(int abort_conns)
{
	stopping = 1;
	uv_timer_stop(&phase_timer);
	uv_timer_stop(&keepalive_timer);
	uv_timer_stop(&timeout_timer);
	for (int i = 0; i < nconns; i++)
		if (conns[i]) {
			if (abort_conns)
				xl_conn_abort(conns[i]);
			else
				xl_conn_close(conns[i]);
		}
	if (open_conns == 0)
		uv_stop(loop);
	else if (!abort_conns) /* a bounded wait for clean closes, then on_timeout aborts */
		uv_timer_start(&timeout_timer, on_timeout, 5000, 0);
}

static void on_timeout(uv_timer_t *t)
{
	if (stopping) {
		stop_all(1);
		return;
	}
	timed_out = 1;
	fprintf(stderr, "xmppload: timeout after %.0f s\n", cfg.timeout);
	phase_done();
}

static void start_phase(int n)
{
	launched = done_ok = done_fail = 0;
	target = n;
	lat_n = 0;
	phase_start = uv_hrtime();
	cpu_mark();
	launch_next();
	if (n == 0) phase_done();
}

/* ---- scenarios ---- */

static int pass_no;

static void report_pass(const char *what, const char *unit)
{
	double el = (double)(uv_hrtime() - phase_start) / 1e9;
	printf("%s_ok %d count\n", what, done_ok);
	printf("%s_failed %d count\n", what, done_fail);
	printf("%s_elapsed %.3f s\n", what, el);
	printf("%s_per_s %.1f %s/s\n", what, el > 0 ? done_ok / el : 0.0, unit);
	cpu_report(what, el);
	print_latency(what);
}

static void on_keepalive(uv_timer_t *t)
{
	for (int i = 0; i < nconns; i++)
		if (conns[i] && conns[i]->state == XL_S_READY) xl_conn_keepalive(conns[i]);
}

static void idle_measure(uv_timer_t *t)
{
	long after = cfg.pid > 0 ? read_rss_kib(cfg.pid) : -1;
	printf("idle_sessions %d count\n", done_ok);
	if (after >= 0) {
		long before = (long)(intptr_t)t->data;
		printf("server_rss_before %ld KiB\n", before);
		printf("server_rss_after %ld KiB\n", after);
		if (done_ok > 0) printf("rss_per_session %.2f KiB\n", (double)(after - before) / done_ok);
	}
	phase_done();
}

static void idle_all_ready(void)
{
	double el = (double)(uv_hrtime() - phase_start) / 1e9;
	printf("idle_ramp_elapsed %.3f s\n", el);
	printf("idle_ramp_login_per_s %.1f login/s\n", el > 0 ? done_ok / el : 0.0);
	uv_timer_start(&phase_timer, idle_measure, (uint64_t)(cfg.settle * 1000), 0);
}

static int alive(struct xl_conn *c)
{
	return c && c->state == XL_S_READY && !c->failed && !c->closing;
}

static void msg_send_some(int slot)
{
	struct msg_peer *p = &peers[slot];
	struct xl_conn *c = conns[slot], *to = conns[p->partner_slot];
	char buf[8192];
	size_t len = 0, lens[64];
	int nmsg = 0;
	if (!alive(c) || !alive(to)) return;
	while (p->sent < cfg.messages && p->sent - p->received < cfg.window) {
		int n = snprintf(buf + len, sizeof buf - len,
		                 "<message%s to='%s' type='chat' id='m%d'><body>xl %llu %d</body></message>",
		                 xl_conn_client_ns(c), to->jid, p->sent, (unsigned long long)uv_hrtime(),
		                 p->sent);
		if (n < 0 || (size_t)n >= sizeof buf - len) break;
		len += (size_t)n;
		lens[nmsg++] = (size_t)n;
		p->sent++;
		if (sizeof buf - len < 600 || nmsg == 64) break;
	}
	if (nmsg) xl_conn_send_batch(c, buf, lens, nmsg);
}

static void msg_all_ready(void)
{
	double el = (double)(uv_hrtime() - phase_start) / 1e9;
	printf("msg_login_elapsed %.3f s\n", el);
	lat_n = 0;
	msg_target = 0;
	for (int i = 0; i < nconns; i++)
		if (peers[i].is_sender && alive(conns[i]) && alive(conns[peers[i].partner_slot]))
			msg_target += (uint64_t)cfg.messages;
		else if (peers[i].is_sender)
			peers[i].received = cfg.messages;
	msg_start = uv_hrtime();
	cpu_mark();
	if (msg_target == 0) {
		phase_done();
		return;
	}
	for (int i = 0; i < nconns; i++)
		if (peers[i].is_sender) msg_send_some(i);
}

static void conn_stanza(struct xl_conn *c, struct xl_node *n)
{
	if (cfg.sc != SC_MSG || strcmp(n->name, "jabber:client message")) return;
	int slot = (int)(intptr_t)c->data;
	struct msg_peer *p = &peers[slot];
	const char *type = xl_node_attr(n, "type");
	struct msg_peer *sender;
	int sender_slot;
	if (type && !strcmp(type, "error")) {
		msg_errors++;
		count_error("message error");
		sender = p;
		sender_slot = slot;
	} else {
		struct xl_node *b = xl_node_child(n, "jabber:client body");
		unsigned long long t;
		if (p->is_sender || !b || !b->text || sscanf(b->text, "xl %llu", &t) != 1)
			return; /* not one of ours (e.g. a server notice) */
		lat_add(uv_hrtime() - t);
		sender_slot = p->partner_slot;
		sender = &peers[sender_slot];
	}
	sender->received++;
	msg_delivered++;
	msg_end = uv_hrtime();
	if (msg_delivered >= msg_target) {
		phase_done();
		return;
	}
	msg_send_some(sender_slot);
}

static void phase_done(void)
{
	if (stopping) return;
	switch (cfg.sc) {
	case SC_REGISTER:
		report_pass("register", "registrations");
		printf("register_existing %d count\n", reg_conflicts);
		break;
	case SC_LOGIN:
		pass_no++;
		if (pass_no < cfg.passes && !timed_out) {
			char what[32];
			snprintf(what, sizeof what, "login_pass%d", pass_no);
			report_pass(what, "logins");
			printf("pbkdf2_computed %llu count\n", (unsigned long long)xl_pbkdf2_count);
			start_phase(cfg.users);
			return;
		}
		report_pass("login", "logins");
		break;
	case SC_IDLE:
		if (timed_out) printf("idle_sessions %d count\n", done_ok);
		break;
	case SC_MSG: {
		double el = msg_start ? (double)((msg_end ? msg_end : uv_hrtime()) - msg_start) / 1e9 : 0;
		printf("msg_delivered %llu count\n", (unsigned long long)msg_delivered - msg_errors);
		printf("msg_errors %llu count\n", (unsigned long long)msg_errors);
		printf("msg_elapsed %.3f s\n", el);
		printf("msg_per_s %.1f msg/s\n", el > 0 ? (double)(msg_delivered - msg_errors) / el : 0.0);
		cpu_report("msg", el);
		print_latency("msg_latency");
		break;
	}
	}
	stop_all(timed_out);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: xmppload register|login|idle|msg [options]\n"
	        "  --host ADDR        server IPv4 address (127.0.0.1)\n"
	        "  --port N           c2s port with STARTTLS (5222)\n"
	        "  --domain D         XMPP domain (localhost)\n"
	        "  --password P       password of every user (bench)\n"
	        "  --resource R       resource to bind (xl)\n"
	        "  --users N          users bench<first>..: register/login/idle (1000)\n"
	        "  --first K          number of the first user (1)\n"
	        "  --concurrency C    logins in progress at a time (50)\n"
	        "  --passes P         login: passes over all users; the last is reported as login_per_s (2)\n"
	        "  --pairs P          msg: sender/receiver pairs, users first..first+2P-1 (50)\n"
	        "  --messages M       msg: messages per sender (1000)\n"
	        "  --window W         msg: messages in flight per sender (10)\n"
	        "  --pid PID          server process: VmRSS (idle) and CPU use (all) are measured\n"
	        "  --settle S         idle: seconds to wait after the last login before measuring (3)\n"
	        "  --keepalive S      idle: ping interval in seconds, whitespace or WebSocket ping (30)\n"
	        "  --sources N        bind to source addresses 127.0.0.1..127.0.0.N round-robin (off)\n"
	        "  --plain            SASL PLAIN instead of SCRAM-SHA-1\n"
	        "  --no-tls           do not use STARTTLS\n"
	        "  --transport T      tcp, or ws: XMPP over WebSocket (RFC 7395) on ws://, no STARTTLS;\n"
	        "                     --port is then the HTTP port (tcp)\n"
	        "  --ws-path P        ws: the WebSocket resource (/xmpp-websocket)\n"
	        "  --presence         send initial presence after binding (msg always does)\n"
	        "  --cache FILE       SCRAM salted-password cache (read at start, written at exit)\n"
	        "  --timeout S        global time limit in seconds (300)\n");
}

static double parse_num(const char *s, const char *name, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == 0 || *end || v < lo || v > hi) {
		fprintf(stderr, "xmppload: bad value for --%s: %s (%g..%g)\n", name, s, lo, hi);
		exit(64);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"host", 1, 0, 'h'},
	    {"port", 1, 0, 'p'},
	    {"domain", 1, 0, 'd'},
	    {"password", 1, 0, 'P'},
	    {"resource", 1, 0, 'R'},
	    {"users", 1, 0, 'n'},
	    {"first", 1, 0, 'f'},
	    {"concurrency", 1, 0, 'c'},
	    {"passes", 1, 0, 'a'},
	    {"pairs", 1, 0, 'r'},
	    {"messages", 1, 0, 'm'},
	    {"window", 1, 0, 'w'},
	    {"pid", 1, 0, 'i'},
	    {"settle", 1, 0, 's'},
	    {"keepalive", 1, 0, 'k'},
	    {"sources", 1, 0, 'S'},
	    {"plain", 0, 0, 'L'},
	    {"no-tls", 0, 0, 'N'},
	    {"transport", 1, 0, 'T'},
	    {"ws-path", 1, 0, 'W'},
	    {"presence", 0, 0, 'e'},
	    {"cache", 1, 0, 'C'},
	    {"timeout", 1, 0, 't'},
	    {"help", 0, 0, 'H'},
	    {0, 0, 0, 0},
	};
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		exit(argc < 2 ? 64 : 0);
	}
	const char *sc = argv[1];
	if (!strcmp(sc, "register"))
		cfg.sc = SC_REGISTER;
	else if (!strcmp(sc, "login"))
		cfg.sc = SC_LOGIN;
	else if (!strcmp(sc, "idle"))
		cfg.sc = SC_IDLE;
	else if (!strcmp(sc, "msg"))
		cfg.sc = SC_MSG;
	else {
		fprintf(stderr, "xmppload: unknown scenario %s\n", sc);
		usage(stderr);
		exit(64);
	}
	int ch;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			cfg.o.host = optarg;
			break;
		case 'p':
			cfg.o.port = (int)parse_num(optarg, "port", 1, 65535);
			break;
		case 'd':
			cfg.o.domain = optarg;
			break;
		case 'P':
			cfg.o.password = optarg;
			break;
		case 'R':
			cfg.o.resource = optarg;
			break;
		case 'n':
			cfg.users = (int)parse_num(optarg, "users", 0, 1000000);
			break;
		case 'f':
			cfg.first = (int)parse_num(optarg, "first", 0, 100000000);
			break;
		case 'c':
			cfg.concurrency = (int)parse_num(optarg, "concurrency", 1, 100000);
			break;
		case 'a':
			cfg.passes = (int)parse_num(optarg, "passes", 1, 100);
			break;
		case 'r':
			cfg.pairs = (int)parse_num(optarg, "pairs", 1, 100000);
			break;
		case 'm':
			cfg.messages = (int)parse_num(optarg, "messages", 1, 10000000);
			break;
		case 'w':
			cfg.window = (int)parse_num(optarg, "window", 1, 10000);
			break;
		case 'i':
			cfg.pid = (int)parse_num(optarg, "pid", 1, 1e9);
			break;
		case 's':
			cfg.settle = parse_num(optarg, "settle", 0, 3600);
			break;
		case 'k':
			cfg.keepalive = parse_num(optarg, "keepalive", 1, 3600);
			break;
		case 'S':
			cfg.o.sources = (int)parse_num(optarg, "sources", 1, 254);
			break;
		case 'L':
			cfg.o.plain = 1;
			break;
		case 'N':
			cfg.o.use_tls = 0;
			break;
		case 'T':
			if (!strcmp(optarg, "ws")) {
				cfg.o.ws = 1;
			} else if (strcmp(optarg, "tcp")) {
				fprintf(stderr, "xmppload: --transport is tcp or ws\n");
				exit(64);
			}
			break;
		case 'W':
			cfg.o.ws_path = optarg;
			break;
		case 'e':
			cfg.o.presence = 1;
			break;
		case 'C':
			cfg.cache = optarg;
			break;
		case 't':
			cfg.timeout = parse_num(optarg, "timeout", 1, 86400);
			break;
		case 'H':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(64);
		}
	}
	if (cfg.o.ws) cfg.o.use_tls = 0; /* ws:// carries no STARTTLS */
	if (optind < argc) {
		fprintf(stderr, "xmppload: unexpected argument %s\n", argv[optind]);
		exit(64);
	}
	if ((double)cfg.pairs * 2 > 1000000 || (double)cfg.pairs * cfg.messages > 100e6) {
		fprintf(stderr, "xmppload: --pairs/--messages too large\n");
		exit(64);
	}
}

static void raise_nofile(int want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)want) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max : (rlim_t)want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)want)
		fprintf(stderr, "xmppload: warning: RLIMIT_NOFILE is %llu, %d connections need more\n",
		        (unsigned long long)rl.rlim_cur, want);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (xl_tls_init() < 0) {
		fprintf(stderr, "xmppload: TLS init failed\n");
		return 1;
	}
	if (cfg.cache) xl_scram_cache_load(cfg.cache);
	loop = uv_default_loop();
	uv_timer_init(loop, &timeout_timer);
	uv_timer_init(loop, &phase_timer);
	uv_timer_init(loop, &keepalive_timer);
	uv_timer_start(&timeout_timer, on_timeout, (uint64_t)(cfg.timeout * 1000), 0);

	int n = cfg.sc == SC_MSG ? 2 * cfg.pairs : cfg.users;
	raise_nofile((cfg.sc == SC_IDLE || cfg.sc == SC_MSG ? n : cfg.concurrency) + 64);
	nconns = n;
	conns = xl_calloc((size_t)n + 1, sizeof *conns);
	lat_cap = cfg.sc == SC_MSG ? (size_t)cfg.pairs * (size_t)cfg.messages : (size_t)n;
	lat_us = xl_calloc(lat_cap + 1, sizeof *lat_us);
	double t0 = now_s();

	switch (cfg.sc) {
	case SC_REGISTER:
	case SC_LOGIN:
		break;
	case SC_IDLE:
		on_all_ready = idle_all_ready;
		if (cfg.pid > 0) {
			printf("server_pid %d -\n", cfg.pid);
			long before = read_rss_kib(cfg.pid);
			if (before < 0) {
				fprintf(stderr, "xmppload: cannot read /proc/%d/status\n", cfg.pid);
				return 64;
			}
			phase_timer.data = (void *)(intptr_t)before;
		}
		uv_timer_start(&keepalive_timer, on_keepalive, (uint64_t)(cfg.keepalive * 1000),
		               (uint64_t)(cfg.keepalive * 1000));
		break;
	case SC_MSG:
		cfg.o.presence = 1;
		on_all_ready = msg_all_ready;
		peers = xl_calloc((size_t)n, sizeof *peers);
		for (int i = 0; i < n; i++) {
			peers[i].is_sender = i % 2 == 0;
			peers[i].partner_slot = i ^ 1;
		}
		break;
	}
	start_phase(n);
	uv_run(loop, UV_RUN_DEFAULT);

	if (xl_tls_info[0]) printf("tls %s negotiated\n", xl_tls_info);
	for (int i = 0; i < MAX_REASONS && reasons[i].n; i++)
		printf("error %llu %s\n", (unsigned long long)reasons[i].n, reasons[i].why);
	static const char *names[] = {"register", "login", "idle", "msg"};
	printf(
	    "summary scenario=%s transport=%s server=%s:%d users=%d errors=%llu timeout=%s elapsed=%.1fs\n",
	    names[cfg.sc], cfg.o.ws ? "ws" : "tcp", cfg.o.host, cfg.o.port, n, (unsigned long long)errors,
	    timed_out ? "yes" : "no", now_s() - t0);
	if (cfg.cache) xl_scram_cache_save(cfg.cache);
	return timed_out ? 2 : errors ? 1 : 0;
}
