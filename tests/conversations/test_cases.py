"""The evaluation cases are well-formed, labelled by the seed's table, and held out from training."""

from __future__ import annotations

from difflib import SequenceMatcher
from pathlib import Path

import pytest
import yaml

from bot.language.replies import DialogueContext, option_key, read_reply
from tests.conversations.cases import REAL, SIGNALS, load_cases, load_real_cases
from tests.conversations.label import main as label_main

ROOT = Path(__file__).resolve().parents[2]
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
    """Every evaluation case: the project's own and the real-derived tier."""
    return load_cases() + load_real_cases()


def test_enough_cases_of_each_kind(cases):
    own = [c for c in cases if c.tier == "own"]
    kinds = {k: sum(c.kind == k for c in own) for k in ("first_messages", "multi_turn", "steering")}
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


# --- the real-derived tier (tests/conversations/real/README.md) ------------------------------------
def test_real_tier_has_its_size_sources_and_split():
    real = load_real_cases()
    first = [c for c in real if c.kind == "first_messages"]
    multi = [c for c in real if c.kind == "multi_turn"]
    assert len(first) >= 200 and len(multi) >= 40, (len(first), len(multi))
    assert sum(c.gold.crisis for c in real) >= 20
    assert all(c.source.startswith(("http://", "https://")) for c in real)
    heldout = sum(c.split == "heldout" for c in real) / len(real)
    assert 0.30 <= heldout <= 0.36, heldout  # every third case


def test_every_real_case_has_an_adjudicated_blind_label():
    from tests.conversations.real.blind import raw_cases

    labels = yaml.safe_load((REAL / "labels" / "final.yml").read_text(encoding="utf-8"))
    ids = {str(raw["id"]) for _split, raw in raw_cases()}
    assert ids <= set(labels), sorted(ids - set(labels))[:20]
    from tests.conversations.real.adjudicate import _load

    for name in ("a.yml", "b.yml"):
        assert ids <= set(_load(name)), name


def test_the_blind_view_shows_nothing_but_ids_and_texts(capsys):
    from tests.conversations.real.blind import main as blind_main

    blind_main([])
    shown = capsys.readouterr().out
    assert "http" not in shown and "source" not in shown and "heldout" not in shown and "style" not in shown
    assert shown.count("## ") == len(load_real_cases())


def test_no_training_data_comes_from_a_page_an_evaluation_case_came_from():
    """Training examples may be derived from real text too, but never from the same page; their
    sources are listed in data/nlu_sources.txt."""
    lines = (ROOT / "data" / "nlu_sources.txt").read_text(encoding="utf-8").splitlines()
    training_sources = {_page(line) for line in lines if line.strip() and not line.startswith("#")}
    assert len(training_sources) >= 100
    assert not training_sources & {_page(c.source) for c in load_real_cases()}


def _page(url: str) -> str:
    """One page whatever the scheme, host prefix or trailing slash it was written with."""
    url = url.strip().split("#")[0]
    url = url.split("://", 1)[-1].removeprefix("www.").rstrip("/")
    return url
