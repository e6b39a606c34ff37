#!/usr/bin/env bash
# Install what wsd needs to build and test on Debian 12: the C libraries
# from Debian's archive, and the npm packages for the end-to-end tests,
# pinned by tests/package-lock.json. libsystemd-dev is for sd_notify; systemd
# (systemd-analyze), man-db and groff-base check the unit file and the
# man pages in the packaging test. Safe to run again: it installs only
# what is missing. `make` runs it with --no-npm, `make test` without;
# --fuzz adds clang and its fuzzer runtime for `make fuzz`; --bench adds
# Debian's libwebsockets test server and its libev plugin (the second
# peer of `make bench`), redis-server (its two-node run) as well as the
# npm packages (bench/cluster/'s too); --fmt adds
# clang-format for `make fmt-check`. Without --no-npm, --fuzz or --fmt it
# adds the test tools: promtool (from Debian's prometheus package) and
# chromium, the browser the dashboard test drives.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

apt_pkgs=(
  build-essential pkg-config
  libev-dev libnng-dev libwslay-dev libmsgpack-dev libssl-dev
  libhttp-parser-dev libjansson-dev libjwt-dev libconfig-dev zlib1g-dev
  libcmocka-dev uthash-dev curl
  libsystemd-dev libhiredis-dev
  systemd man-db groff-base
)

# The end-to-end tests (every mode that installs the npm packages) also
# check /metrics with promtool, which Debian ships in its prometheus
# package; the server in it is never started (see below).
test_pkgs=(prometheus chromium redis-server)
case "${1:-}" in
  --no-npm | --fuzz | --fmt) ;;
  *) apt_pkgs+=("${test_pkgs[@]}") ;;
esac

case "${1:-}" in
  --fuzz) apt_pkgs+=(clang-14 libclang-rt-14-dev llvm-14) ;;
  --bench) apt_pkgs+=(libwebsockets-test-server libwebsockets-evlib-ev redis-server) ;;
  --fmt) apt_pkgs+=(clang-format) ;;
esac

missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  # A package's postinst may start its service (prometheus does): a
  # policy-rc.d answering 101 ("forbidden") keeps every service of this
  # install stopped. One already there is left alone.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
    own_policy=1
  fi
  rc=0
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
  [ "$own_policy" -eq 0 ] || "${sudo_cmd[@]}" rm -f "$policy"
  [ "$rc" -eq 0 ] || exit "$rc"
  # Nor is it started at the next boot: only promtool is wanted.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    "${sudo_cmd[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

if [[ " ${apt_pkgs[*]} " == *" prometheus "* ]] && ! command -v promtool >/dev/null 2>&1; then
  echo "install-deps: promtool is missing after installing prometheus" >&2
  exit 1
fi

if [ "${1:-}" != "--no-npm" ] && [ "${1:-}" != "--fuzz" ] &&
   [ "${1:-}" != "--fmt" ] &&
   [ -f "$here/tests/package.json" ]; then
  if ! command -v node >/dev/null 2>&1; then
    echo "install-deps: node is required for the end-to-end tests" >&2
    exit 1
  fi
  # npm records what it installed in node_modules/.package-lock.json.
  if [ ! -f "$here/tests/node_modules/.package-lock.json" ] ||
     [ "$here/tests/package-lock.json" -nt "$here/tests/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in tests/"
    (cd "$here/tests" && npm ci --no-audit --no-fund --silent)
  fi
fi

# --bench: the npm packages of bench/cluster.js's Socket.IO peer (socket.io,
# @socket.io/redis-adapter, redis), pinned by bench/cluster/package-lock.json.
if [ "${1:-}" = "--bench" ] && [ -f "$here/bench/cluster/package.json" ]; then
  if [ ! -f "$here/bench/cluster/node_modules/.package-lock.json" ] ||
     [ "$here/bench/cluster/package-lock.json" -nt "$here/bench/cluster/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in bench/cluster/"
    (cd "$here/bench/cluster" && npm ci --no-audit --no-fund --silent)
  fi
fi
