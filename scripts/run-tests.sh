#!/usr/bin/env bash
# Run every test: the cmocka unit tests in $BUILD/tests, then the
# end-to-end tests in tests/e2e with node's test runner against $BIN/wsd
# (and the static checks of tests/static, which read the sources).
# Prints each suite's output, then one closing line "N passed, N failed".
# Exits non-zero when anything failed or a suite could not run.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/rel}
BIN=${BIN:-bin}
passed=0
failed=0

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
    echo "unit test $t exited $rc without a summary"
    failed=$((failed + 1))
  fi
done

export WSD_BIN="$PWD/$BIN/wsd" WSCTL_BIN="$PWD/$BIN/wsctl"
out=$(node --test --test-reporter=tap --test-concurrency=1 tests/static/ tests/e2e/ 2>&1); rc=$?
printf '%s\n' "$out"
p=$(printf '%s\n' "$out" | sed -n 's/^# pass \([0-9]*\)$/\1/p' | tail -1)
f=$(printf '%s\n' "$out" | sed -n 's/^# fail \([0-9]*\)$/\1/p' | tail -1)
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
  echo "end-to-end suite exited $rc without failures counted"
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
