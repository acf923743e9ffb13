"""`make eval`'s gates, in `make test`: every case in tests/conversations/ through the real stack.

The project's own cases meet the issue-18 gates: relation at least 95 % and wrong at most 1 %, no
false fact in the reflection, age and windows at least 95 %, steering and crisis recall 100 %, never
the same reply three times in a row. The real-derived tier (tests/conversations/real/) is held to
the ratchet in tests/conversations/results/floors.yml; its targets are printed as GATE lines.
"""

from __future__ import annotations

import pytest
import yaml

from tests.conversations.evaluate import RESULTS, _tier_failures, gate_failures, report_failures, run_evaluation

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]
SHOWN = (
    "cases",
    "relation",
    "relation_wrong",
    "reflection_false_facts",
    "age",
    "windows",
    "steering",
    "crisis_recall",
    "calm_with_crisis_reply",
)


def real_floor_failures(summary: dict) -> list[str]:
    floors = yaml.safe_load((RESULTS / "floors.yml").read_text(encoding="utf-8"))["real_all"]
    gates = {k: v for k, v in floors.items() if not k.endswith("_max")}
    ceilings = {k.removesuffix("_max"): v for k, v in floors.items() if k.endswith("_max")}
    return _tier_failures("real/all ", summary["real"]["all"], gates, ceilings)


def test_conversation_evaluation_meets_its_gates(stack, capsys):
    summary, results = run_evaluation(stack.rasa_url, None, stack.workdir, workers=4)
    own_failures = [f for f in gate_failures(summary) if not f.startswith("real/")]
    failures = own_failures + real_floor_failures(summary)
    with capsys.disabled():
        print("\nmake eval (test stack), own cases:", {k: summary[k] for k in SHOWN})
        for part in ("all", "dev", "heldout"):
            print(f"real-derived tier, {part}:", {k: summary["real"][part][k] for k in SHOWN})
        print("targets not met yet:", [f for f in gate_failures(summary) if f.startswith("real/")])
        if failures:
            report_failures(results, 40)
    assert not failures, failures
