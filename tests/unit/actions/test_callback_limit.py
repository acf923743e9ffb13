"""Past the ticket limit a booking makes no ticket, and the person hears that a request is already
with the staff, with the 24-hour lines (issue 21, M-5: MADOGUCHI_TICKETS_PER_SENDER within
MADOGUCHI_TICKET_WINDOW_HOURS)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.domain.directory import get_directory
from bot.security import crypto
from bot.store.db import get_engine, session_scope
from bot.store.models import ConsentRecord
from bot.store.tickets import tickets_for_sender

ROOT = Path(__file__).resolve().parents[3]
MONDAY_MORNING = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)  # 10:00 JST, staff at work
PERSON = "line-" + "cd" * 16


@lru_cache(maxsize=1)
def _domain() -> dict[str, Any]:
    return {"responses": yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]}


@pytest.fixture()
def action(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Any) -> Any:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MADOGUCHI_DB_URL", url)
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.delenv("MADOGUCHI_TICKETS_PER_SENDER", raising=False)  # the defaults: 3 in 24 h
    monkeypatch.delenv("MADOGUCHI_TICKET_WINDOW_HOURS", raising=False)
    crypto.reset_keys()
    from bot.services import outbox

    # No retry thread in a unit test: nothing is spooled here (the database is up).
    monkeypatch.setattr(outbox, "ensure_worker", lambda: None)
    monkeypatch.setattr(outbox, "kick", lambda: None)
    monkeypatch.setattr(outbox, "after_stored", lambda ticket, created: None)  # no staff notice here
    clock.pin(MONDAY_MORNING)
    from actions.callback import ActionBookCallback

    yield ActionBookCallback()
    get_engine(url).dispose()
    crypto.reset_keys()


def confirmed(message_id: str, sender: str = PERSON) -> Tracker:
    """The tracker as the callback form leaves it: consent given, everything asked, 「はい」 to the summary."""
    return Tracker(
        sender,
        {"consent": "summary", "confirm": "yes", "contact_method": "chat", "preferred_slot": "any"},
        {"text": "はい", "message_id": message_id, "intent": {"name": "affirm"}},
        [
            {"event": "session_started", "timestamp": 1000.0},
            {"event": "user", "text": "はい", "timestamp": 1001.0, "input_channel": "line"},
        ],
        False,
        None,
        {"name": None},
        "callback_form",
    )


def book(action: Any, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, _domain()))
    return dispatcher.messages, events


def ticket_id(events: list[dict[str, Any]]) -> Any:
    return next((e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "ticket_id"), None)


def said(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("text") or "") for m in messages)


def consents(sender: str = PERSON) -> int:
    with session_scope() as s:
        return s.query(ConsentRecord).filter(ConsentRecord.sender_id == sender).count()


def test_past_the_limit_no_ticket_is_made_and_the_reply_names_the_lines(action: Any) -> None:
    for n in (1, 2, 3):
        messages, events = book(action, confirmed(f"m{n}"))
        assert ticket_id(events) is not None
        assert any(m.get("response") == "utter_ticket_booked_anytime" for m in messages)
    assert len(tickets_for_sender(PERSON)) == 3
    before = consents()

    messages, events = book(action, confirmed("m4"))

    assert len(tickets_for_sender(PERSON)) == 3  # no fourth ticket
    assert consents() == before  # nor a consent row for a booking that was not made
    assert ticket_id(events) is None
    assert not any(str(m.get("response") or "").startswith("utter_ticket_booked") for m in messages)
    text = said(messages)
    assert "すでに担当者に届いています" in text and "新しいお申し込みにはしていません" in text
    hotlines = get_directory().hotlines
    assert hotlines
    for line in hotlines:
        assert line.name in text and line.phone in text
    # The form ends cleanly: its slots are cleared, nothing asks again or loops.
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert slots["requested_slot"] is None and slots["consent"] is None and slots["confirm"] is None
    assert not [e for e in events if e.get("event") in ("active_loop", "followup")]


def test_a_retry_of_the_last_booking_still_gets_its_number(action: Any) -> None:
    for n in (1, 2):
        book(action, confirmed(f"m{n}"))
    third = confirmed("m3")
    _, events = book(action, third)
    _, again = book(action, third)  # Rasa calls the action again with the same turn
    assert ticket_id(again) == ticket_id(events) is not None
    assert len(tickets_for_sender(PERSON)) == 3


def test_the_window_rolls_and_other_senders_are_not_affected(action: Any, clock: Any) -> None:
    for n in (1, 2, 3):
        book(action, confirmed(f"m{n}"))
    other = "line-" + "ef" * 16
    _, events = book(action, confirmed("o1", sender=other))
    assert ticket_id(events) is not None
    clock.advance(timedelta(hours=23, minutes=59))
    _, events = book(action, confirmed("m4"))
    assert ticket_id(events) is None
    clock.advance(timedelta(minutes=2))  # the first three are now more than 24 hours old
    _, events = book(action, confirmed("m5"))
    assert ticket_id(events) is not None
    assert len(tickets_for_sender(PERSON)) == 4


def test_when_the_count_cannot_be_made_the_booking_goes_to_the_outbox(action: Any, monkeypatch: Any) -> None:
    """A failure of ours never turns a person away: the draft is spooled, as with the database down."""
    import actions.callback as callback
    from bot.services import outbox

    def down(*args: Any, **kwargs: Any) -> int:
        raise ConnectionError("database down")

    monkeypatch.setattr(callback, "count_recent_tickets", down)
    messages, events = book(action, confirmed("m1"))
    assert any(m.get("response") == "utter_ticket_stored_later" for m in messages)
    assert "すでに担当者に届いています" not in said(messages)
    assert [p.sender_id for p in outbox.pending(PERSON)] == [PERSON]
