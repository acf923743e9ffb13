"""Ending the link between a person and their statistics rows (issue 21, M-3).

A statistics row names its person and conversation by keyed hashes of the sender id
(`bot.store.stats.person_key`, `conversation_key`): whoever holds MADOGUCHI_STATS_KEY and a sender id
finds that person's rows. Two things end that link, by replacing the hashes with random values
that no key reproduces:

  * erasure (「記録を消して」): every row of the sender, at once;
  * the purge: every row of a fiscal year (April–March, the unit of the figures) once that
    year ended more than the statistics link retention ago (MADOGUCHI_RETENTION_STATS_LINK_DAYS,
    default 365), whoever it belongs to.

The rows stay: the rows of one person get one random value together, each conversation its
own, so a year's figures do not change. Only the link across years ends: a person seen again
later counts as new (新規) in the later year.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import and_, not_, select
from sqlalchemy.orm import Session

from bot import clock, config
from bot.clock import JST
from bot.store.models import StatEvent
from bot.store.stats import fiscal_year_of, person_key

#: Unlinked values start with this letter; keyed ones are lowercase hexadecimal.
UNLINKED = "x"


def stats_link_retention() -> timedelta:
    """MADOGUCHI_RETENTION_STATS_LINK_DAYS (default 365)."""
    return timedelta(days=config.settings().integer("MADOGUCHI_RETENTION_STATS_LINK_DAYS"))


def _random() -> str:
    return UNLINKED + secrets.token_hex(16)


def _unlink(rows: Iterable[StatEvent]) -> int:
    persons: dict[str, str] = {}
    conversations: dict[tuple[str, str], str] = {}
    count = 0
    for row in rows:
        old_person = row.person
        row.person = persons.setdefault(old_person, _random())
        row.conversation = conversations.setdefault((old_person, row.conversation), _random())
        count += 1
    return count


def unlink_person(session: Session, sender_id: str) -> int:
    """Erasure: the sender's rows can no longer be found from the sender id. Returns rows."""
    rows = session.execute(select(StatEvent).where(StatEvent.person == person_key(sender_id))).scalars()
    return _unlink(rows.all())


def link_cutoff(now: datetime) -> datetime:
    """The start of the fiscal year that contains `now` minus the retention: every year before
    it ended at least that long ago."""
    day = clock.as_jst(now - stats_link_retention()).date()
    return datetime(fiscal_year_of(day), 4, 1, tzinfo=JST)


def unlink_older_than(session: Session, cutoff: datetime) -> int:
    """The purge (with `link_cutoff`): rows before `cutoff` that are still linked. Returns rows."""
    rows = session.execute(
        select(StatEvent).where(and_(StatEvent.at < cutoff, not_(StatEvent.person.startswith(UNLINKED))))
    ).scalars()
    return _unlink(rows.all())
