#!/usr/bin/env bash
# The fast suites (no browser, no Rasa, no network services) once more under a clock shifted
# 3 years and 2 months ahead (libfaketime), so a test that depends on today's date fails today
# rather than on some future morning (issue 17).
#
# Not run here: the suites that start Rasa or nginx, drive Chromium or reach PostgreSQL/Redis.
# Rasa and its TensorFlow threads, Chromium and nginx are not libfaketime-safe (they hang or
# reject certificates and cookies whose dates lie in the "past"), and their dated logic is the
# same code the fast suites already cover.
set -euo pipefail
cd "$(dirname "$0")/.."
SHIFT=${MADOGUCHI_CLOCK_SHIFT:-+1160d}
lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1 || true)
if [ -z "$lib" ]; then
  echo "libfaketime is missing (bash scripts/ensure_debian_packages.sh)" >&2
  exit 1
fi
# Only the wall clock moves: monotonic time stays real, so timeouts and rate limits behave.
# libfaketime reads FAKETIME with getenv() again every 10 s by default: from a worker thread, that
# raced a test's setenv() and crashed the run once (a segfault in putenv). Read it once per process.
export LD_PRELOAD=$lib FAKETIME="$SHIFT" FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1 FAKETIME_CACHE_DURATION=86400
shifted=$(.venv/bin/python -c 'import datetime; print(datetime.date.today())')
echo "clock shifted by $SHIFT: today is $shifted"
[ "$shifted" != "$(LD_PRELOAD= date -u +%F)" ] || { echo "the clock did not move" >&2; exit 1; }
exec .venv/bin/python -m pytest -q -p no:cacheprovider \
  -m "not stack and not browser and not postgres and not redis and not nginx" \
  --ignore=tests/reliability --ignore=tests/production --ignore=tests/run \
  --ignore=tests/conversations "$@"
