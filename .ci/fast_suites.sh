#!/usr/bin/env bash
# The fast stages of `make test` that need no model: the pure-Python suites (tests/safety,
# tests/unit) and the fast suites under a clock 3 years and 2 months ahead (issue 17: a test that
# depends on today's date fails today). .ci/test_all.sh runs this beside the training when there is
# one, else .ci/side_lane.sh runs it. Both stages run even if the first fails; each appends its wall
# time to the file named by $1; the exit status is non-zero when either failed.
set -uo pipefail
TIMES=${1:?file for the stage times}
cd "$(dirname "$0")/.."
failed=0
stage() { printf '%-34s %5d s\n' "$1" $(( $(date +%s) - $2 )) >>"$TIMES"; }

echo "== pytest: safety + tests/unit"
start=$(date +%s)
if timeout -k 30 900 .venv/bin/python -m pytest -q -p no:cacheprovider tests/safety tests/unit \
    >results/pure-python.log 2>&1; then
  tail -1 results/pure-python.log
else
  tail -80 results/pure-python.log; echo "the pure-Python suites failed"; failed=1
fi
stage "pytest: safety + tests/unit" "$start"

echo "== fast suites, shifted clock"
start=$(date +%s)
if timeout -k 30 1200 bash scripts/shifted_clock_tests.sh -p no:warnings >results/shifted-clock.log 2>&1; then
  grep -E "^clock shifted|passed|failed" results/shifted-clock.log | tail -2 || true
else
  tail -60 results/shifted-clock.log; echo "the fast suites fail under a shifted clock"; failed=1
fi
stage "fast suites, shifted clock" "$start"
exit "$failed"
