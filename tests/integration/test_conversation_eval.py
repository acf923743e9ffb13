"""`make eval`'s gates, in `make test`: every case in tests/conversations/ through the real stack.

Relation, age and windows at least 95 %, steering 100 %, crisis recall 100 %, and never the same
reply three times in a row (tests/conversations/evaluate.py says how each is measured).
"""
from __future__ import annotations

import pytest

from tests.conversations.evaluate import gate_failures, report_failures, run_evaluation

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]


def test_conversation_evaluation_meets_its_gates(stack, capsys):
    summary, results = run_evaluation(stack.rasa_url, None, stack.workdir, workers=4)
    failures = gate_failures(summary)
    with capsys.disabled():
        print("\nmake eval (test stack):", {k: summary[k] for k in (
            "cases", "relation", "age", "needs", "windows", "steering", "crisis_recall",
            "calm_with_crisis_reply", "fallback_rate", "turns_to_first_recommendation")})
        if failures:
            report_failures(results, 40)
    assert not failures, failures
