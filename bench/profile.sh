#!/usr/bin/env bash
# Where wsd's CPU goes under one of wsbench's loads: perf on every wsd
# process (supervisor, workers and their threads) while the load runs.
#
#   bench/profile.sh echo|fanout|connect|idle [PERF_OUT_DIR]
#
# Starts wsd with the same generated config as bench/run.sh (2 workers),
# records call graphs with `perf record -g` for the duration of the load,
# counts the workers' system calls with `perf stat`, and prints the top of
# `perf report` by symbol, by shared object and by process. The perf data
# stays in PERF_OUT_DIR (default bench/out/profile-MODE). Sizes follow the
# BENCH_* variables of bench/run.sh. Needs perf (Debian: linux-perf) and
# root or perf_event_paranoid <= 1. Every process started is stopped by PID.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-}
case $mode in echo | fanout | connect | idle) ;; *)
	echo "usage: bench/profile.sh echo|fanout|connect|idle [DIR]" >&2
	exit 2
	;;
esac
dir=${2:-$root/bench/out/profile-$mode}
mkdir -p "$dir"
command -v perf >/dev/null || {
	echo "profile: perf is missing (apt-get install linux-perf)" >&2
	exit 1
}

port=$((10000 + RANDOM % 20000)) # below the ephemeral ports
run=$(mktemp -d /tmp/wsd-prof.XXXXXX)
cat >"$run/wsd.conf" <<EOF
listen = "127.0.0.1:$port";
workers = 2;
run_dir = "$run/run";
admin_listen = "";
log_level = "warn";
echo_path = "/echo";
demo_page = false;
limits = { max_connections = 0; max_connections_per_user = 0; max_connections_per_address = 0; rate_msgs = 0; };
EOF
"$root/bin/wsd" -c "$run/wsd.conf" </dev/null >"$dir/wsd.log" 2>&1 &
wsd=$!
perf_pids=()
cleanup() {
	local p
	for p in "${perf_pids[@]}"; do kill -INT "$p" 2>/dev/null; done
	kill -TERM "$wsd" 2>/dev/null
	sleep 1
	kill -KILL "$wsd" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
for i in $(seq 1 100); do
	"$root/bin/wsctl" -s "$run/run/wsctl.sock" --json status 2>/dev/null |
		grep -q '"workers_ready":2,' && break
	sleep 0.1
done
workers=$(cat /proc/$wsd/task/*/children | tr ' ' '\n' | grep . | paste -sd,)
base="ws://127.0.0.1:$port"

case $mode in
echo) args="-m echo -u $base/echo -c ${BENCH_ECHO_CONNS:-200} -r ${BENCH_ECHO_RATE:-10000} -t ${BENCH_ECHO_SECS:-10} -s ${BENCH_ECHO_SIZE:-64}"
	secs=$((${BENCH_ECHO_SECS:-10} + 4)) ;;
fanout) args="-m fanout -u $base/ws --wsd -c ${BENCH_FAN_SUBS:-5000} -r ${BENCH_FAN_RATE:-10} -P ${BENCH_FAN_PUBS:-100}"
	secs=$((${BENCH_FAN_PUBS:-100} / ${BENCH_FAN_RATE:-10} + 6)) ;;
connect) args="-m connect -u $base/ws --wsd -t ${BENCH_CONNECT_SECS:-5}"
	secs=$((${BENCH_CONNECT_SECS:-5} + 2)) ;;
idle) args="-m idle -u $base/ws --wsd -c ${BENCH_IDLE_CONNS:-19000}"
	secs=15 ;;
esac

perf record -F 2000 -g -p "$wsd,$workers" -o "$dir/perf.data" -- sleep "$secs" \
	>"$dir/perf-record.log" 2>&1 &
perf_pids+=($!)
perf stat -e 'raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,context-switches' \
	-p "$workers" -o "$dir/perf-stat.txt" -- sleep "$secs" &
perf_pids+=($!)
sleep 0.3
"$root/bin/wsbench" -n wsd -p "$wsd" $args 2>>"$dir/wsbench.log" | tee "$dir/wsbench.txt"
wait "${perf_pids[@]}" 2>/dev/null
perf_pids=()

echo "== workers' system calls (perf stat) =="
grep -E 'syscalls|context' "$dir/perf-stat.txt"
echo "== by process =="
perf report -i "$dir/perf.data" --no-children --sort comm,pid --stdio -g none 2>/dev/null | grep '%' | head -n 8
echo "== by shared object =="
perf report -i "$dir/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -n 8
echo "== by symbol (self time) =="
perf report -i "$dir/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep '%' | head -n 30
