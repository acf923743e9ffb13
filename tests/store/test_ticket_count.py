"""The count behind the ticket limit (issue 21, M-5): a sender's tickets in the window, by the
pseudonymous sender id the tickets carry, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.security import crypto
from bot.security.pseudonym import pseudonymize_with
from bot.store.db import get_engine, session_scope
from bot.store.models import CallbackTicket
from bot.store.tickets import (
    TicketDraft,
    book_callback,
    count_recent_tickets,
    erase_personal_fields,
    record_consent,
)

PG_ADMIN = "postgresql+psycopg2://root@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)
KEY = b"k" * 32
PERSON = pseudonymize_with(KEY, "line", "U4af4980629")
OTHER = pseudonymize_with(KEY, "line", "U0000000001")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    crypto.reset_keys()
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path / 'madoguchi.db'}"
        yield db
        get_engine(db).dispose()
        crypto.reset_keys()
        return
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", future=True)
    name = f"madoguchi_count_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db = f"postgresql+psycopg2://root@127.0.0.1:5432/{name}"
    try:
        yield db
    finally:
        get_engine(db).dispose()
        crypto.reset_keys()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _book(url: str, clock: Any, sender: str, key: str, at: datetime) -> int:
    clock.pin(at)
    with session_scope(url) as s:
        record_consent(s, sender, "callback_summary", True)
    draft = TicketDraft(sender_id=sender, channel="line", conversation_key=key, contact_method="chat", consent_at=at)
    ticket, created = book_callback(draft, db_url=url)
    assert created
    return ticket.id


def test_counts_the_senders_tickets_in_the_window_by_its_pseudonym(url: str, clock: Any) -> None:
    _book(url, clock, PERSON, "too-old", NOW - timedelta(hours=25))
    _book(url, clock, PERSON, "a", NOW - timedelta(hours=23, minutes=59))
    closed = _book(url, clock, PERSON, "b", NOW - timedelta(hours=2))
    _book(url, clock, PERSON, "c", NOW - timedelta(minutes=1))
    erased = _book(url, clock, PERSON, "d", NOW - timedelta(minutes=1))
    _book(url, clock, OTHER, "e", NOW - timedelta(minutes=1))
    with session_scope(url) as s:
        s.get(CallbackTicket, closed).status = "closed"  # a ticket staff closed still counts
        erase_personal_fields(s, s.get(CallbackTicket, erased))  # an erased one has no sender any more
    clock.pin(NOW)
    since = NOW - timedelta(hours=24)
    assert count_recent_tickets(PERSON, since, db_url=url) == 3
    assert count_recent_tickets(OTHER, since, db_url=url) == 1
    assert count_recent_tickets(PERSON, NOW - timedelta(hours=48), db_url=url) == 4
    assert count_recent_tickets(PERSON, NOW, db_url=url) == 0
    # The tickets know the person only by the keyed pseudonym: the platform id counts nothing.
    for plain in ("U4af4980629", "line:U4af4980629", "line-U4af4980629"):
        assert count_recent_tickets(plain, since, db_url=url) == 0
    with session_scope(url) as s:
        stored = {row for row in s.execute(sa.select(CallbackTicket.sender_id)).scalars()}
    assert stored == {PERSON, OTHER, None} and not any("U4af" in (x or "") for x in stored)


def test_a_retry_of_a_stored_booking_is_not_counted_against_itself(url: str, clock: Any) -> None:
    _book(url, clock, PERSON, "a", NOW - timedelta(hours=1))
    _book(url, clock, PERSON, "b", NOW - timedelta(minutes=5))
    clock.pin(NOW)
    retried = TicketDraft(
        sender_id=PERSON, channel="line", conversation_key="b", contact_method="chat", consent_at=NOW
    ).idempotency_key
    since = NOW - timedelta(hours=24)
    assert count_recent_tickets(PERSON, since, db_url=url) == 2
    assert count_recent_tickets(PERSON, since, excluding_key=retried, db_url=url) == 1
