"""`rasa test nlu --cross-validation` with two evaluation-only fixes; used by `tools.nlu_eval`.

    python -m tools.nlu_cv --folds 2 --config config.yml --nlu data/nlu --out results/nlu-cv

Rasa shuffles the folds without a seed, so two runs on the same data differ by about ±0.005
macro-F1 and a change to the data cannot be told from the draw. The split is seeded
(``MADOGUCHI_CV_SEED``, default 42, the pipeline's own seed); set it to another value to see the spread.

Rasa's evaluation parses each test message with ``only_output_properties=False``, so the result
holds the message's spaCy ``Doc``; for every message the FallbackClassifier caught it then
``copy.deepcopy``s that result, and deep-copying a ja_ginza ``Doc`` copies its whole vocabulary
and vectors (seconds per message, gigabytes of RSS). The copy only exists so that two keys can be
replaced, so a shallow copy gives the same evaluation.

For every fold Rasa also parses the fold's *training* half, only to log "train" figures that
``--quiet`` hides and that no report holds: a third of the run (issue 20). That call is
skipped; the test half, the reports and the figures are as before.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

from bot import config


def _undo_fallback_prediction(prediction: Dict[str, Any]) -> Dict[str, Any]:
    """`rasa.nlu.classifiers.fallback_classifier.undo_fallback_prediction` without the deep copy."""
    from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY

    ranking = prediction.get(INTENT_RANKING_KEY, [])
    if len(ranking) < 2:
        return prediction
    return {**prediction, INTENT: ranking[1], INTENT_RANKING_KEY: ranking[1:]}


def _seed_fold_split(seed: int) -> None:
    """Make `rasa.nlu.test.generate_folds` (which imports StratifiedKFold when called) reproducible."""
    import sklearn.model_selection as model_selection

    base = model_selection.StratifiedKFold

    class SeededStratifiedKFold(base):  # type: ignore[misc, valid-type]
        def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state: Any = None) -> None:
            if shuffle and random_state is None:
                random_state = seed
            super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)

    model_selection.StratifiedKFold = SeededStratifiedKFold


def _skip_train_set_evaluation() -> None:
    """`rasa.nlu.test.cross_validate` calls `combine_result` twice per fold: first for the
    training half without result lists (its metrics are only logged), then for the test half
    with them. Only the second feeds the reports."""
    import rasa.nlu.test as nlu_test

    combine = nlu_test.combine_result

    async def test_half_only(
        intent_metrics,
        entity_metrics,
        response_selection_metrics,
        processor,
        data,
        intent_results=None,
        entity_results=None,
        response_selection_results=None,
    ):
        if intent_results is None and entity_results is None and response_selection_results is None:
            return intent_metrics, entity_metrics, response_selection_metrics
        return await combine(
            intent_metrics,
            entity_metrics,
            response_selection_metrics,
            processor,
            data,
            intent_results,
            entity_results,
            response_selection_results,
        )

    nlu_test.combine_result = test_half_only


PHASES: Dict[str, float] = {}


def _time_phases() -> None:
    """Wall seconds per phase, summed over the folds: training, loading, parsing the test half."""
    import rasa.model_training
    import rasa.nlu.test as nlu_test

    def timed(name: str, fn: Any, is_async: bool = False) -> Any:
        if is_async:

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.monotonic()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    PHASES[name] = round(PHASES.get(name, 0.0) + time.monotonic() - started, 1)

            return async_wrapper

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                PHASES[name] = round(PHASES.get(name, 0.0) + time.monotonic() - started, 1)

        return wrapper

    rasa.model_training.train_nlu = timed("train", rasa.model_training.train_nlu)
    agent = nlu_test.Agent

    class TimedAgent(agent):  # type: ignore[misc, valid-type]
        load = staticmethod(timed("load", agent.load))

    nlu_test.Agent = TimedAgent
    nlu_test.combine_result = timed("parse test half", nlu_test.combine_result, is_async=True)


def _out_dir(args: List[str]) -> Optional[str]:
    return args[args.index("--out") + 1] if "--out" in args[:-1] else None


def main(argv: Optional[List[str]] = None) -> None:
    from rasa.__main__ import main as rasa_main
    from rasa.nlu.classifiers import fallback_classifier

    fallback_classifier.undo_fallback_prediction = _undo_fallback_prediction
    _seed_fold_split(config.settings().integer("MADOGUCHI_CV_SEED"))
    _skip_train_set_evaluation()
    _time_phases()
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["rasa", "test", "nlu", "--cross-validation", *args]
    try:
        rasa_main()
    finally:
        out = _out_dir(args)
        if out and PHASES:
            with open(os.path.join(out, "phases.json"), "w", encoding="utf-8") as f:
                json.dump(PHASES, f)
        if out:
            with open(os.path.join(out, "sources.json"), "w", encoding="utf-8") as f:
                json.dump(project_sources(), f)


def project_sources() -> List[str]:
    """The project's own Python files this run imported (bot.rasa_plugins.components and what it uses):
    `tools.nlu_eval` keys its cache of the result on them, beside the data and the config."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if path.endswith(".py") and path.startswith(root + os.sep) and os.sep + ".venv" + os.sep not in path:
            found.add(os.path.relpath(path, root))
    return sorted(found)


if __name__ == "__main__":
    main()
