"""Routing against a table built from the seed's 年齢 × 事業 table."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.directory import load_directory
from bot.domain.routing import Profile, eligible, route_windows

D = load_directory()
TODAY = date(2026, 11, 30)

# The seed's rows: (window, youngest served, oldest served or None)
SEED_AGES = [
    ("mihara_kokoro", 0, None),  # 0歳〜, 相談窓口・総合相談窓口
    ("mihara_ibasho", 15, 39),  # 15歳〜39歳, 若者居場所づくり事業
    ("chanks", 40, None),  # 50歳の行, 居場所（40歳以上）
    ("hiroshima_center", 18, None),  # 18歳〜, 【福祉】
    ("jiritsu_mihara", 18, None),  # 18歳〜, 【雇用】
]


@pytest.mark.parametrize("window_id,lo,hi", SEED_AGES)
def test_directory_age_ranges_follow_the_seed(window_id, lo, hi):
    w = D.window(window_id)
    assert (w.age.min or 0, w.age.max) == (lo, hi)


@pytest.mark.parametrize("age", [0, 7, 14, 15, 17, 18, 25, 39, 40, 45, 55, 64, 70])
@pytest.mark.parametrize("window_id,lo,hi", SEED_AGES)
def test_offered_only_within_the_seed_age_row(age, window_id, lo, hi):
    inside = age >= lo and (hi is None or age <= hi)
    assert eligible(D.window(window_id), Profile("self", age, age)) is inside


@pytest.mark.parametrize(
    "profile,expected_first,forbidden",
    [
        (Profile("family", 45, 45, ("ibasho",)), "chanks", {"mihara_ibasho", "saposute"}),
        (Profile("self", 25, 29, ("ibasho",)), "mihara_ibasho", {"chanks"}),
        (Profile("self", 30, 30, ("work",)), "jiritsu_mihara", set()),
        (Profile("family", 14, 14, ("school",)), "kyoiku_iinkai", {"hiroshima_center", "jiritsu_mihara"}),
        (Profile("family", 45, 45, ("work",)), "jiritsu_mihara", {"saposute", "mihara_ibasho"}),
        (Profile("self", 45, 45, ("family",)), "hiroshima_center", {"kazokukai"}),
    ],
)
def test_best_window_and_what_is_never_offered(profile, expected_first, forbidden):
    recs = route_windows(profile, D, today=TODAY)
    ids = [r.window.id for r in recs]
    assert ids[0] == expected_first
    assert not forbidden & set(ids)
    assert len(ids) in (1, 2, 3)


def test_unknown_age_offers_only_windows_for_every_age():
    recs = route_windows(Profile("family", None, None, ("ibasho", "family")), D, today=TODAY)
    assert recs and all(r.window.age.unrestricted for r in recs)


def test_city_window_is_always_in_the_list():
    for p in (Profile(), Profile("self", 20, 20, ("work",)), Profile("family", 50, 59, ("living",))):
        assert "mihara_kokoro" in [r.window.id for r in route_windows(p, D, today=TODAY)]


def test_reasons_say_why_and_names_are_written_as_in_the_directory():
    recs = route_windows(Profile("family", 25, 25, ("ibasho",)), D, today=TODAY)
    first = recs[0]
    assert first.window.name == "若者居場所づくり事業（生涯学習課）"
    assert any("居場所" in r for r in first.reasons)
    assert any("15〜39歳" in r for r in first.reasons)
    assert any("次の開催: 12/11・12/25" == r for r in first.reasons)


def test_payload_never_carries_an_unverified_phone():
    for p in (Profile(), Profile("family", 45, 45, ("ibasho",)), Profile("self", 20, 20, ("work",))):
        for r in route_windows(p, D, today=TODAY):
            payload = r.to_payload(D)
            assert payload["phone"] is None  # no local number is verified yet
            assert payload["needs_callback"] is True
