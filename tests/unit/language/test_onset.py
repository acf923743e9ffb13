"""The age when it began is not the age now (bot/language/onset.py, issue 18)."""

from __future__ import annotations

import pytest

from bot.language.onset import read_onset
from bot.language.profile import extract_profile


@pytest.mark.parametrize(
    "text,now",
    [
        ("高校1年で学校に行けなくなってから、8年ほど部屋にこもったままの息子がいます", (23, 24)),
        ("弟が26の頃から実家にこもって、もう7年になります", (33, 33)),
        ("中学を出てから4年くらい家にいる兄がいます", (19, 19)),
        ("長男が　高校１年の夏から　家にこもったままで　もう３３年になります", (48, 49)),
        ("娘は高校二年で学校に行けなくなり、それから十年近く部屋にいます", (25, 27)),
    ],
)
def test_a_start_and_a_duration_give_the_age_now(text, now):
    onset = read_onset(text)
    assert onset is not None and onset.now == now
    update = extract_profile(text)
    assert (update.age_min, update.age_max) == now


@pytest.mark.parametrize(
    "text,band",
    [
        ("中三で学校行っとらんのよ", (14, 15)),
        ("姉が43歳で、実家にひきこもっています", (43, 43)),
        ("自分は31歳で、ひきこもって6年になります", (31, 31)),
        ("娘が大学2年の秋から大学に行かなくなりました", (19, 20)),
    ],
)
def test_the_age_now_is_not_mistaken_for_a_start(text, band):
    update = extract_profile(text)
    assert (update.age_min, update.age_max) == band


def test_a_start_age_without_a_duration_gives_no_age():
    update = extract_profile("息子は26の頃から家にこもるようになりました")
    assert update.age_min is None


def test_a_computed_age_routes_but_is_not_said_back_as_stated():
    from bot.language.facts import Strength

    update = extract_profile("弟が26の頃から実家にこもって、もう7年になります")
    assert update.age_strength < Strength.STATED


def test_a_step_of_life_with_its_age_starts_the_count():
    update = extract_profile("兄は高校受験に失敗してから、もう20年も家にいます")
    assert (update.age_min, update.age_max) == (35, 35)


def test_a_school_named_without_a_year_starts_the_count():
    update = extract_profile("弟は中学を休みがちになってから、もう10年ほど家にいます")
    assert update.age_min is not None and 22 <= update.age_min <= 25
