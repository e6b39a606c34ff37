#!/usr/bin/env bash
# `make run`: start wsd in the foreground with the given config and say
# where to connect. The addresses are read from the config the same way
# wsd reads them (wsd -t validates first, so a bad file stops here).
set -euo pipefail
wsd=${1:-bin/wsd}
conf=${2:-conf/wsd.conf}
"$wsd" -t -c "$conf" >/dev/null
get() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\";]*\)\"\{0,1\};.*/\1/p" "$conf" | head -1; }
listen=$(get listen); listen=${listen:-127.0.0.1:8080}
admin=$(get admin_listen); admin=${admin-127.0.0.1:8081}
path=$(get ws_path); path=${path:-/ws}
run_dir=$(get run_dir); run_dir=${run_dir:-/tmp/wsd}
ctl=$(get control_socket); ctl=${ctl:-$run_dir/wsctl.sock}
cat <<MSG
wsd is starting with $conf
  demo page:   http://$listen/
  WebSocket:   ws://$listen$path
  admin:       ${admin:+http://$admin/health}
  dashboard:   ${admin:+http://$admin/}
  try:         $(dirname "$wsd")/wsctl -s $ctl status
Stop with Ctrl-C.
MSG
exec "$wsd" -c "$conf"
