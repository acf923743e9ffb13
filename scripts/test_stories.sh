#!/usr/bin/env bash
# Test stories (tests/stories) against the trained model; any wrong prediction fails.
set -euo pipefail
MODEL=${1:?model}
cd "$(dirname "$0")/.."
rm -rf results/core
.venv/bin/rasa test core --stories tests/stories --model "$MODEL" --endpoints endpoints.yml \
  --fail-on-prediction-errors --out results/core --no-plot --quiet
echo "test stories: all predictions correct ($(grep -c 'story:' tests/stories/*.yml) stories)"
