"""Callback tickets per sender in a rolling window (issue 21, M-5): the rule and its settings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot import config
from bot.domain.ticket_limits import TicketLimit, may_book, sender_limit


@pytest.mark.parametrize(
    "count,limit,allowed",
    [
        (0, 3, True),
        (2, 3, True),
        (3, 3, False),  # the third ticket was the last one
        (7, 3, False),
        (1, 1, False),
        (0, 1, True),
        (50, 0, True),  # 0: no cap
    ],
)
def test_a_sender_may_book_until_the_limit_is_reached(count: int, limit: int, allowed: bool) -> None:
    assert may_book(count, limit) is allowed


def test_a_negative_count_is_a_bug_not_a_booking() -> None:
    with pytest.raises(ValueError):
        may_book(-1, 3)


def test_the_defaults_are_three_tickets_in_24_hours() -> None:
    limit = sender_limit({})
    assert limit == TicketLimit(per_sender=3, window=timedelta(hours=24))
    assert limit.capped
    now = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)
    assert limit.window_start(now) == datetime(2026, 11, 29, 1, 0, tzinfo=timezone.utc)


def test_the_settings_set_the_limit_and_0_turns_it_off() -> None:
    limit = sender_limit({"MADOGUCHI_TICKETS_PER_SENDER": "5", "MADOGUCHI_TICKET_WINDOW_HOURS": "72"})
    assert limit == TicketLimit(per_sender=5, window=timedelta(hours=72))
    assert not sender_limit({"MADOGUCHI_TICKETS_PER_SENDER": "0"}).capped


@pytest.mark.parametrize(
    "env",
    [
        {"MADOGUCHI_TICKETS_PER_SENDER": "-1"},
        {"MADOGUCHI_TICKET_WINDOW_HOURS": "0"},
        {"MADOGUCHI_TICKET_WINDOW_HOURS": "-24"},
        {"MADOGUCHI_TICKETS_PER_SENDER": "three"},
    ],
)
def test_a_bad_setting_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(config.ConfigError, match="MADOGUCHI_TICKET"):
        sender_limit(env)
