"""Issue 21, M-3: each retention and erasure promise of docs/privacy.md, with the one clock.

The purge runs as `make purge` runs it (`bot.services.purge.run_once`, retention from the environment's
defaults); time moves with the `clock` fixture only.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.clock import JST
from bot.security import crypto
from bot.services.erasure import erase_sender
from bot.services.purge import run_once
from bot.store import stats
from bot.store.channel_state import platform_id_for, remember_identity
from bot.store.db import session_scope
from bot.store.models import CallbackTicket, ConsentRecord, StatEvent
from bot.store.tickets import TicketDraft, book_callback, get_ticket, record_consent

ROOT = Path(__file__).resolve().parents[2]
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.setenv("MADOGUCHI_TRACKER_DB_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("MADOGUCHI_STATS_KEY", uuid.uuid4().hex)
    for name in (
        "MADOGUCHI_RETENTION_TICKET_DAYS",
        "MADOGUCHI_RETENTION_EVENT_DAYS",
        "MADOGUCHI_RETENTION_STATS_LINK_DAYS",
    ):
        monkeypatch.delenv(name, raising=False)  # the defaults the notice states
    crypto.reset_keys()
    stats.reset_key()
    yield
    crypto.reset_keys()
    stats.reset_key()


def _book(sender: str) -> int:
    with session_scope() as s:
        record_consent(s, sender, "callback_summary", True)
    ticket, _ = book_callback(
        TicketDraft(
            sender_id=sender, channel="line", conversation_key="k", contact_method="chat", consent_at=datetime.now(JST)
        )
    )
    return ticket.id


def _close(ticket_id: int) -> None:
    with session_scope() as s:
        s.get(CallbackTicket, ticket_id).status = "closed"


def _consents(sender: str) -> int:
    with session_scope() as s:
        return s.query(ConsentRecord).filter_by(sender_id=sender).count()


def test_the_id_map_goes_30_days_after_the_last_message_unless_a_ticket_is_open(clock: Any) -> None:
    clock.pin(datetime(2026, 11, 2, 10, tzinfo=JST))
    for sender in ("line-quiet", "line-back", "line-waiting"):
        remember_identity(sender, "line", f"U{sender}")
    waiting = _book("line-waiting")
    clock.advance(20 * DAY)
    remember_identity("line-back", "line", "Uline-back")  # wrote again on day 20
    clock.advance(11 * DAY)
    run_once()
    assert platform_id_for("line-quiet") is None  # 31 days of silence
    assert platform_id_for("line-back") == ("line", "Uline-back")  # 11 days since the last message
    assert platform_id_for("line-waiting") == ("line", "Uline-waiting")  # staff may still reply
    _close(waiting)
    run_once()
    assert platform_id_for("line-waiting") is None


def test_consent_records_go_with_the_tickets_and_closed_tickets_only(clock: Any) -> None:
    clock.pin(datetime(2026, 5, 1, 10, tzinfo=JST))
    with session_scope() as s:
        record_consent(s, "line-declined", "callback_summary", False)
    kept_open = _book("line-open")
    closed = _book("line-closed")
    _close(closed)
    clock.advance(179 * DAY)
    run_once()
    assert _consents("line-declined") == 1 and get_ticket(closed) is not None  # not yet
    clock.advance(2 * DAY)
    run_once()
    assert _consents("line-declined") == 0
    assert get_ticket(closed) is None and _consents("line-closed") == 0
    # The open ticket is kept however old (and reported); its consent stays with it.
    assert get_ticket(kept_open) is not None and _consents("line-open") == 1
    _close(kept_open)
    run_once()
    assert get_ticket(kept_open) is None and _consents("line-open") == 0


def test_the_purge_reports_open_tickets_past_retention(clock: Any, capsys: pytest.CaptureFixture[str]) -> None:
    clock.pin(datetime(2026, 5, 1, 10, tzinfo=JST))
    _book("line-open")
    clock.advance(181 * DAY)
    run_once()
    assert "tickets=0 open_past_retention=1" in capsys.readouterr().out


def _stat(sender: str, conversation: str, at: datetime) -> None:
    stats.record_stat("consultation", sender, conversation, relation="self", at=at)


def _figures(fiscal_year: int) -> tuple[Any, ...]:
    rep = stats.report(fiscal_year, today=datetime(2030, 1, 1).date())
    return rep.total, tuple(rep.months)


def _linked(sender: str) -> int:
    with session_scope() as s:
        return len(s.execute(select(StatEvent).where(StatEvent.person == stats.person_key(sender))).all())


def test_erasure_unlinks_the_statistics_and_keeps_the_figures(clock: Any) -> None:
    clock.pin(datetime(2026, 11, 2, 10, tzinfo=JST))
    for n, sender in enumerate(("line-a", "line-a", "line-b", "line-c", "line-d")):
        _stat(sender, str(n), clock.advance(DAY))
    before = _figures(2026)
    assert _linked("line-a") == 2
    erase_sender("line-a", include_tracker=False)
    assert _linked("line-a") == 0
    with session_scope() as s:
        conversations = set(s.execute(select(StatEvent.conversation)).scalars())
    assert not conversations & {stats.conversation_key("line-a", "0"), stats.conversation_key("line-a", "1")}
    assert _figures(2026) == before  # still two conversations of one person


def test_the_purge_ends_the_statistics_link_a_year_after_the_fiscal_year(clock: Any) -> None:
    clock.pin(datetime(2025, 5, 1, 10, tzinfo=JST))
    for sender in ("line-a", "line-a", "line-b", "line-c"):
        _stat(sender, uuid.uuid4().hex, clock.advance(DAY))
    before = _figures(2025)
    clock.pin(datetime(2027, 3, 30, 10, tzinfo=JST))  # FY2025 ended less than 365 days ago
    run_once()
    assert _linked("line-a") == 2
    clock.advance(2 * DAY)
    run_once()
    assert _linked("line-a") == _linked("line-b") == 0
    assert _figures(2025) == before


def test_the_notice_states_these_retentions_in_days() -> None:
    rows = {
        line.split("|")[1].strip(): line
        for line in (ROOT / "docs/privacy.md").read_text().splitlines()
        if line.startswith("| ")
    }
    id_map = next(v for k, v in rows.items() if "利用者ID" in k)
    consent = next(v for k, v in rows.items() if k.startswith("同意の記録"))
    statistics = next(v for k, v in rows.items() if k.startswith("統計"))
    assert re.search(r"最後のメッセージから30日", id_map)
    assert "180日" in consent
    assert "365日" in statistics
