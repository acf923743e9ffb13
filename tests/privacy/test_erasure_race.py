"""Erasure cannot be undone by a late save (issue #12, finding 3).

The race as reproduced: 「記録を消して」→「はい」, the conversation's rows are deleted (then by a
3-second timer), and only afterwards does Rasa save that turn — its SQL tracker store counts the
rows of the session (now 0) and writes the whole session back, phone number included. Here the
slow save is made to happen after the deletion, with Rasa's real tracker stores.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    AllSlotsReset,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select

from bot.security import crypto
from bot.security.keys import ROOT
from bot.services.erasure import complete_erasure_requests, erase_sender, purge, request_tracker_erasure
from bot.store.db import session_scope
from bot.store.models import ErasureRequest

SENDER = "rest-" + "ab" * 16
PHONE = "+819055551212"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp_path / 'madoguchi.db'}")
    monkeypatch.setenv("MADOGUCHI_TRACKER_DB_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    crypto.reset_keys()
    yield tmp_path
    crypto.reset_keys()


def first_turn() -> list:
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("０９０ー５５５５ー１２１２", {"name": "provide_phone", "confidence": 1.0}),
        SlotSet("phone", PHONE),
        BotUttered("ご希望の日時を選んでください"),
        ActionExecuted("action_listen"),
    ]


def erasing_turn() -> list:
    return [
        UserUttered("はい", {"name": "affirm", "confidence": 1.0}),
        ActionExecuted("action_delete_data"),
        AllSlotsReset(),
        BotUttered("記録を消しました"),
        ActionExecuted("action_listen"),
    ]


def tracker_with(domain: Domain, events: list) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(SENDER, events, domain.slots)


def rows(env: Path) -> list[str]:
    con = sqlite3.connect(env / "tracker.db")
    try:
        return [d for (d,) in con.execute("select data from events where sender_id = ?", (SENDER,))]
    finally:
        con.close()


def request_done() -> bool:
    with session_scope() as s:
        return all(r.done_at is not None for r in s.execute(select(ErasureRequest)).scalars())


def the_action_runs() -> None:
    """What action_delete_data does, before Rasa saves the turn."""
    erase_sender(SENDER, include_tracker=False)
    request_tracker_erasure(SENDER)


def test_the_encrypted_store_erases_after_saving_even_when_the_save_comes_last(env, domain):
    from bot.rasa_plugins.tracker_store import EncryptedSQLTrackerStore

    store = EncryptedSQLTrackerStore(domain=domain)
    asyncio.run(store.save(tracker_with(domain, first_turn())))
    assert len(rows(env)) == 7 and not any(PHONE in r for r in rows(env))  # stored, encrypted
    the_action_runs()
    assert not request_done()  # pending until the save that follows the action
    complete_erasure_requests()  # the old 3-second timer, firing before the slow save
    asyncio.run(store.save(tracker_with(domain, first_turn() + erasing_turn())))  # the slow save
    assert rows(env) == []
    assert request_done()
    assert asyncio.run(store.retrieve(SENDER)) is None  # Rasa starts afresh


def test_the_save_itself_completes_the_request(env, domain):
    from bot.rasa_plugins.tracker_store import EncryptedSQLTrackerStore

    store = EncryptedSQLTrackerStore(domain=domain)
    asyncio.run(store.save(tracker_with(domain, first_turn())))
    the_action_runs()
    asyncio.run(store.save(tracker_with(domain, first_turn() + erasing_turn())))
    assert rows(env) == [] and request_done()


def test_with_rasa_s_plain_store_the_purge_deletes_what_a_late_save_wrote_back(env, domain, caplog):
    """Defence in depth: a store that does not erase itself (e.g. `type: SQL`) — the purge
    re-checks every completed request within the window and deletes the conversation again."""
    store = SQLTrackerStore(domain=domain, host=f"sqlite:///{env / 'tracker.db'}")
    asyncio.run(store.save(tracker_with(domain, first_turn())))
    the_action_runs()
    complete_erasure_requests()  # finds the rows of the earlier turns, deletes them: done
    assert rows(env) == [] and request_done()
    asyncio.run(store.save(tracker_with(domain, first_turn() + erasing_turn())))  # the slow save
    assert any(PHONE in r for r in rows(env))  # written back, phone number included
    purge(ticket_days=180, event_days=30)
    assert rows(env) == []
    assert "written back" in caplog.text


def test_a_completed_request_forgets_the_sender_after_the_recheck_window(env, domain):
    the_action_runs()
    complete_erasure_requests()
    later = datetime.now(timezone.utc) + timedelta(days=2)
    complete_erasure_requests(now=later)
    with session_scope() as s:
        assert [r.sender_id for r in s.execute(select(ErasureRequest)).scalars()] == ["-"]


def test_the_store_refuses_its_own_database_setting(env, domain):
    """Finding 11: Rasa and erasure read one setting; a url/db in the endpoints is refused
    (a ValueError, which Rasa does not swallow into an in-memory store)."""
    from bot.rasa_plugins.tracker_store import EncryptedSQLTrackerStore

    with pytest.raises(ValueError, match="MADOGUCHI_TRACKER_DB_URL"):
        EncryptedSQLTrackerStore(domain=domain, dialect="sqlite", db=str(env / "other.db"))
    with pytest.raises(ValueError, match="MADOGUCHI_TRACKER_DB_URL"):
        EncryptedSQLTrackerStore(domain=domain, host="postgresql://elsewhere/db")


def test_endpoint_files_name_no_tracker_database():
    import yaml

    for path in ("endpoints.yml", "deploy/endpoints.production.yml"):
        store = yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))["tracker_store"]
        assert store == {"type": "bot.rasa_plugins.tracker_store.EncryptedSQLTrackerStore"}, path


def test_old_plaintext_rows_are_still_read(env, domain):
    """Conversations stored before encryption stay readable until `python -m bot.services.key_rotation rotate`."""
    from bot.rasa_plugins.tracker_store import EncryptedSQLTrackerStore

    store = EncryptedSQLTrackerStore(domain=domain)
    con = sqlite3.connect(env / "tracker.db")
    con.execute(
        "insert into events (sender_id, type_name, timestamp, data) values (?, 'user', 1.0, ?)",
        (
            SENDER,
            json.dumps(
                {"event": "user", "text": "前からの会話", "timestamp": 1.0, "parse_data": {}}, ensure_ascii=False
            ),
        ),
    )
    con.commit()
    con.close()
    tracker = asyncio.run(store.retrieve(SENDER))
    assert tracker is not None and tracker.latest_message.text == "前からの会話"
