"""The merge rule: stronger evidence wins, later weaker mentions never overwrite, corrections do."""

from __future__ import annotations

import pytest

from bot.language.facts import Fact, Strength, corrected_part, is_correction, merge_fact
from bot.language.profile import extract_profile, merge_profile

B, S, I = Strength.BUTTON, Strength.STATED, Strength.INFERRED


@pytest.mark.parametrize(
    "current,new,kept",
    [
        (None, Fact("relation", "self", I), "new"),
        (Fact("relation", "family", S), Fact("relation", "self", I), "current"),  # 本人は… later
        (Fact("relation", "family", S), Fact("relation", "self", S), "current"),  # equal, different
        (Fact("relation", "self", I), Fact("relation", "family", S), "new"),
        (Fact("relation", "family", B), Fact("relation", "other", S), "current"),
        (Fact("relation", "family", B), Fact("relation", "self", S, correction=True), "new"),
        (Fact("age", (40, 49), B), Fact("age", (45, 45), S), "current"),  # a button outranks words
        (Fact("age", (40, 49), S), Fact("age", (45, 45), S), "new"),  # narrower and consistent
        (Fact("age", (45, 45), S), Fact("age", (54, 54), S), "current"),
        (Fact("age", (45, 45), S), Fact("age", (54, 54), S, correction=True), "new"),
        (Fact("age", (45, 45), S), None, "current"),
    ],
)
def test_merge_table(current, new, kept):
    assert merge_fact(current, new) is (new if kept == "new" else current)


@pytest.mark.parametrize(
    "text,correction,part",
    [
        ("45じゃなくて54です", True, "54です"),
        ("いえ、娘です", True, "いえ、娘です"),
        ("年齢まちがえました、38です", True, "年齢まちがえました、38です"),
        ("息子は45歳です", False, "息子は45歳です"),
    ],
)
def test_corrections(text, correction, part):
    assert is_correction(text) is correction
    if correction:
        assert corrected_part(text) == part


def _after(slots, text, **kw):
    changes = merge_profile(slots, extract_profile(text, **kw), text=text)
    return {**slots, **changes}


def test_parent_then_third_person_honnin_stays_family():
    slots = _after({}, "27歳の息子のことで")
    slots = _after(slots, "本人は働きたくないと言っています")
    assert slots["relation"] == "family" and slots["age_min"] == 27


def test_writers_own_age_is_not_the_persons():
    slots = _after({}, "息子が家から出てきません。45歳です")
    slots = _after(slots, "私も70を過ぎて体がきついです")
    assert (slots["age_min"], slots["age_max"]) == (45, 45)


def test_correction_overwrites_age_and_concerned():
    slots = _after({}, "息子が45歳です")
    slots = _after(slots, "45じゃなくて54です")
    assert slots["age_min"] == 54
    slots = _after(slots, "いえ、娘です")
    assert slots["concerned"] == "娘" and slots["relation"] == "family"


def test_school_grade_in_the_next_message_narrows_the_band():
    slots = _after({}, "娘が中学生です")
    assert (slots["age_min"], slots["age_max"]) == (12, 15)
    slots = _after(slots, "二年生です")
    assert (slots["age_min"], slots["age_max"]) == (13, 14)


def test_decade_button_outranks_later_inferred_age():
    slots = merge_profile({}, extract_profile("/inform"), age_button=(40, 49))
    assert slots["fact_strength"]["age"] == int(Strength.BUTTON)


def test_another_relatives_age_is_not_the_persons():
    slots = _after({}, "妻のことで相談させてください。39歳です")
    slots = _after(slots, "中学生の娘がいて、家のことは私がしています")
    assert (slots["age_min"], slots["age_max"]) == (39, 39)


def test_a_self_introduction_later_does_not_undo_who_the_person_is():
    slots = _after({}, "息子は四十五になります")
    slots = _after(slots, "私も 七十を過ぎて 体が きついです")
    assert slots["relation"] == "family"


def test_daijoubu_is_not_a_husband():
    assert extract_profile("もう大丈夫です").relation is None
