#!/usr/bin/env bash
# Run wsd's libFuzzer targets (built by `make fuzz-build` into build/fuzz/).
#
#   scripts/fuzz.sh run [NAME...]      fuzz each NAME for $FUZZ_TIME seconds
#   scripts/fuzz.sh regress [NAME...]  run each NAME once over its committed
#                                      corpus and crash reproducers
#
# NAME is one of ipc, config, http, client, frames (default: all five). A run
# fuzzes a working copy of the seeds, build/fuzz/corpus/NAME, so the
# committed corpus in tests/fuzz/corpus/NAME is never rewritten; with
# FUZZ_MERGE=1 the new coverage found is merged back into it afterwards
# (libFuzzer -merge=1 -use_counters=0: only inputs that reach code no
# committed input reaches are copied, which keeps the committed corpus at
# tens of files; the working corpus keeps everything the fuzzer liked).
# Crash, leak, timeout and out-of-memory inputs land in
# build/fuzz/artifacts/NAME/, the log of each run in build/fuzz/logs/.
# Exits non-zero when any target found something or could not run.
# FUZZ_TIME (seconds, default 60), FUZZ_MERGE and FUZZ_ARGS (more libFuzzer
# flags) come from the environment.
set -u
cd "$(dirname "$0")/.."

OUT=build/fuzz
SRC=tests/fuzz
FUZZ_TIME=${FUZZ_TIME:-60}
FUZZ_MERGE=${FUZZ_MERGE:-0}
FUZZ_ARGS=${FUZZ_ARGS:-}
ALL="ipc config http client frames"

# Per-target flags: the largest input worth trying, and a dictionary.
flags_for() {
  case "$1" in
  ipc) echo "-max_len=65536" ;;
  # libconfig 1.5 leaks on most syntax errors (see fuzz_config.c): leaks
  # are checked once at exit instead of after every input.
  config) echo "-max_len=16384 -detect_leaks=0" ;;
  http) echo "-max_len=65536 -dict=$SRC/http.dict" ;;
  client) echo "-max_len=16384 -dict=$SRC/json.dict" ;;
  frames) echo "-max_len=65536" ;;
  *) return 1 ;;
  esac
}

# Reproducers of earlier findings, if any, so they are rerun too.
crash_files() {
  [ -d "$SRC/crashes/$1" ] && find "$SRC/crashes/$1" -type f ! -name '*.txt' | sort
}

run_one() {
  local name=$1 bin=$OUT/fuzz_$1 work=$OUT/corpus/$1 art=$OUT/artifacts/$1/
  local log=$OUT/logs/$1.log flags rc
  flags=$(flags_for "$name") || { echo "fuzz: unknown target $name"; return 2; }
  [ -x "$bin" ] || { echo "fuzz: $bin is missing (make fuzz-build)"; return 2; }
  mkdir -p "$work" "$art" "$OUT/logs"
  # Add the committed seeds to the working corpus; earlier finds stay.
  cp -n "$SRC/corpus/$name"/* "$work"/ 2>/dev/null
  echo "fuzz: $name for ${FUZZ_TIME}s, corpus $work, log $log"
  # shellcheck disable=SC2086
  "$bin" $flags -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art" $FUZZ_ARGS "$work" \
    >"$log" 2>&1
  rc=$?
  grep -E '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' "$log" |
    sed "s/^/fuzz: $name: /"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $name FOUND SOMETHING (exit $rc); see $log and $art"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5
    return 1
  fi
  if [ "$FUZZ_MERGE" = 1 ]; then
    # shellcheck disable=SC2086
    "$bin" $flags -merge=1 -use_counters=0 "$SRC/corpus/$name" "$work" \
      >"$OUT/logs/$name.merge.log" 2>&1 ||
      { echo "fuzz: $name: merge failed, see $OUT/logs/$name.merge.log"; return 1; }
    echo "fuzz: $name: merged; committed corpus has $(find "$SRC/corpus/$name" -type f | wc -l) files"
  fi
  return 0
}

regress_one() {
  local name=$1 bin=$OUT/fuzz_$1 files
  [ -x "$bin" ] || { echo "fuzz: $bin is missing (make fuzz-build)"; return 2; }
  files=$( { find "$SRC/corpus/$name" -type f | sort; crash_files "$name"; } )
  # shellcheck disable=SC2086
  if "$bin" -timeout=10 $files >"$OUT/logs/$name.regress.log" 2>&1; then
    echo "fuzz: $name: $(echo "$files" | wc -l) inputs ok"
  else
    echo "fuzz: $name: FAILED, see $OUT/logs/$name.regress.log"
    return 1
  fi
}

cmd=${1:-}
shift || true
[ $# -gt 0 ] || set -- $ALL
mkdir -p "$OUT/logs"
failed=0
case "$cmd" in
run) for n in "$@"; do run_one "$n" || failed=1; done ;;
regress) for n in "$@"; do regress_one "$n" || failed=1; done ;;
*) echo "usage: $0 run|regress [ipc config http client]"; exit 2 ;;
esac
exit "$failed"
