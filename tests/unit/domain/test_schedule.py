"""Business days, callback slots and the 第2・4金曜 rule."""

from __future__ import annotations

from datetime import date, datetime

from bot.domain.directory import load_directory
from bot.domain.schedule import (
    JST,
    callback_slots,
    is_business_day,
    next_business_opening,
    next_occurrences,
    parse_slot_key,
    slot_is_bookable,
)

SVC = load_directory().service
IBASHO = load_directory().window("mihara_ibasho").schedule


def test_weekends_holidays_and_new_year_are_closed():
    assert not is_business_day(date(2026, 11, 28), SVC)  # Saturday
    assert not is_business_day(date(2026, 11, 23), SVC)  # 勤労感謝の日
    for d in (date(2026, 12, 29), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 4 - 1)):
        assert not is_business_day(d, SVC)
    assert is_business_day(date(2027, 1, 4), SVC)
    assert is_business_day(date(2026, 11, 30), SVC)


def test_slots_skip_the_year_end_closure():
    slots = callback_slots(datetime(2026, 12, 28, 16, 30, tzinfo=JST), SVC, days=2)
    assert [s.key for s in slots] == ["2027-01-04_am", "2027-01-04_pm", "2027-01-05_am", "2027-01-05_pm"]


def test_slots_keep_at_least_an_hour_ahead():
    slots = callback_slots(datetime(2026, 11, 30, 12, 30, tzinfo=JST), SVC, days=1)
    assert slots[0].key == "2026-11-30_pm"
    later = callback_slots(datetime(2026, 11, 30, 16, 30, tzinfo=JST), SVC, days=1)
    assert later[0].key == "2026-12-01_am"


def test_slot_keys_round_trip_and_past_slots_are_refused():
    slot = parse_slot_key("2026-11-30_am", SVC)
    assert slot is not None and slot.key == "2026-11-30_am"
    assert slot_is_bookable(slot, datetime(2026, 11, 30, 10, 0, tzinfo=JST), SVC)
    assert not slot_is_bookable(slot, datetime(2026, 11, 30, 11, 30, tzinfo=JST), SVC)
    assert not slot_is_bookable(slot, datetime(2026, 12, 1, 9, 0, tzinfo=JST), SVC)
    assert parse_slot_key("2026-13-01_am", SVC) is None and parse_slot_key("garbage", SVC) is None


def test_staff_back_after_a_friday_night():
    back = next_business_opening(datetime(2026, 11, 27, 23, 0, tzinfo=JST), SVC)
    assert back == datetime(2026, 11, 30, 9, 0, tzinfo=JST)


def test_ibasho_next_two_fridays_skip_holidays():
    assert next_occurrences(IBASHO, date(2026, 11, 28)) == [date(2026, 12, 11), date(2026, 12, 25)]
    # 2nd Friday of 2027-01 is 1/8; 4th is 1/22.
    assert next_occurrences(IBASHO, date(2027, 1, 1)) == [date(2027, 1, 8), date(2027, 1, 22)]
