#!/usr/bin/env bash
# The benchmark behind `make bench`: wsd against its peers, same machine,
# same run, same load generator (bin/wsbench).
#
# For each measure it starts a fresh server, drives it with wsbench, stops
# it by PID, and goes on with the next server, so the servers take turns
# in the same minutes of a shared machine. The servers:
#   wsd   bin/wsd, generated config: 2 workers, echo_path "/echo",
#         log_level warn, limits raised;
#   wsd1  the same with 1 worker (on 2 cores, one worker and the load
#         generator cost less per message than two workers and it);
#   floor bin/floor (bench/floor.c): the least a server can do, one
#         epoll loop and one write per message, no registry, no queues;
#   node  bench/peer-node.js: the npm `ws` server on Node 20 (echo or
#         broadcast);
#   lws   Debian's libwebsockets-test-server on its libev loop (-e), through
#         its lws-mirror-protocol: every message goes to every connection of
#         the same "?mirror=NAME" instance, so one connection per instance
#         is an echo and one instance is a broadcast. The test server allows
#         three instances, so it echoes on at most three connections.
# Prints one line describing the machine, a line per measurement, and the
# table of figures with the ratios wsd/peer (bench/table.js). The raw
# key=value lines and the servers' logs go to bench/out/STAMP/.
#
# Sizes fit the 10 minutes of `make bench` on 2 cores; BENCH_FULL=1 adds the
# issue's sizes (100,000 idle connections on wsd, 10,000 fan-out
# subscribers). Each size can be set alone: BENCH_IDLE_CONNS,
# BENCH_ECHO_CONNS, BENCH_ECHO_RATE, BENCH_ECHO_SECS, BENCH_ECHO_SIZE,
# BENCH_FAN_SUBS, BENCH_FAN_RATE, BENCH_FAN_PUBS, BENCH_FAN_PROCS,
# BENCH_CONNECT_SECS,
# BENCH_BIG_CONNS, BENCH_BIG_WORKERS. BENCH_SERVERS="wsd wsd1 floor node
# lws" picks the servers. BENCH_DEFLATE=1 adds the permessage-deflate
# fan-out (wsd with compression on, subscribers with and without it,
# BENCH_DEFLATE_ROUNDS rounds each, publishes of BENCH_DEFLATE_PAD bytes of
# text); BENCH_DEFLATE=only runs nothing else. BENCH_MILLION=1 adds a
# million idle connections on wsd (BENCH_MILLION_CONNS, heartbeat CPU over
# BENCH_MILLION_HB_SECS, a broadcast to all; bench/million_hold.sh);
# BENCH_MILLION=only runs that alone. Only loopback addresses are used; every process started here
# is stopped by its PID, also when the script is interrupted.
set -uo pipefail
set -f # URLs carry "?": no globbing anywhere

root=$(cd "$(dirname "$0")/.." && pwd)
WSD_BIN=${WSD_BIN:-$root/bin/wsd}
WSCTL_BIN=${WSCTL_BIN:-$root/bin/wsctl}
WSBENCH=${WSBENCH:-$root/bin/wsbench}
LWS_BIN=${LWS_BIN:-$(command -v libwebsockets-test-server || true)}
FULL=${BENCH_FULL:-0}

IDLE_CONNS=${BENCH_IDLE_CONNS:-19000} # a peer is one process: < 20,000 fds
ECHO_CONNS=${BENCH_ECHO_CONNS:-200}
ECHO_RATE=${BENCH_ECHO_RATE:-10000}
ECHO_SECS=${BENCH_ECHO_SECS:-10}
ECHO_SIZE=${BENCH_ECHO_SIZE:-64}
FAN_SUBS=${BENCH_FAN_SUBS:-5000}
FAN_RATE=${BENCH_FAN_RATE:-5}
FAN_PUBS=${BENCH_FAN_PUBS:-50}
FAN_PROCS=${BENCH_FAN_PROCS:-2} # client processes reading the deliveries
CONNECT_SECS=${BENCH_CONNECT_SECS:-5}
BIG_CONNS=${BENCH_BIG_CONNS:-100000}
BIG_WORKERS=${BENCH_BIG_WORKERS:-8}
if [ "$FULL" = 1 ]; then
	# 10,000 deliveries per publish take ~0.15 s of CPU (server and
	# client) here: publish slowly enough that they do not queue.
	FAN_SUBS=${BENCH_FAN_SUBS:-10000}
	FAN_RATE=${BENCH_FAN_RATE:-2}
	FAN_PUBS=${BENCH_FAN_PUBS:-30}
fi
SERVERS=${BENCH_SERVERS:-wsd wsd1 floor node lws}
MILLION=${BENCH_MILLION:-0}
MILLION_CONNS=${BENCH_MILLION_CONNS:-1000000}
MILLION_HB_SECS=${BENCH_MILLION_HB_SECS:-60}
DEFLATE=${BENCH_DEFLATE:-0}
DEFLATE_ROUNDS=${BENCH_DEFLATE_ROUNDS:-3}
DEFLATE_PAD=${BENCH_DEFLATE_PAD:-1024}
[ "$DEFLATE" = only ] && SERVERS=
[ "$MILLION" = only ] && SERVERS=
WSD_EXTRA=

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$root/bench/out/$stamp
mkdir -p "$out"
results=$out/results.txt
: >"$results"

started=()
cleanup() {
	local p
	for p in "${started[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench: $*" >&2
	exit 1
}

[ -x "$WSD_BIN" ] || die "$WSD_BIN is missing: run make"
[ -x "$WSBENCH" ] || die "$WSBENCH is missing: run make bench-build"
FLOOR_BIN=${FLOOR_BIN:-$root/bin/floor}
[ -x "$FLOOR_BIN" ] || die "$FLOOR_BIN is missing: run make bench-build"
[ -d "$root/tests/node_modules/ws" ] || die "tests/node_modules/ws is missing: run scripts/install-deps.sh"
if [[ " $SERVERS " == *" lws "* ]] && [ -z "$LWS_BIN" ]; then
	echo "bench: libwebsockets-test-server not installed; lws left out" >&2
	SERVERS=${SERVERS//lws/}
fi

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A port below the ephemeral range, so no client socket holds it.
free_port() {
	local p i lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$lo" -gt 12000 ] || lo=32768
	for i in $(seq 1 50); do
		p=$((10000 + RANDOM % (lo - 10000)))
		port_open "$p" || {
			echo "$p"
			return 0
		}
	done
	return 1
}

# Wait until PID listens on PORT (at most 10 s); 1 if it died or did not.
wait_listen() {
	local pid=$1 port=$2 i
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		port_open "$port" && return 0
		sleep 0.1
	done
	return 1
}

# SRV_PID, SRV_BASE and SRV_DIR describe the server that is running.
SRV_PID=
SRV_BASE=
SRV_DIR=

WSD_WORKERS=2
start_wsd() {
	local workers=$WSD_WORKERS port i st
	port=$(free_port) || return 1
	SRV_DIR=$(mktemp -d /tmp/wsd-bench.XXXXXX)
	cat >"$SRV_DIR/wsd.conf" <<EOF
listen = "127.0.0.1:$port";
workers = $workers;
run_dir = "$SRV_DIR/run";
admin_listen = "";
log_level = "warn";
echo_path = "/echo";
demo_page = false;
limits = { max_connections = 0; max_connections_per_user = 0; max_connections_per_address = 0; rate_msgs = 0; };
$WSD_EXTRA
EOF
	"$WSD_BIN" -c "$SRV_DIR/wsd.conf" </dev/null >>"$out/wsd.log" 2>&1 &
	SRV_PID=$!
	started+=("$SRV_PID")
	SRV_BASE="ws://127.0.0.1:$port"
	for i in $(seq 1 100); do
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		st=$("$WSCTL_BIN" -s "$SRV_DIR/run/wsctl.sock" --json status 2>/dev/null)
		if [[ "$st" == *"\"workers_ready\":$workers,"* ]] && port_open "$port"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

start_node() {
	local mode=$1 port
	port=$(free_port) || return 1
	node "$root/bench/peer-node.js" "$mode" "$port" </dev/null >>"$out/node.log" 2>&1 &
	SRV_PID=$!
	started+=("$SRV_PID")
	SRV_BASE="ws://127.0.0.1:$port"
	SRV_DIR=
	wait_listen "$SRV_PID" "$port"
}

start_floor() {
	local mode=$1 port
	port=$(free_port) || return 1
	"$FLOOR_BIN" "$mode" "$port" </dev/null >>"$out/floor.log" 2>&1 &
	SRV_PID=$!
	started+=("$SRV_PID")
	SRV_BASE="ws://127.0.0.1:$port"
	SRV_DIR=
	wait_listen "$SRV_PID" "$port"
}

start_lws() {
	local port
	port=$(free_port) || return 1
	# -e: libev event loop; -n: no dumb-increment traffic; -d 1: errors.
	"$LWS_BIN" -p "$port" -i 127.0.0.1 -e -n -d 1 </dev/null >>"$out/lws.log" 2>&1 &
	SRV_PID=$!
	started+=("$SRV_PID")
	SRV_BASE="ws://127.0.0.1:$port"
	SRV_DIR=
	wait_listen "$SRV_PID" "$port"
}

stop_server() {
	local i
	[ -n "$SRV_PID" ] || return 0
	kill -TERM "$SRV_PID" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	[ -n "$SRV_DIR" ] && rm -rf "$SRV_DIR"
	SRV_PID=
	SRV_DIR=
	sleep 0.5 # let the sockets' last packets settle
}

# measure ID SERVER ARGS...: run wsbench; one line into results, one out.
measure() {
	local id=$1 srv=$2 res
	shift 2
	echo "--- $id $srv: wsbench $*" >>"$out/wsbench.log"
	res=$(timeout 600 "$WSBENCH" -n "$srv" -p "$SRV_PID" "$@" 2>>"$out/wsbench.log")
	if [ -n "$res" ]; then
		echo "id=$id $(head -n 1 <<<"$res")" >>"$results"
		sed -n '2,$p' <<<"$res" | sed 's/^/  /'
	else
		echo "  $srv $id: no result (see $out/wsbench.log)"
	fi
}

# with SERVER KIND ID USE ARGS...: start SERVER for KIND of load (echo or
# broadcast: only node's peer differs), measure with the URL for USE (see
# url), stop.
with() {
	local srv=$1 kind=$2 id=$3 use=$4 ok=0 try
	shift 4
	for try in 1 2 3; do # a port taken meanwhile: another port
		case $srv in
		wsd) start_wsd && ok=1 ;;
		wsd1) WSD_WORKERS=1 start_wsd && ok=1 ;;
		floor) start_floor "$kind" && ok=1 ;;
		node) start_node "$kind" && ok=1 ;;
		lws) start_lws && ok=1 ;;
		esac
		[ $ok = 1 ] && break
		stop_server
	done
	if [ $ok = 1 ]; then
		measure "$id" "$srv" $(url "$srv" "$use") "$@"
	else
		echo "  $srv: did not start (see $out/$srv.log)"
	fi
	stop_server
}

url() { # SERVER USE: the URL and protocol options for wsbench
	case $1:$2 in
	wsd:echo | wsd1:echo) echo "-u $SRV_BASE/echo" ;;
	wsd:* | wsd1:*) echo "-u $SRV_BASE/ws --wsd" ;;
	node:* | floor:*) echo "-u $SRV_BASE/" ;;
	lws:idle) echo "-u $SRV_BASE/?mirror=idle --proto lws-mirror-protocol" ;;
	lws:echo) echo "-u $SRV_BASE/?mirror=e{id} --proto lws-mirror-protocol" ;;
	lws:fanout) echo "-u $SRV_BASE/?mirror=fan --proto lws-mirror-protocol" ;;
	lws:connect) echo "-u $SRV_BASE/?mirror=c --proto lws-mirror-protocol" ;;
	esac
}

has() { [[ " $SERVERS " == *" $1 "* ]]; }

t_start=$(date +%s)
cores=$(nproc)
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
memg=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
lwsv=$(dpkg-query -W -f='${Version}' libwebsockets-test-server 2>/dev/null || echo none)
wsv=$(node -p "require('$root/tests/node_modules/ws/package.json').version")
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	echo "machine: $cores cores, $model, $memg, Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "software: wsd $rev (wsd: 2 workers, wsd1: 1 worker), floor (bench/floor.c), node $(node --version) ws $wsv, libwebsockets-test-server $lwsv; load $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"

if [ -n "$SERVERS" ]; then
	echo "== idle: $IDLE_CONNS connections held =="
	for s in $SERVERS; do
		with "$s" echo idle idle -m idle -c "$IDLE_CONNS"
	done

	echo "== echo: $ECHO_CONNS connections, $ECHO_SIZE-byte messages, $ECHO_RATE/s for $ECHO_SECS s =="
	for s in $SERVERS; do
		[ "$s" = lws ] && { echo "  lws: n/a (the test server echoes on at most 3 connections)"; continue; }
		with "$s" echo echo echo -m echo -c "$ECHO_CONNS" \
			-s "$ECHO_SIZE" -r "$ECHO_RATE" -t "$ECHO_SECS"
	done

	echo "== echo: 3 connections, $ECHO_SIZE-byte messages, $ECHO_RATE/s for $ECHO_SECS s =="
	for s in $SERVERS; do
		with "$s" echo echo3 echo -m echo -c 3 \
			-s "$ECHO_SIZE" -r "$ECHO_RATE" -t "$ECHO_SECS"
	done

	echo "== fanout: $FAN_SUBS subscribers, $FAN_PUBS publishes at $FAN_RATE/s =="
	for s in $SERVERS; do
		with "$s" broadcast fanout fanout -m fanout -j "$FAN_PROCS" \
			-c "$FAN_SUBS" -r "$FAN_RATE" -P "$FAN_PUBS"
	done

	echo "== connect: open, upgrade, close for $CONNECT_SECS s =="
	for s in $SERVERS; do
		with "$s" echo connect connect -m connect -t "$CONNECT_SECS"
	done
fi

if [ "$FULL" = 1 ] && has wsd; then
	echo "== idle: $BIG_CONNS connections held by wsd ($BIG_WORKERS workers) =="
	WSD_WORKERS=$BIG_WORKERS
	with wsd echo idle_big idle -m idle -c "$BIG_CONNS" --ready-timeout 400 --settle 5
	WSD_WORKERS=2
	echo "  node, lws: n/a (one process each, at most 20,000 descriptors)"
fi

if [ "$DEFLATE" != 0 ]; then
	# The same wsd (compression on) each time; only the subscribers'
	# offer differs. Rounds alternate, so both see the same neighbours.
	echo "== fanout with permessage-deflate: $FAN_SUBS subscribers, $FAN_PUBS publishes of $DEFLATE_PAD bytes at $FAN_RATE/s, $DEFLATE_ROUNDS rounds =="
	WSD_EXTRA='compression = { enabled = true; };'
	for r in $(seq 1 "$DEFLATE_ROUNDS"); do
		for v in plain deflate; do
			with wsd broadcast "fanout_pad_$v" fanout -m fanout -j "$FAN_PROCS" \
				-c "$FAN_SUBS" -r "$FAN_RATE" -P "$FAN_PUBS" --pad "$DEFLATE_PAD" \
				$([ $v = deflate ] && echo --deflate)
		done
	done
	WSD_EXTRA=
	# The ratio of the medians of CPU per delivery, deflate over plain.
	awk '/^id=fanout_pad_/ {
		id = $1; sub(/^id=fanout_pad_/, "", id)
		for (i = 2; i <= NF; i++) if ($i ~ /^cpu_per_delivery_us=/) {
			split($i, kv, "="); v[id, ++n[id]] = kv[2]
		}
	}
	function med(id,   i, j, t, a) {
		for (i = 1; i <= n[id]; i++) a[i] = v[id, i]
		for (i = 1; i <= n[id]; i++) for (j = i + 1; j <= n[id]; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n[id] % 2 ? a[(n[id] + 1) / 2] : (a[n[id] / 2] + a[n[id] / 2 + 1]) / 2
	}
	END {
		if (!n["plain"] || !n["deflate"]) { print "  deflate: no result"; exit }
		p = med("plain"); d = med("deflate")
		printf "  cpu per delivery: plain %.3f us, deflate %.3f us (medians of %d, %d rounds): ratio %.2f\n", p, d, n["plain"], n["deflate"], d / p
	}' "$results" | tee -a "$out/deflate.txt"
fi

if [ "$MILLION" != 0 ]; then
	# wsd sized by workers = "auto" for the count, heartbeats at their
	# defaults (a ping after 25 s of silence); the clients use wsbench's
	# light path (no wslay context per connection) over 200 source
	# addresses and as many processes as 15,000 connections each need.
	echo "== a million: $MILLION_CONNS idle connections on wsd (workers = \"auto\"), heartbeats on =="
	port=$(free_port) && aport=$(free_port) || die "no free port"
	SRV_DIR=$(mktemp -d /tmp/wsd-bench.XXXXXX)
	cat >"$SRV_DIR/wsd.conf" <<EOF
listen = "127.0.0.1:$port";
workers = "auto";
run_dir = "$SRV_DIR/run";
admin_listen = "127.0.0.1:$aport";
log_level = "warn";
demo_page = false;
limits = { max_connections = $MILLION_CONNS; max_connections_per_user = 0; max_connections_per_address = 0; rate_msgs = 0; };
EOF
	"$WSD_BIN" -c "$SRV_DIR/wsd.conf" </dev/null >>"$out/wsd.log" 2>&1 &
	SRV_PID=$!
	started+=("$SRV_PID")
	w=
	for i in $(seq 1 300); do
		st=$("$WSCTL_BIN" -s "$SRV_DIR/run/wsctl.sock" --json status 2>/dev/null)
		w=$(grep -o '"workers_total":[0-9]*' <<<"$st" | cut -d: -f2)
		[ -n "$w" ] && [[ "$st" == *"\"workers_ready\":$w,"* ]] && port_open "$port" && break
		sleep 0.1
	done
	echo "  wsd: $w workers for $MILLION_CONNS connections at $(ulimit -n) descriptors each"
	: >"$out/million.txt"
	measure million wsd -u "ws://127.0.0.1:$port/ws" --wsd -m idle -c "$MILLION_CONNS" \
		--light --retries 5 --inflight 64 --settle 10 --ready-timeout 1500 --hs-timeout 120 --await 300 \
		--hold-cmd "$root/bench/million_hold.sh $SRV_DIR/run/wsctl.sock $aport $SRV_PID $MILLION_HB_SECS $out/million.txt"
	sed 's/^/  /' "$out/million.txt"
	stop_server
fi

[ -z "$SERVERS" ] && { echo "bench: done in $(($(date +%s) - t_start)) s"; exit 0; }
echo "== table (bench/out/$stamp) =="
node "$root/bench/table.js" "$out/machine.txt" "$results" | tee "$out/table.md"
echo "bench: done in $(($(date +%s) - t_start)) s"
