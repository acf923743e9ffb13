#!/usr/bin/env bash
# Everything `make test` runs, in order. pytest runs last so its summary closes the output.
set -euo pipefail
MODEL=${1:?model}
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 RASA_TELEMETRY_ENABLED=false
export MADOGUCHI_MODEL=$MODEL
bash scripts/services.sh

echo "== rasa data validate"
.venv/bin/rasa data validate --quiet 2>&1 | grep -v -e "Warning" -e "warn(" -e "^\s*$" -e "declare_namespace" -e "pkg_resources" -e "xla_computation" -e "More info" || true
.venv/bin/rasa data validate --quiet >/dev/null 2>&1 || { echo "rasa data validate failed"; .venv/bin/rasa data validate; exit 1; }

echo "== test stories"
bash scripts/test_stories.sh "$MODEL" 2>&1 | grep -v -e "Warning" -e "warn(" -e "declare_namespace" -e "pkg_resources" -e "xla_computation" | tail -5
test "${PIPESTATUS[0]}" -eq 0

echo "== NLU cross-validation"
.venv/bin/python -m bot.nlu_eval --folds "${NLU_CV_FOLDS:-3}"

echo "== pytest"
bash scripts/ensure_chromium.sh
export MADOGUCHI_REQUIRE_BROWSER=1
.venv/bin/python -m pytest -q -p no:cacheprovider
