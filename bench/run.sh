#!/usr/bin/env bash
# bench/run.sh: the benchmark of parley against Debian's Prosody 0.12 and ejabberd 23.01 on loopback.
#
# Builds parley and the load tool xmppload (Release, in build-bench/), installs prosody and ejabberd with
# apt-get when missing (and stops the services apt may have started), then for each server in turn: writes
# a temporary configuration (one virtual host "localhost", STARTTLS required with the same self-signed
# certificate, SCRAM credentials, no rate limits, loopback only, its own port), starts it as a child of
# this script, creates the users bench1..benchN (password "bench"), runs the scenarios of xmppload, and
# stops it. Only one server runs at a time. At the end it prints a Markdown table with the figures and the
# ratios parley/prosody and parley/ejabberd. Every server it started is stopped on exit (trap EXIT).
# Each scenario runs against a freshly started server. About 6 minutes with the defaults on 2 CPUs.
# Then, for parley and Prosody only, the same idle and msg scenarios over WebSocket (ws-idle, ws-msg:
# RFC 7395 on ws:// to each server's HTTP port, SASL SCRAM-SHA-1 without TLS) and a second table.
#
# usage: bench/run.sh [--servers "parley prosody ejabberd"] [--idle-users N] [--login-users N]
#                     [--concurrency C] [--pairs P] [--messages M] [--window W] [--timeout S]
#                     [--ws-only | --no-ws] [--bin DIR] [--out FILE] [--keep]
# --bin DIR uses the parleyd, parleyctl and bench/xmppload already built in DIR instead of building.
# Defaults: 10000 idle sessions, 5000 logins, 50 pairs x 5000 messages, window 10, 50 logins in flight.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
servers="parley prosody ejabberd"
idle_users=10000
login_users=5000
concurrency=50
pairs=50
messages=5000
window=10
timeout=300
out=""
keep=0
prebuilt=""
ws=1      # run the WebSocket scenarios (parley and prosody)
tcp=1     # run the TCP scenarios

while [ $# -gt 0 ]; do
	case $1 in
	--servers) servers=$2; shift 2 ;;
	--idle-users) idle_users=$2; shift 2 ;;
	--login-users) login_users=$2; shift 2 ;;
	--concurrency) concurrency=$2; shift 2 ;;
	--pairs) pairs=$2; shift 2 ;;
	--messages) messages=$2; shift 2 ;;
	--window) window=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--bin) prebuilt=$2; shift 2 ;;
	--ws-only) tcp=0; ws=1; shift ;;
	--no-ws) ws=0; shift ;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 64 ;;
	esac
done
for v in "$idle_users" "$login_users" "$concurrency" "$pairs" "$messages" "$window" "$timeout"; do
	case $v in '' | *[!0-9]*) echo "run.sh: not a number: $v" >&2; exit 64 ;; esac
done

port_parley=15222
port_prosody=25222
port_ejabberd=30222 # below the ephemeral range (32768+): a client port in TIME_WAIT would block the listener
http_parley=15280 # WebSocket (ws://127.0.0.1:PORT/xmpp-websocket)
http_prosody=25280
users=$idle_users
[ "$login_users" -gt "$users" ] && users=$login_users
[ $((2 * pairs)) -gt "$users" ] && users=$((2 * pairs))

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- build ----
if [ -n "$prebuilt" ]; then
	bin=$(cd "$prebuilt" && pwd)
	log "using the binaries in $bin"
	[ -x "$bin/parleyd" ] && [ -x "$bin/parleyctl" ] || die "no parleyd/parleyctl in $bin"
else
	log "building parley and xmppload (build-bench, Release)"
	bash "$root/scripts/build.sh" "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >&2
	bin=$root/build-bench
fi
xl=$bin/bench/xmppload
[ -x "$xl" ] || die "xmppload was not built"

# ---- the other servers ----
need=""
case " $servers " in *" prosody "*) dpkg -s prosody >/dev/null 2>&1 || need="$need prosody" ;; esac
case " $servers " in *" ejabberd "*) dpkg -s ejabberd >/dev/null 2>&1 || need="$need ejabberd" ;; esac
if [ -n "$need" ]; then
	log "installing$need"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >&2 || {
		apt-get update -q >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >&2
	}
	# apt may have started the system services: stop them (no systemd in containers: service or pid file)
	for s in $need; do
		service "$s" stop >/dev/null 2>&1 || true
		for f in /run/$s/$s.pid /var/run/$s/$s.pid; do
			[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
		done
	done
fi

# ---- temporary directory, cleanup ----
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((idle_users + 200)) ]; then
	log "warning: open-file limit $nofile is low for $idle_users sessions"
fi
tmp=$(mktemp -d /tmp/parley-bench.XXXXXX)
chmod 755 "$tmp"
epmd_before=0
pgrep -x epmd >/dev/null 2>&1 && epmd_before=1
current=""
current_pid=""
ejabberd_node="bench$$@localhost"

stop_current() {
	case $current in
	ejabberd)
		ejd stop >/dev/null 2>&1 || true
		for _ in $(seq 1 50); do kill -0 "$current_pid" 2>/dev/null || break; sleep 0.2; done
		;;
	parley | prosody)
		kill -TERM "$current_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$current_pid" 2>/dev/null || break; sleep 0.2; done
		;;
	esac
	if [ -n "$current_pid" ] && kill -0 "$current_pid" 2>/dev/null; then
		log "$current did not stop, killing $current_pid"
		kill -KILL "$current_pid" 2>/dev/null || true
	fi
	current=""
	current_pid=""
}

cleanup() {
	stop_current
	if [ "$epmd_before" = 0 ] && pgrep -x epmd >/dev/null 2>&1; then
		epmd -kill >/dev/null 2>&1 || true
	fi
	if [ "$keep" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One certificate for all three servers (ECDSA P-256, CN localhost), so TLS costs the same everywhere.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tmp/key.pem" \
	-out "$tmp/cert.pem" -days 7 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/combined.pem"
chmod 644 "$tmp"/*.pem

wait_port() { # port seconds
	local i
	for i in $(seq 1 $(($2 * 5))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# ---- per-server start and user creation ----
setup_parley() {
	local d=$tmp/parley
	mkdir -p "$d/var"
	cat >"$d/parley.ini" <<EOF
; generated by bench/run.sh
[daemon]
listen = 127.0.0.1
c2s_port = $port_parley
c2s_tls_port = 0
log_level = warn
admin_socket =
data_dir = $d/var
[hosts]
hosts = localhost
[tls]
cert = $tmp/cert.pem
key = $tmp/key.pem
self_signed = false
starttls_required = true
[store]
backend = sqlite
path = $d/var/parley.db
[http]
port = $http_parley
listen = 127.0.0.1
web_root =
EOF
	log "parley: creating $users users with parleyctl"
	# the first call creates the store (schema migration), the rest run in parallel
	echo bench | "$bin/parleyctl" --config "$d/parley.ini" adduser bench1@localhost >/dev/null ||
		die "parleyctl adduser failed"
	seq 2 "$users" | xargs -P "$(nproc)" -I{} sh -c \
		"echo bench | '$bin/parleyctl' --config '$d/parley.ini' adduser bench{}@localhost >/dev/null" ||
		die "parleyctl adduser failed"
}

start_parley() {
	local d=$tmp/parley maxconn=100000
	[ "$nofile" != unlimited ] && maxconn=$((nofile - 64))
	"$bin/parleyd" --config "$d/parley.ini" --limits.c2s_rate=0 --limits.max_connections=$maxconn \
		--limits.max_connections_per_ip=0 >"$d/parleyd.log" 2>&1 &
	current=parley
	current_pid=$!
	wait_port "$port_parley" 30 || { cat "$d/parleyd.log" >&2; die "parleyd did not start"; }
}

setup_prosody() {
	local d=$tmp/prosody
	mkdir -p "$d/data"
	sed -e "s#@DIR@#$d#g" -e "s#@PORT@#$port_prosody#g" -e "s#@HTTP_PORT@#$http_prosody#g" -e "s#$d/cert.pem#$tmp/cert.pem#" \
		-e "s#$d/key.pem#$tmp/key.pem#" "$root/bench/prosody.cfg.lua.in" >"$d/prosody.cfg.lua"
	start_prosody
	register_users prosody "$port_prosody"
	stop_current
}

start_prosody() {
	local d=$tmp/prosody
	prosody --config "$d/prosody.cfg.lua" -F >"$d/stdout.log" 2>&1 &
	current=prosody
	current_pid=$!
	wait_port "$port_prosody" 30 || { cat "$d/stdout.log" "$d/prosody.log" >&2; die "prosody did not start"; }
}

ejd() {
	SCRIPT=/usr/sbin/ejabberdctl "$tmp/ejabberdctl" --config "$tmp/ejabberd/ejabberd.yml" \
		--ctl-config "$tmp/ejabberd/ejabberdctl.cfg" --node "$ejabberd_node" --spool "$tmp/ejabberd/db" --logs "$tmp/ejabberd/logs" "$@"
}

setup_ejabberd() {
	local d=$tmp/ejabberd
	mkdir -p "$d/db" "$d/logs"
	# a copy of ejabberdctl without INSTALLUSER runs the node as the current user, like the other two
	# servers (through su, the ejabberd user would get the default limit of 1024 open files)
	sed 's/^INSTALLUSER=.*/INSTALLUSER=""/' /usr/sbin/ejabberdctl >"$tmp/ejabberdctl"
	chmod 755 "$tmp/ejabberdctl"
	sed -e "s#@DIR@#$d#g" -e "s#@PORT@#$port_ejabberd#g" -e "s#$d/ejabberd.pem#$tmp/combined.pem#" \
		"$root/bench/ejabberd.yml.in" >"$d/ejabberd.yml"
	cat >"$d/ejabberdctl.cfg" <<EOF
ERL_MAX_PORTS=65536
ERL_PROCESSES=1000000
EJABBERD_PID_PATH=$d/ejabberd.pid
EOF
	start_ejabberd
	register_users ejabberd "$port_ejabberd"
	stop_current
}

start_ejabberd() {
	local d=$tmp/ejabberd
	rm -f "$d/ejabberd.pid"
	ejd start >&2 2>/dev/null || die "ejabberd did not start"
	current=ejabberd
	ejd started >/dev/null 2>&1 || true # waits up to 60 s
	wait_port "$port_ejabberd" 60 || { tail -n 20 "$d"/logs/*.log >&2; die "ejabberd did not start"; }
	for _ in $(seq 1 50); do [ -s "$d/ejabberd.pid" ] && break; sleep 0.2; done
	current_pid=$(cat "$d/ejabberd.pid")
}

register_users() { # name port: in-band registration (XEP-0077)
	log "$1: registering $users users in-band (xmppload register)"
	"$xl" register --port "$2" --users "$users" --concurrency "$concurrency" --timeout "$timeout" \
		>"$tmp/$1.register.txt" || die "$1: registration failed (see $tmp/$1.register.txt)"
}

# ---- scenarios ----
run_server() {
	local s=$1 port
	eval "port=\$port_$s"
	log "$s: setting up (port $port, $users users)"
	setup_$s
	local cache=$tmp/$s.scram-cache common="--port $port --concurrency $concurrency --timeout $timeout"
	# Every scenario gets a freshly started server (its users already stored), so one scenario's
	# leftovers (heap growth, caches, closing sessions) do not weigh on the next. idle runs first: it
	# logs every user in once and fills the client's SCRAM cache, so the login figures that follow
	# measure the server, not the client's PBKDF2 (see docs/benchmarks.md).
	if [ "$tcp" = 1 ]; then
		start_$s
		log "$s: idle ($idle_users sessions, RSS of pid $current_pid)"
		"$xl" idle $common --pid "$current_pid" --users "$idle_users" --cache "$cache" |
			tee "$tmp/$s.idle.txt" >&2 || true
		stop_current
		start_$s
		log "$s: login ($login_users users, $concurrency at a time)"
		"$xl" login $common --pid "$current_pid" --users "$login_users" --passes 2 --cache "$cache" |
			tee "$tmp/$s.login.txt" >&2 || true
		stop_current
		start_$s
		log "$s: msg ($pairs pairs x $messages messages, window $window)"
		"$xl" msg $common --pid "$current_pid" --pairs "$pairs" --messages "$messages" --window "$window" \
			--cache "$cache" |
			tee "$tmp/$s.msg.txt" >&2 || true
		log "$s: stopping"
		stop_current
	fi
	# WebSocket (RFC 7395 on ws://, the server's HTTP port): parley and Prosody. Same sizes, same
	# fresh start per scenario; the SCRAM cache is the one the TCP idle run filled (or ws-idle fills it).
	case $s in parley | prosody) ;; *) return 0 ;; esac
	[ "$ws" = 1 ] || return 0
	local hp wscommon
	eval "hp=\$http_$s"
	wscommon="--transport ws --port $hp --concurrency $concurrency --timeout $timeout"
	start_$s
	wait_port "$hp" 30 || die "$s: HTTP port $hp not listening"
	log "$s: ws-idle ($idle_users WebSocket sessions, RSS of pid $current_pid)"
	"$xl" idle $wscommon --pid "$current_pid" --users "$idle_users" --cache "$cache" |
		tee "$tmp/$s.ws-idle.txt" >&2 || true
	stop_current
	start_$s
	wait_port "$hp" 30 || die "$s: HTTP port $hp not listening"
	log "$s: ws-msg ($pairs pairs x $messages messages over WebSocket, window $window)"
	"$xl" msg $wscommon --pid "$current_pid" --pairs "$pairs" --messages "$messages" --window "$window" \
		--cache "$cache" |
		tee "$tmp/$s.ws-msg.txt" >&2 || true
	log "$s: stopping"
	stop_current
}

for s in $servers; do
	case $s in parley | prosody | ejabberd) run_server "$s" ;; *) die "unknown server $s" ;; esac
done

# ---- report ----
metric() { # server scenario metric
	awk -v m="$3" '$1 == m { print $2; found = 1 } END { if (!found) print "-" }' "$tmp/$1.$2.txt" 2>/dev/null ||
		echo -
}
errs() { awk '$1 == "summary" { for (i = 2; i <= NF; i++) if ($i ~ /^errors=/) { sub("errors=", "", $i); print $i } }' \
	"$tmp/$1.$2.txt" 2>/dev/null | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
version() {
	case $1 in
	parley) "$bin/parleyd" --version 2>/dev/null | head -1 || echo parley ;;
	prosody) echo "prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null)" ;;
	ejabberd) echo "ejabberd $(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null)" ;;
	esac
}

row() { # label scenario metric scale
	local line="| $1 |" v p=- pr=- ej=-
	for s in parley prosody ejabberd; do
		case " $servers " in *" $s "*) v=$(metric "$s" "$2" "$3") ;; *) v=- ;; esac
		[ "$v" != - ] && [ -n "${4:-}" ] && v=$(awk -v x="$v" -v k="$4" 'BEGIN { printf "%.1f", x / k }')
		line="$line $v |"
		case $s in parley) p=$v ;; prosody) pr=$v ;; ejabberd) ej=$v ;; esac
	done
	echo "$line $(ratio "$p" "$pr") | $(ratio "$p" "$ej") |"
}

wsrow() { # label scenario metric scale: parley and prosody only
	local v p=- pr=-
	for s in parley prosody; do
		case " $servers " in *" $s "*) v=$(metric "$s" "$2" "$3") ;; *) v=- ;; esac
		[ "$v" != - ] && [ -n "${4:-}" ] && v=$(awk -v x="$v" -v k="$4" 'BEGIN { printf "%.1f", x / k }')
		case $s in parley) p=$v ;; prosody) pr=$v ;; esac
	done
	echo "| $1 | $p | $pr | $(ratio "$p" "$pr") |"
}

{
	[ "$tcp" = 1 ] || echo "(TCP scenarios skipped: --ws-only)"
	[ "$tcp" = 1 ] && {
	echo "| metric | parley | prosody | ejabberd | parley/prosody | parley/ejabberd |"
	echo "|---|---:|---:|---:|---:|---:|"
	row "logins/s ($login_users users, $concurrency concurrent, SCRAM-SHA-1 + STARTTLS)" login login_per_s
	row "login latency p99 (ms)" login login_p99
	row "RSS per idle session (KiB, $idle_users sessions)" idle rss_per_session
	row "server RSS with $idle_users sessions (MiB)" idle server_rss_after 1024
	row "messages/s ($pairs pairs, window $window)" msg msg_per_s
	row "message latency p50 (ms)" msg msg_latency_p50
	row "message latency p99 (ms)" msg msg_latency_p99
	row "server CPU during login (% of one core)" login login_server_cpu
	row "server CPU during msg (% of one core)" msg msg_server_cpu
	row "xmppload CPU during msg (% of one core)" msg msg_client_cpu
	line="| client errors (idle/login/msg) |"
	for s in parley prosody ejabberd; do
		case " $servers " in
		*" $s "*) line="$line $(errs "$s" idle)/$(errs "$s" login)/$(errs "$s" msg) |" ;;
		*) line="$line - |" ;;
		esac
	done
	echo "$line | |"
	}
	if [ "$ws" = 1 ]; then
		echo
		echo "XMPP over WebSocket (RFC 7395, ws:// on loopback, SASL SCRAM-SHA-1, no TLS):"
		echo
		echo "| metric | parley | prosody | parley/prosody |"
		echo "|---|---:|---:|---:|"
		wsrow "RSS per idle WebSocket session (KiB, $idle_users sessions)" ws-idle rss_per_session
		wsrow "server RSS with $idle_users WebSocket sessions (MiB)" ws-idle server_rss_after 1024
		wsrow "messages/s over WebSocket ($pairs pairs, window $window)" ws-msg msg_per_s
		wsrow "WebSocket message latency p50 (ms)" ws-msg msg_latency_p50
		wsrow "WebSocket message latency p99 (ms)" ws-msg msg_latency_p99
		wsrow "server CPU during ws-msg (% of one core)" ws-msg msg_server_cpu
		wsrow "xmppload CPU during ws-msg (% of one core)" ws-msg msg_client_cpu
		line="| client errors (ws-idle/ws-msg) |"
		for s in parley prosody; do
			case " $servers " in
			*" $s "*) line="$line $(errs "$s" ws-idle)/$(errs "$s" ws-msg) |" ;;
			*) line="$line - |" ;;
			esac
		done
		echo "$line |"
	fi
	echo
	echo "Versions: $(for s in $servers; do printf '%s; ' "$(version "$s")"; done | sed 's/; $//')$([ "$tcp" = 1 ] && echo "; TLS: $(awk '$1 == "tls" { print $2; exit }' "$tmp"/*.login.txt 2>/dev/null)")."
	echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr), $(date -u +%Y-%m-%d)."
	echo "Command: bench/run.sh --servers \"$servers\" --idle-users $idle_users --login-users $login_users --concurrency $concurrency --pairs $pairs --messages $messages --window $window$([ "$tcp" = 1 ] || echo ' --ws-only')$([ "$ws" = 1 ] || echo ' --no-ws')"
} >"$tmp/results.md"
cat "$tmp/results.md"
[ -n "$out" ] && cp "$tmp/results.md" "$out"
exit 0
