#!/usr/bin/env bash
# Everything `make test` runs, in order. pytest runs last so its summary closes the output.
set -euo pipefail
MODEL=${1:?model}
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 RASA_TELEMETRY_ENABLED=false
export MADOGUCHI_MODEL=$MODEL
bash scripts/services.sh

echo "== rasa data validate"
if ! .venv/bin/rasa data validate --quiet >results-validate.log 2>&1; then
  cat results-validate.log; echo "rasa data validate failed"; exit 1
fi
grep -E "UserWarning: The (intent|utterance)|conflict|Validat" results-validate.log | sed 's/.*UserWarning: //' | head -20 || true
rm -f results-validate.log

echo "== test stories"
if ! bash scripts/test_stories.sh "$MODEL" >results-stories.log 2>&1; then
  tail -40 results-stories.log; cat results/core/failed_test_stories.yml 2>/dev/null; exit 1
fi
tail -1 results-stories.log
rm -f results-stories.log

echo "== NLU cross-validation"
.venv/bin/python -m bot.nlu_eval --folds "${NLU_CV_FOLDS:-2}"  # make nlu-cv runs 3 folds

echo "== pytest"
bash scripts/ensure_debian_packages.sh
export MADOGUCHI_REQUIRE_BROWSER=1
# Everything, the fault-injection suite (tests/reliability) and the two-instance production
# suite on the local PostgreSQL + Redis + nginx (tests/production) included.
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15
