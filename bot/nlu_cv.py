"""`rasa test nlu --cross-validation` with one evaluation-only fix; used by `bot.nlu_eval`.

    python -m bot.nlu_cv --folds 2 --config config.yml --nlu data/nlu --out results/nlu-cv

Rasa's evaluation parses each test message with ``only_output_properties=False``, so the result
holds the message's spaCy ``Doc``; for every message the FallbackClassifier caught it then
``copy.deepcopy``s that result, and deep-copying a ja_ginza ``Doc`` copies its whole vocabulary
and vectors (seconds per message, gigabytes of RSS). The copy only exists so that two keys can be
replaced, so a shallow copy gives the same evaluation.
"""
from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional


def _undo_fallback_prediction(prediction: Dict[str, Any]) -> Dict[str, Any]:
    """`rasa.nlu.classifiers.fallback_classifier.undo_fallback_prediction` without the deep copy."""
    from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY

    ranking = prediction.get(INTENT_RANKING_KEY, [])
    if len(ranking) < 2:
        return prediction
    return {**prediction, INTENT: ranking[1], INTENT_RANKING_KEY: ranking[1:]}


def main(argv: Optional[List[str]] = None) -> None:
    from rasa.__main__ import main as rasa_main
    from rasa.nlu.classifiers import fallback_classifier

    fallback_classifier.undo_fallback_prediction = _undo_fallback_prediction
    sys.argv = ["rasa", "test", "nlu", "--cross-validation", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
