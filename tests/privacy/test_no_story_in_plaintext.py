"""Issue 21, M-2: no plaintext that tells who disclosed a crisis, and when.

An old database (rows as the version before wrote them: `crisis`, `action_crisis_support`,
`priority='urgent'`, needs, the 緊急 notification, `priority=urgent` in the audit log) is
upgraded by `python -m deploy.init_db`; then a new crisis conversation is saved by the real
tracker store and an urgent ticket is booked. The raw database — every byte of the SQLite files,
every row of every PostgreSQL table — holds none of those words, while Rasa, the staff inbox
(urgent first) and the notification still read them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_plugins.tracker_store import EncryptedSQLTrackerStore
from bot.security import crypto
from bot.services import notify
from bot.store.base import Base
from bot.store.db import get_engine, session_scope
from bot.store.tickets import TicketDraft, book_callback, get_ticket, record_consent
from deploy import init_db
from staff.workflow import InboxFilter, inbox

PG_ADMIN = "postgresql+psycopg2://root@127.0.0.1:5432/test"
TELLING = ("crisis", "urgent", "hotline", "ibasho", "緊急")


def _pg_database() -> tuple[str, sa.engine.Engine, str]:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", future=True)
    name = f"madoguchi_m2_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    return f"postgresql+psycopg2://root@127.0.0.1:5432/{name}", admin, name


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'all.db'}"
    else:
        url, admin, name = _pg_database()
    for var in ("MADOGUCHI_DB_URL", "MADOGUCHI_TRACKER_DB_URL"):
        monkeypatch.setenv(var, url)  # one database for both: one dump covers everything
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("STAFF_TELEGRAM_CHAT_ID", "-100123")
    crypto.reset_keys()
    yield url
    crypto.reset_keys()
    get_engine(url).dispose()
    if request.param == "postgresql":
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


def _old_rows(url: str) -> None:
    """What the version before issue 21 wrote, written the way it wrote it (plaintext columns)."""
    engine = sa.create_engine(url, future=True)
    EncryptedSQLTrackerStore.Base.metadata.create_all(engine)
    Base.metadata.create_all(engine)  # the madoguchi tables and the notifications' (no upgrade, no trigger)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # the old column types
            for table, column, n in (
                ("events", "intent_name", 255),
                ("events", "action_name", 255),
                ("callback_tickets", "priority", 8),
            ):
                conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR({n})"))
        conn.execute(
            sa.text(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) VALUES "
                "('line-old', 'user', 1, 'crisis', NULL, :d), ('line-old', 'action', 2, NULL, 'action_crisis_support', :d)"
            ),
            {"d": crypto.encrypt("{}")},
        )
        conn.execute(
            sa.text(
                "INSERT INTO callback_tickets (idempotency_key, created_at, updated_at, channel, priority, status,"
                " needs, windows, contact_method, consent_version, consent_at, share_conversation)"
                " VALUES ('old', :t, :t, 'line', 'urgent', 'new', :needs, '[]', 'chat', '2026-11', :t, false)"
            ),
            {"t": datetime(2026, 11, 1, tzinfo=timezone.utc), "needs": json.dumps(["ibasho"])},
        )
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (at, actor, action, ticket_id, detail)"
                " VALUES (:t, 'bot', 'create', 1, 'priority=urgent')"
            ),
            {"t": datetime(2026, 11, 1, tzinfo=timezone.utc)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO notification_outbox (created_at, kind, channel, payload, attempts)"
                " VALUES (:t, 'new_ticket', 'telegram', :p, 1)"
            ),
            {
                "t": datetime(2026, 11, 1, tzinfo=timezone.utc),
                "p": json.dumps({"text": "【時間外・緊急】#1", "priority": "urgent"}, ensure_ascii=False),
            },
        )
    engine.dispose()


def _crisis_conversation(sender: str) -> EncryptedSQLTrackerStore:
    store = EncryptedSQLTrackerStore(domain=Domain.empty())
    tracker = DialogueStateTracker(sender, [])
    for event in (
        ActionExecuted("action_listen"),
        UserUttered("もう消えたい", intent={"name": "crisis", "confidence": 1.0}),
        ActionExecuted("action_crisis_support"),
        BotUttered("いのちの電話…"),
        ActionExecuted("action_show_hotlines"),
        ActionExecuted("action_listen"),
    ):
        tracker.update(event)
    asyncio.run(store.save(tracker))
    return store


def _book(sender: str, priority: str, key: str) -> int:
    with session_scope() as s:
        record_consent(s, sender, "callback_summary", True)
    ticket, _ = book_callback(
        TicketDraft(
            sender_id=sender,
            channel="line",
            conversation_key=key,
            contact_method="chat",
            consent_at=datetime.now(timezone.utc),
            priority=priority,
            needs=("ibasho", "listen"),
        )
    )
    return ticket.id


def _raw_dump(url: str) -> str:
    """Everything stored: the SQLite files byte by byte, or every PostgreSQL row as text."""
    engine = sa.create_engine(url, future=True)
    try:
        if engine.dialect.name == "sqlite":
            path = Path(engine.url.database)
            return "".join(p.read_bytes().decode("utf-8", "replace") for p in (path, Path(f"{path}-wal")) if p.exists())
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            return "\n".join(
                str(row[0])
                for t in tables
                for row in conn.execute(sa.text(f'SELECT row_to_json(x)::text FROM "{t}" x'))
            )
    finally:
        engine.dispose()


def test_no_crisis_intent_action_priority_or_need_in_the_raw_database(db: str) -> None:
    _old_rows(db)
    assert "crisis" in _raw_dump(db) and "urgent" in _raw_dump(db)  # the search finds them when there
    assert init_db.main() == 0

    store = _crisis_conversation("line-new")
    urgent = _book("line-new", "urgent", "k1")
    normal = _book("line-other", "normal", "k2")
    notify.enqueue_new_ticket(urgent, "urgent", None, urgent_out_of_hours=True)

    dump = _raw_dump(db)
    assert dump.count("gAAAAA") > 10  # the dump really holds the rows, encrypted
    for word in TELLING:
        assert word not in dump, word

    # ... and what reads them still does: Rasa, the ticket, the staff inbox, the notification.
    tracker = asyncio.run(store.retrieve("line-new"))
    assert tracker.latest_message.intent["name"] == "crisis"
    assert "action_crisis_support" in [e.action_name for e in tracker.events if isinstance(e, ActionExecuted)]
    assert get_ticket(urgent).priority == "urgent" and get_ticket(urgent).needs == ["ibasho", "listen"]
    assert get_ticket(1).priority == "urgent" and get_ticket(1).needs == ["ibasho"]  # the upgraded old row
    with session_scope() as s:
        order = [t.id for t in inbox(s, InboxFilter())]
        assert order.index(urgent) < order.index(normal) and order.index(1) < order.index(normal)
        assert [t.id for t in inbox(s, InboxFilter(priority="urgent"))] == sorted([urgent, 1], reverse=True)
        texts = [row.payload["text"] for row in s.query(notify.NotificationOutbox).all()]
    assert len(texts) == 2 and all("緊急" in text for text in texts)  # the old one and the new one
