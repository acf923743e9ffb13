"""How many callback tickets one sender may book in a rolling window (issue 21, M-5; no I/O).

Past the limit the action server books no new ticket and tells the person that a request is
already with the staff, with the 24-hour lines (actions.callback). The count itself is
`bot.store.tickets.count_recent_tickets`, by the pseudonymous sender id the tickets carry.

The limits are settings (bot.config): MADOGUCHI_TICKETS_PER_SENDER tickets (0: no cap) within
MADOGUCHI_TICKET_WINDOW_HOURS. Every ticket the sender booked in the window counts, whatever its
status; an erased ticket has no sender any more and does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping, Optional

from bot import config

__all__ = ["TicketLimit", "may_book", "sender_limit"]


@dataclass(frozen=True)
class TicketLimit:
    #: Tickets one sender may book within `window`; 0 means no cap.
    per_sender: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.per_sender < 0:
            raise ValueError(f"tickets per sender must be 0 (no cap) or more, not {self.per_sender}")
        if self.window <= timedelta(0):
            raise ValueError(f"the ticket window must be longer than zero, not {self.window}")

    @property
    def capped(self) -> bool:
        return self.per_sender > 0

    def window_start(self, now: datetime) -> datetime:
        """The earliest creation time that still counts at `now` (rolling window)."""
        return now - self.window


def may_book(count_recent: int, limit: int) -> bool:
    """True while a sender who booked `count_recent` tickets in the window may book one more.

    `limit` is the number of tickets allowed in the window; 0 (or less) means no cap.
    """
    if count_recent < 0:
        raise ValueError(f"a count of tickets cannot be negative: {count_recent}")
    return limit <= 0 or count_recent < limit


def sender_limit(env: Optional[Mapping[str, str]] = None) -> TicketLimit:
    """The limit the settings give (``env``: the process environment when None)."""
    cfg = config.settings(env)
    per_sender = cfg.integer("MADOGUCHI_TICKETS_PER_SENDER")
    hours = cfg.integer("MADOGUCHI_TICKET_WINDOW_HOURS")
    try:
        return TicketLimit(per_sender=per_sender, window=timedelta(hours=hours))
    except ValueError as exc:
        raise config.ConfigError(f"MADOGUCHI_TICKETS_PER_SENDER / MADOGUCHI_TICKET_WINDOW_HOURS: {exc}") from None
