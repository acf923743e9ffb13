"""The evaluation cases are well-formed, labelled by the seed's table, and held out from training."""
from __future__ import annotations

from difflib import SequenceMatcher
from pathlib import Path

import pytest
import yaml

from bot.replies import DialogueContext, option_key, read_reply
from tests.conversations.cases import SIGNALS, load_cases
from tests.conversations.label import main as label_main

ROOT = Path(__file__).resolve().parent.parent
# Closed-class replies (はい, いいえ, なし, 言いたくないです, ありがとうございました …) must be in
# the training data and in the cases alike; everything else may not repeat a training example.
GENERIC_MAX_CHARS = 5
NEAR = 0.9
_THANKS = ("ありがとう", "ありがと")


def closed_class(text: str) -> bool:
    key = option_key(text)
    if len(key) <= GENERIC_MAX_CHARS or (key.startswith(_THANKS) and len(key) <= 12):
        return True
    reading = read_reply(text, DialogueContext(requested_slot="age_status"))
    return reading is not None and reading.rule in ("skip", "dont_know", "affirm", "deny", "decline@question")


def _training_texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in str(item.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    texts.append(line.strip()[2:])
    return texts


@pytest.fixture(scope="module")
def cases():
    return load_cases()


def test_enough_cases_of_each_kind(cases):
    kinds = {k: sum(c.kind == k for c in cases) for k in ("first_messages", "multi_turn", "steering")}
    assert kinds["first_messages"] >= 300 and kinds["multi_turn"] >= 120 and kinds["steering"] >= 60, kinds


def test_every_steering_signal_is_known(cases):
    for c in cases:
        for t in c.turns:
            assert set(t.expect) | set(t.expect_not) <= SIGNALS, c.id


def test_window_labels_follow_the_seed_table():
    assert label_main(["--check"]) == 0, "run: python -m tests.conversations.label"


def test_no_case_repeats_a_training_example(cases):
    training = {}
    for text in _training_texts():
        key = option_key(text)
        if len(key) > GENERIC_MAX_CHARS:
            training.setdefault(key, text)
    by_length = sorted(training)
    offenders = []
    for case in cases:
        for turn in case.turns:
            key = option_key(turn.user)
            if closed_class(turn.user):
                continue
            if key in training:
                offenders.append((case.id, turn.user, training[key]))
                continue
            for other in by_length:
                if abs(len(other) - len(key)) > len(key) * (1 - NEAR) + 1:
                    continue
                m = SequenceMatcher(None, key, other, autojunk=False)
                if m.real_quick_ratio() >= NEAR and m.quick_ratio() >= NEAR and m.ratio() >= NEAR:
                    offenders.append((case.id, turn.user, training[other]))
                    break
    assert not offenders, "\n".join(f"{cid}: {t!r} ~ training {o!r}" for cid, t, o in offenders[:200])


def test_closed_class_exemption_is_narrow():
    assert closed_class("言いたくないです") and closed_class("ありがとうございました。")
    assert not closed_class("息子のことで相談したいです")
    assert not closed_class("どこに相談したらええん？")
