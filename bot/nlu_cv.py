"""`rasa test nlu --cross-validation` with two evaluation-only fixes; used by `bot.nlu_eval`.

    python -m bot.nlu_cv --folds 2 --config config.yml --nlu data/nlu --out results/nlu-cv

Rasa shuffles the folds without a seed, so two runs on the same data differ by about ±0.005
macro-F1 and a change to the data cannot be told from the draw. The split is seeded
(``MADOGUCHI_CV_SEED``, default 42, the pipeline's own seed); set it to another value to see the spread.

Rasa's evaluation parses each test message with ``only_output_properties=False``, so the result
holds the message's spaCy ``Doc``; for every message the FallbackClassifier caught it then
``copy.deepcopy``s that result, and deep-copying a ja_ginza ``Doc`` copies its whole vocabulary
and vectors (seconds per message, gigabytes of RSS). The copy only exists so that two keys can be
replaced, so a shallow copy gives the same evaluation.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Optional


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


def main(argv: Optional[List[str]] = None) -> None:
    from rasa.__main__ import main as rasa_main
    from rasa.nlu.classifiers import fallback_classifier

    fallback_classifier.undo_fallback_prediction = _undo_fallback_prediction
    _seed_fold_split(int(os.environ.get("MADOGUCHI_CV_SEED", "42")))
    sys.argv = ["rasa", "test", "nlu", "--cross-validation", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
