#!/usr/bin/env bash
# The side lane of `make test` (.ci/test_all.sh): pytest on the suites that start their own
# processes (SIDE_SUITES), the test stories, the pure-Python suites (tests/safety, tests/unit) and
# the fast suites under a shifted clock (unless they ran beside the training), and the NLU figures
# (the cross-validation only when its inputs changed), one after another, while the foreground
# pytest runs beside them.
# Every stage runs even if one before it failed; results/side-lane.status holds 0 when all
# passed, and results/side-lane.times each stage's wall time.
set -uo pipefail
MODEL=${1:?model}
cd "$(dirname "$0")/.."
# The suites that start their own processes: .ci/test_all.sh names them (SIDE_SUITES).
: "${SIDE_SUITES:?set by .ci/test_all.sh}"
# One thread per pool: pytest and its Rasa processes have the other core (issue 20, "Threads").
export TF_INTRA_OP_PARALLELISM_THREADS=1 TF_INTER_OP_PARALLELISM_THREADS=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# Each stage has a time limit, so a hang fails the lane with its log instead of stalling CI.
failed=0
stage_start=0
begin() { echo "== $1"; stage_name=$1; stage_start=$(date +%s); }
end() { printf '%-34s %5d s\n' "$stage_name" $(( $(date +%s) - stage_start )) >>results/side-lane.times; }

# The suites that start their own processes (SIDE_SUITES in .ci/test_all.sh), beside the foreground's
# shared stack: the cluster, the fault-test stack and make run load on this core.
begin "pytest: ${SIDE_SUITES}"
# shellcheck disable=SC2086
if ! .venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 ${SIDE_SUITES} \
    >results/pytest-side.log 2>&1; then
  tail -120 results/pytest-side.log; echo "the side lane's pytest failed"; failed=1
else
  tail -30 results/pytest-side.log
fi
end

# The test stories run here unless the foreground takes them after its pytest (STORIES_IN_FOREGROUND=1,
# set by .ci/test_all.sh when the lanes run side by side: that balances the two lanes).
if [ "${STORIES_IN_FOREGROUND:-0}" != 1 ]; then
begin "test stories"
if ! bash .ci/test_stories_stage.sh "$MODEL"; then failed=1; fi
end
fi

# The pure-Python suites and the fast suites under a shifted clock (.ci/fast_suites.sh): here unless
# they already ran beside the training.
if [ "${SIDE_LANE_FAST_DONE:-0}" != 1 ]; then
  bash .ci/fast_suites.sh results/side-lane.times || failed=1
fi

# 2 folds (make nlu-cv runs 3); issue 11's figures (intent macro-F1, affirm, deny, skip) are printed,
# not enforced (they vary by ±0.01 between fresh runs; `python -m tools.nlu_eval --gate` enforces
# them); crisis recall through the whole trained pipeline is enforced.
begin "NLU cross-validation"
if ! timeout -k 30 2400 .venv/bin/python -m tools.nlu_eval --folds "${NLU_CV_FOLDS:-2}"; then
  echo "NLU cross-validation or its gate failed"; failed=1
fi
end

echo "$failed" >results/side-lane.status
exit "$failed"
