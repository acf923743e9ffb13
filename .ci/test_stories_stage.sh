#!/usr/bin/env bash
# The test stories stage of `make test` (.ci/test_all.sh or .ci/side_lane.sh runs it): rasa test
# core on tests/stories against the model, with a time limit so a hang fails with its log.
set -uo pipefail
MODEL=${1:?model}
cd "$(dirname "$0")/.."
if timeout -k 30 900 bash scripts/test_stories.sh "$MODEL" >results/stories.log 2>&1; then
  tail -1 results/stories.log
else
  tail -40 results/stories.log; cat results/core/failed_test_stories.yml 2>/dev/null
  echo "test stories failed"; exit 1
fi
