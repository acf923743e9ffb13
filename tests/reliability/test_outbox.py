"""The durable ticket outbox (`bot.services.outbox`) against real databases, without the Rasa stack.

The faults are real: another connection holds SQLite's write lock (BEGIN EXCLUSIVE), or a
throwaway PostgreSQL database stops accepting connections and its backends are terminated.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy.exc
from cryptography.fernet import Fernet

from bot.security import crypto
from bot.services import outbox
from bot.store.tickets import ConsentRequired, TicketDraft, book_callback, tickets_for_sender
from tests.reliability.helpers import ExclusiveLock, PgDatabase
from tests.stack import free_port

PHONE = "+819012345678"
SITUATION = "息子が十年部屋から出てきません"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp_path / 'madoguchi.db'}")
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("MADOGUCHI_OUTBOX_MAX_BACKOFF", "1")
    for name in ("STAFF_TELEGRAM_CHAT_ID", "STAFF_TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "STAFF_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    crypto.reset_keys()
    yield tmp_path
    outbox.stop_worker()
    crypto.reset_keys()


def draft(sender: str | None = None, **kw: Any) -> TicketDraft:
    values: dict[str, Any] = dict(
        sender_id=sender or f"rest-{uuid.uuid4().hex}",
        channel="rest",
        conversation_key=f"m{uuid.uuid4().hex}|42",
        contact_method="phone",
        phone=PHONE,
        nickname="はなこ",
        situation=SITUATION,
        relation="family",
        age_min=45.0,
        age_max=45.0,
        needs=("ibasho",),
        windows=("chanks",),
        preferred_slot="2026-11-30_pm",
        preferred_at=datetime(2026, 11, 30, 4, tzinfo=timezone.utc),
        consent_at=datetime.now(timezone.utc),
        share_conversation=True,
    )
    values.update(kw)
    return TicketDraft(**values)


def create_tables() -> None:
    from bot.store.db import get_engine

    get_engine()


def count_tickets(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("select count(*) from callback_tickets").fetchone()[0]
    finally:
        con.close()


def test_draft_round_trips_through_json() -> None:
    d = draft()
    assert outbox.draft_from_dict(json.loads(json.dumps(outbox.draft_to_dict(d)))) == d
    assert outbox.draft_from_dict({**outbox.draft_to_dict(d), "added_in_a_later_version": 1}) == d


def test_spool_is_encrypted_private_and_deduplicated(env: Path) -> None:
    d = draft()
    outbox.spool(d)
    outbox.spool(d)  # the same booking twice (a retried turn): one entry
    assert [p.key for p in outbox.pending()] == [d.idempotency_key]
    path = outbox.spool_path()
    raw = b"".join(p.read_bytes() for p in path.parent.iterdir())
    for secret in (PHONE, "9012345678", "はなこ", SITUATION, "ibasho", "2026-11-30_pm"):
        assert secret.encode() not in raw, secret
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_locked_sqlite_keeps_the_draft_then_stores_it_once_with_its_consent(env: Path) -> None:
    create_tables()
    db = env / "madoguchi.db"
    d = draft()
    with ExclusiveLock(db):
        # What the action sees: the booking fails. WAL lets the consent read through, and the consent
        # is recorded with the ticket (the draft carries it), so the refusal may come first.
        with pytest.raises((sqlalchemy.exc.OperationalError, ConsentRequired)):
            book_callback(d)
        outbox.spool(d)
        assert outbox.flush(force=True) == 0
        [waiting] = outbox.pending()
        assert waiting.attempts == 1 and "locked" in (waiting.last_error or "")
    assert outbox.flush(force=True) == 1
    assert outbox.pending() == []
    [ticket] = tickets_for_sender(d.sender_id)
    assert ticket.phone == PHONE and ticket.situation == SITUATION and ticket.share_conversation
    assert [a.ticket_id for a in outbox.announcements_for(d.sender_id)] == [ticket.id]
    # consent was recorded with the moment the person gave it
    con = sqlite3.connect(db)
    rows = con.execute(
        "select scope, agreed from consent_records where sender_id=? order by scope", (d.sender_id,)
    ).fetchall()
    assert rows == [("callback_summary", 1), ("share_conversation", 1)]
    assert outbox.flush(force=True) == 0 and count_tickets(db) == 1


def test_a_crash_after_storing_but_before_unspooling_gives_no_duplicate(env: Path) -> None:
    create_tables()
    d = draft()
    outbox.spool(d)
    outbox._ensure_consent(d)
    first, created = book_callback(d)  # stored… and the process died before removing the draft
    assert created
    assert outbox.flush(force=True) == 1  # the retry finds the stored ticket by idempotency key
    assert [t.id for t in tickets_for_sender(d.sender_id)] == [first.id]
    assert count_tickets(env / "madoguchi.db") == 1


def test_backoff_is_respected_unless_forced(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    create_tables()
    monkeypatch.setenv("MADOGUCHI_OUTBOX_MAX_BACKOFF", "60")
    d = draft()
    outbox.spool(d)  # first retry is due a second later
    assert outbox.flush() == 0 and outbox.pending_count() == 1
    assert outbox.flush(force=True) == 1


def test_an_undecryptable_draft_is_kept_and_reported(
    env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    create_tables()
    outbox.spool(draft())
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    crypto.reset_keys()
    assert outbox.flush(force=True) == 0
    [waiting] = outbox.pending()
    assert "decrypt" in (waiting.last_error or "")
    assert any(r.levelname == "ERROR" for r in caplog.records)


def test_erasure_discards_what_waits(env: Path) -> None:
    d = draft()
    outbox.spool(d)
    assert outbox.discard(d.sender_id) == 1 and outbox.pending() == []


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ticket_db(request: pytest.FixtureRequest, env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The ticket database of the erasure-versus-outbox tests: the SQLite of `env`, or a throwaway PostgreSQL."""
    from bot.store.db import get_engine

    if request.param == "sqlite":
        create_tables()
        yield "sqlite"
        return
    pg = PgDatabase()
    try:
        monkeypatch.setenv("MADOGUCHI_DB_URL", pg.url)
        create_tables()
        yield "postgresql"
    finally:
        get_engine(pg.url).dispose()
        pg.drop()


def _linked_consents(sender_id: str) -> int:
    from sqlalchemy import func, select

    from bot.store.db import session_scope
    from bot.store.models import ConsentRecord

    with session_scope() as session:
        return int(
            session.execute(
                select(func.count(ConsentRecord.id)).where(ConsentRecord.sender_id == sender_id)
            ).scalar_one()
        )


def test_a_booking_spooled_on_another_instance_before_the_erasure_is_never_stored(
    ticket_db: str, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 (Low): instance A spooled the booking; the person erased their data through instance B,
    whose outbox does not hold it; A's delivery must not recreate the ticket."""
    from bot.services.erasure import erase_sender

    d = draft()
    outbox.spool(d)  # instance A's spool (MADOGUCHI_VAR_DIR = env/var)
    time.sleep(0.01)
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(env / "var-b"))
    erase_sender(d.sender_id, include_tracker=False)  # instance B
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(env / "var"))
    assert [p.key for p in outbox.pending()] == [d.idempotency_key]

    assert outbox.flush(force=True) == 0
    assert outbox.pending() == [] and outbox.announcements_for(d.sender_id) == []
    assert tickets_for_sender(d.sender_id) == []
    assert _linked_consents(d.sender_id) == 0  # the consent is not re-recorded either

    # The same person books again after the erasure: delivered normally.
    time.sleep(0.01)
    again = draft(d.sender_id, consent_at=datetime.now(timezone.utc))
    outbox.spool(again)
    assert outbox.flush(force=True) == 1
    [ticket] = tickets_for_sender(d.sender_id)
    assert ticket.phone == PHONE and outbox.pending() == []
    assert [a.ticket_id for a in outbox.announcements_for(d.sender_id)] == [ticket.id]


def test_an_erasure_during_a_flush_that_already_read_the_draft_wins(
    ticket_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flush has read the spooled draft when the erasure runs (and discards it): the booking that
    follows in the same round is refused, not stored for a sender who is gone."""
    from bot.services.erasure import erase_sender

    d = draft()
    outbox.spool(d)
    time.sleep(0.01)
    real_ensure_consent = outbox._ensure_consent

    def erased_meanwhile(draft: TicketDraft, spooled_at: Any = None) -> None:
        erase_sender(draft.sender_id, include_tracker=False)
        real_ensure_consent(draft, spooled_at)

    monkeypatch.setattr(outbox, "_ensure_consent", erased_meanwhile)
    assert outbox.flush(force=True) == 0
    assert outbox.pending() == [] and tickets_for_sender(d.sender_id) == []
    assert _linked_consents(d.sender_id) == 0


def test_a_stored_then_erased_booking_is_not_recreated_by_a_late_retry(ticket_db: str) -> None:
    """Stored, the process died before unspooling, then the person erased their data elsewhere: the
    retry finds the sender erased and drops the draft (the unlinked ticket row stays unlinked)."""
    from bot.services.erasure import erase_sender

    d = draft()
    outbox.spool(d)
    outbox._ensure_consent(d)
    book_callback(d)
    time.sleep(0.01)
    with_spool = outbox.spool_path().read_bytes()
    erase_sender(d.sender_id, include_tracker=False)
    outbox.spool_path().write_bytes(with_spool)  # as if the spool were another instance's
    assert [p.key for p in outbox.pending()] == [d.idempotency_key]
    assert outbox.flush(force=True) == 0
    assert outbox.pending() == [] and tickets_for_sender(d.sender_id) == []


def test_the_worker_stores_without_being_asked_once_the_lock_is_gone(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_tables()
    monkeypatch.setenv("MADOGUCHI_OUTBOX_INTERVAL", "0.2")
    db = env / "madoguchi.db"
    d = draft()
    with ExclusiveLock(db):
        outbox.spool(d)
        outbox.ensure_worker()
        time.sleep(1.0)
        assert count_tickets(db) == 0
    deadline = time.monotonic() + 30
    while outbox.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert outbox.pending() == [] and count_tickets(db) == 1


class FakeRasaExecute:
    """Rasa's /conversations/<id>/execute: runs 'the action', which marks the announcement."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                fake.requests.append((self.path, body))
                sender = self.path.split("/")[2]
                for a in outbox.announcements_for(sender):
                    outbox.mark_announced(a.key)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"messages": []}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def test_announcements_go_through_rasa_and_are_retried_while_it_is_down(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_tables()
    d = draft()
    outbox.spool(d)
    assert outbox.flush(force=True) == 1
    monkeypatch.setenv("MADOGUCHI_RASA_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    assert outbox.announce_pending() == 0
    [waiting] = outbox.announcements_for(d.sender_id)
    assert waiting.attempts == 1
    rasa = FakeRasaExecute()
    monkeypatch.setenv("MADOGUCHI_RASA_URL", rasa.url)
    time.sleep(1.1)  # the backoff of the first failure
    assert outbox.announce_pending() == 1
    [(path, body)] = rasa.requests
    assert path.startswith(f"/conversations/{d.sender_id}/execute?output_channel=latest")
    assert body["name"] == "action_book_callback"
    assert outbox.announcements_for(d.sender_id) == []
    rasa.server.shutdown()


@pytest.mark.postgres
def test_postgresql_down_then_up_stores_the_spooled_ticket_once(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pg = PgDatabase()
    try:
        monkeypatch.setenv("MADOGUCHI_DB_URL", pg.url)
        create_tables()
        d = draft()
        pg.down()
        with pytest.raises(sqlalchemy.exc.OperationalError):
            book_callback(d)
        outbox.spool(d)
        assert outbox.flush(force=True) == 0
        assert "OperationalError" in (outbox.pending()[0].last_error or "")
        pg.up()
        assert outbox.flush(force=True) == 1
        assert [t.phone for t in tickets_for_sender(d.sender_id)] == [PHONE]
        assert outbox.flush(force=True) == 0 and len(tickets_for_sender(d.sender_id)) == 1
    finally:
        from bot.store.db import get_engine

        get_engine(pg.url).dispose()
        pg.drop()


def test_rest_mailbox_keeps_out_of_turn_messages_bounded_and_in_order() -> None:
    """Where a ticket number announced outside a turn waits for a REST user's next message."""
    import asyncio

    from channels import rest

    box = rest.Mailbox()
    out = rest.MailboxOutput(box)
    for i in range(rest.MAILBOX_MESSAGES + 5):
        asyncio.run(out.send_text_message("rest-a", f"m{i}"))
    taken = box.take("rest-a")
    assert [m["text"] for m in taken] == [f"m{i}" for i in range(5, rest.MAILBOX_MESSAGES + 5)]
    assert box.take("rest-a") == [] and len(out.messages) == rest.MAILBOX_MESSAGES + 5
    for i in range(rest.MAILBOX_SENDERS + 3):
        box.put(f"rest-{i}", {"text": "x"})
    assert len(box) == rest.MAILBOX_SENDERS and box.take("rest-0") == [] and box.take("rest-3")
