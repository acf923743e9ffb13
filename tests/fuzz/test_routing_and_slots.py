"""Properties of routing and of the callback form's validators (phone, slot keys, slot text)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import phonenumbers
from hypothesis import given
from hypothesis import strategies as st

from actions.common import slot_label
from bot.domain.directory import get_directory
from bot.domain.phone import normalize_phone
from bot.domain.routing import Profile, eligible, route_windows
from bot.domain.schedule import JST, CallbackSlot, callback_slots, is_business_day, parse_slot_key
from bot.domain.slots import match_slot_text
from tests.fuzz.counting import budget, tick

D = get_directory()
NEEDS = sorted(D.needs)
PERIODS = D.service.periods
WEEKDAYS = D.formats["weekdays"]

ages = st.one_of(
    st.none(),
    st.tuples(st.integers(0, 120), st.integers(0, 30)).map(lambda t: (float(t[0]), float(min(120, t[0] + t[1])))),
)
profiles = st.builds(
    lambda relation, band, needs: Profile(
        relation=relation, age_min=band[0] if band else None, age_max=band[1] if band else None, needs=tuple(needs)
    ),
    st.sampled_from([None, "self", "family", "other"]),
    ages,
    st.lists(st.sampled_from(NEEDS), unique=True, max_size=4),
)
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


@budget()
@given(profiles, days)
def test_route_windows_offers_one_to_three_eligible_windows(profile: Profile, today: date) -> None:
    tick()
    recs = route_windows(profile, D, today=today)
    assert len(recs) in (1, 2, 3), profile
    ids = [r.window.id for r in recs]
    assert len(set(ids)) == len(ids)
    for r in recs:
        w = r.window
        assert eligible(w, profile)
        if profile.age_min is None:
            assert w.age.unrestricted, (w.id, profile)
        else:
            assert w.age.overlaps(profile.age_min, profile.age_max if profile.age_max is not None else profile.age_min)
        if profile.relation == "self":
            assert not w.family_only
        assert r.reasons and all(isinstance(x, str) and x for x in r.reasons)
        assert all(d >= today for d in r.next_dates)
        payload = r.to_payload(D)
        assert payload["phone"] is None or w.phone_verified  # only verified numbers are ever offered


def _mobile_digits() -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["070", "080", "090"]), st.integers(1000, 9999), st.integers(0, 9999)).map(
        lambda t: f"{t[0]}{t[1]:04d}{t[2]:04d}"
    )


@budget()
@given(_mobile_digits(), st.sampled_from(["plain", "hyphen", "full", "choon", "space", "plus81", "paren", "sentence"]))
def test_mobile_numbers_in_any_format_normalise_to_e164(digits: str, style: str) -> None:
    tick()
    a, b, c = digits[:3], digits[3:7], digits[7:]
    full = str.maketrans("0123456789", "０１２３４５６７８９")
    text = {
        "plain": digits,
        "hyphen": f"{a}-{b}-{c}",
        "full": f"{a}-{b}-{c}".translate(full).replace("-", "－"),
        "choon": f"{a}ー{b}ー{c}".translate(full),
        "space": f"{a} {b} {c}",
        "plus81": f"+81 {a[1:]} {b} {c}",
        "paren": f"({a}){b}-{c}",
        "sentence": f"番号は{a}-{b}-{c}です。よろしくお願いします",
    }[style]
    assert normalize_phone(text) == "+81" + digits[1:], text


@budget()
@given(st.text(max_size=60))
def test_normalize_phone_never_raises_and_only_returns_valid_numbers(text: str) -> None:
    tick()
    result = normalize_phone(text)
    if result is not None:
        assert result.startswith("+")
        assert phonenumbers.is_valid_number(phonenumbers.parse(result))
        assert normalize_phone(result) == result


@budget()
@given(st.text(alphabet="0123456789０１２３ー- +()", max_size=9))
def test_too_short_digit_runs_are_not_phone_numbers(text: str) -> None:
    tick()
    assert normalize_phone(text) is None


@budget()
@given(days, st.sampled_from(PERIODS))
def test_slot_keys_round_trip(day: date, period) -> None:
    tick()
    slot = CallbackSlot(day, period)
    assert parse_slot_key(slot.key, D.service) == slot
    assert len(slot.key.encode()) <= 64  # fits Telegram callback_data


@budget()
@given(st.text(max_size=40))
def test_parse_slot_key_never_raises(key: str) -> None:
    tick()
    slot = parse_slot_key(key, D.service)
    assert slot is None or parse_slot_key(slot.key, D.service) == slot


@budget()
@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31)), st.data())
def test_offered_slots_are_future_business_periods_and_their_labels_match_back(moment: datetime, data) -> None:
    tick()
    now = moment.replace(tzinfo=JST)
    slots = callback_slots(now, D.service)
    assert slots
    for s in slots:
        assert is_business_day(s.day, D.service)
        assert s.ends_at >= now + timedelta(hours=1)
    chosen = data.draw(st.sampled_from(slots))
    assert match_slot_text(slot_label(chosen), slots, WEEKDAYS) == chosen


@budget()
@given(st.text(max_size=40), st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31)))
def test_slot_text_never_picks_a_slot_that_was_not_offered(text: str, moment: datetime) -> None:
    tick()
    slots = callback_slots(moment.replace(tzinfo=JST), D.service)
    match = match_slot_text(text, slots, WEEKDAYS)
    assert match is None or match in slots
