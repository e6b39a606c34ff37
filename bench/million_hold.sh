#!/usr/bin/env bash
# The checks of BENCH_MILLION=1 (bench/run.sh), run by wsbench --hold-cmd
# once every connection is up and the memory is sampled:
#
#   bench/million_hold.sh CTL_SOCKET ADMIN_PORT SERVER_PID HB_SECS OUT
#
# Appends key=value lines to OUT: how long `wsctl status` and a /metrics
# scrape take, how many connections the registry holds, the share of the
# machine's CPU the daemon (supervisor and workers) spends over HB_SECS
# seconds of heartbeats alone, and then sends the broadcast whose data
# carries its send time ("t", CLOCK_REALTIME ns) for wsbench to time.
set -uo pipefail
sock=$1 aport=$2 pid=$3 hb=$4 out=$5
root=$(cd "$(dirname "$0")/.." && pwd)
ctl() { "${WSCTL_BIN:-$root/bin/wsctl}" -s "$sock" "$@"; }
now() { date +%s%N; }

# CPU nanoseconds of every thread of the daemon's processes.
tree_cpu() {
	local p sum=0 t
	for p in $pid $(ctl --json workers | grep -o '"pid":[0-9]*' | cut -d: -f2); do
		for t in /proc/"$p"/task/*/schedstat; do
			[ -r "$t" ] && sum=$((sum + $(cut -d' ' -f1 "$t")))
		done
	done
	echo "$sum"
}

t=$(now)
st=$(ctl --json status)
echo "status_ms=$((($(now) - t) / 1000000))" >>"$out"
echo "registry_connections=$(grep -o '"connections":[0-9]*' <<<"$st" | head -n 1 | cut -d: -f2)" >>"$out"
echo "workers=$(grep -o '"workers_total":[0-9]*' <<<"$st" | cut -d: -f2)" >>"$out"
t=$(now)
bytes=$(curl -s "http://127.0.0.1:$aport/metrics" | wc -c)
echo "metrics_ms=$((($(now) - t) / 1000000)) metrics_bytes=$bytes" >>"$out"
c0=$(tree_cpu)
t0=$(now)
sleep "$hb"
c1=$(tree_cpu)
t1=$(now)
awk -v c="$((c1 - c0))" -v t="$((t1 - t0))" -v n="$(nproc)" \
	'BEGIN { printf "heartbeat_secs=%.1f heartbeat_cpu_s=%.2f heartbeat_cpu_share=%.4f\n", t / 1e9, c / 1e9, c / (t * n) }' >>"$out"
t=$(now)
ctl broadcast "{\"t\":$(now)}" >/dev/null
echo "broadcast_cmd_ms=$((($(now) - t) / 1000000))" >>"$out"
