#!/usr/bin/env bash
# Install what `make bench` needs beyond the build and test dependencies:
# Debian's libwebsockets test server with its libev event-loop plugin (the
# second peer), and the npm `ws` package for the node peer (through
# install-deps.sh). Safe to run again: it installs only what is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

apt_pkgs=(libwebsockets-test-server libwebsockets-evlib-ev)

missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

"$here/scripts/install-deps.sh"
