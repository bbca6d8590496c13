#!/usr/bin/env bash
# Runs CI (.ci/run) again and again, each time in a fresh clone of this repository's HEAD, and
# prints one line per run: passed or failed, how long it took, and the tests' closing line.
#
#   bash .ci/repeat-ci.sh 10            # 10 runs in a row
#   bash .ci/repeat-ci.sh 5 --hog       # 5 runs beside a process spinning on one core
#
# Every run checks out the commit that was HEAD when the script started (REPEAT_CI_COMMIT
# overrides it), so commits made meanwhile do not mix into the measurement.
#
# Every run's log stays in $REPEAT_CI_LOGS (default /tmp/schoolops-repeat-ci): a passing run's
# log holds the time each test file took. The hog
# is started by this script and stopped by its pid. Exit code 1 when any run failed.
set -uo pipefail
runs="${1:-10}"
hog=""
[ "${2:-}" = "--hog" ] && hog=1
repo="$(cd "$(dirname "$0")/.." && pwd)"
logs="${REPEAT_CI_LOGS:-/tmp/schoolops-repeat-ci}"
mkdir -p "$logs"
commit="$(git -C "$repo" rev-parse --short "${REPEAT_CI_COMMIT:-HEAD}")"

hog_pid=""
stop_hog() { [ -n "$hog_pid" ] && kill "$hog_pid" 2>/dev/null; hog_pid=""; }
# Stopped from outside, stop: a TERM trap that only stopped the hog let the loop go on.
trap stop_hog EXIT
trap 'stop_hog; exit 143' INT TERM
if [ -n "$hog" ]; then
  node -e 'for (;;) {}' &
  hog_pid=$!
fi

echo "CI ${runs} time(s) at ${commit}${hog:+, beside a CPU hog (pid ${hog_pid})}; logs in ${logs}"
failed=0
for i in $(seq "$runs"); do
  clone="$(mktemp -d /tmp/schoolops-ci-XXXXXX)"
  git clone -q "$repo" "$clone" && git -C "$clone" checkout -q "$commit"
  log="$logs/run-${commit}-${i}${hog:+-hog}.log"
  start=$(date +%s)
  (cd "$clone" && CI=true bash .ci/run </dev/null >"$log" 2>&1)
  code=$?
  secs=$(( $(date +%s) - start ))
  summary="$(grep -a -E '^tests: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)"
  if [ "$code" -eq 0 ]; then
    echo "run ${i}/${runs}: pass in ${secs} s (${summary})"
  else
    failed=$((failed + 1))
    echo "run ${i}/${runs}: FAIL (exit ${code}) in ${secs} s (${summary:-no closing line}); log: ${log}"
    grep -a -E 'FAIL |Error:|gave up' "$log" | head -8 | sed 's/^/    /'
  fi
  rm -rf "$clone"
done
echo "repeat-ci: $((runs - failed)) passed, ${failed} failed"
[ "$failed" -eq 0 ]
