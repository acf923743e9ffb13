"""A whole booking conversation through the real stack (SQLite, endpoints as endpoints.yml): no
phone number, nickname or message text in any file it leaves — tracker store, ticket database,
outbox, keys directory, logs — while Rasa still reads the conversation back (issue #12, finding 2).
The PostgreSQL counterpart runs on the two-replica cluster (tests/production/test_two_instances.py).
"""

from __future__ import annotations

import uuid

import pytest

from bot.security import crypto, pseudonym
from bot.store.tickets import get_ticket
from tests.privacy.at_rest import NICKNAME, PHONE_TYPED, STORY, STORY_CORE, plaintext_found
from tests.stack import Stack, custom, texts

pytestmark = pytest.mark.stack


def book_with_nickname(stack: Stack, sender: str) -> int:
    stack.say(sender, "こんばんは")
    stack.say(sender, "母です")
    stack.say(sender, "４５歳です")
    stack.say(sender, STORY)
    stack.say(sender, "居場所")
    assert "要約" in texts(stack.say(sender, "お願いします"))
    stack.say(sender, "はい")
    stack.say(sender, "電話で")
    reply = stack.say(sender, PHONE_TYPED)
    slot = next(b for m in reply for b in m.get("buttons", []) if "choose_slot" in b["payload"])
    stack.say(sender, slot["payload"])
    stack.say(sender, NICKNAME)
    reply = stack.say(sender, "はい")
    assert "受け付けました" in texts(reply), texts(reply)
    return int(custom(reply, "ticket")[0]["id"])


def test_a_booking_leaves_no_plaintext_in_any_file_and_rasa_reads_it_back(stack: Stack, monkeypatch):
    sender = f"atrest-{uuid.uuid4().hex[:10]}"
    ticket_id = book_with_nickname(stack, sender)

    # The ticket holds what was said (so the search below looks for real data) ...
    for name in ("MADOGUCHI_DB_URL", "MADOGUCHI_VAR_DIR"):
        monkeypatch.setenv(name, stack.env[name])
    monkeypatch.delenv("MADOGUCHI_FERNET_KEYS", raising=False)
    monkeypatch.delenv("MADOGUCHI_SENDER_KEY", raising=False)
    crypto.reset_keys()
    pseudonym._key.cache_clear()
    try:
        ticket = get_ticket(ticket_id)
        sid = pseudonym.pseudonymize("rest", sender)
    finally:
        crypto.reset_keys()
        pseudonym._key.cache_clear()
    assert ticket.phone == "+819031415926" and ticket.nickname == NICKNAME and STORY_CORE in (ticket.situation or "")

    # ... and Rasa reads the whole conversation back, decrypted, with the phone slot emptied.
    tracker = stack.tracker(sid)
    said = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
    assert STORY in said and PHONE_TYPED in said and NICKNAME in said
    assert tracker["slots"].get("phone") is None
    assert stack.tracker_db_dump(), "the tracker store is empty: is Rasa using the SQL store?"

    # Nothing of it in any file the stack wrote: databases (with -wal), outbox, keys, logs.
    files = [p for p in stack.workdir.rglob("*") if p.is_file()]
    assert any(p.name == "tracker.db" for p in files) and any(p.name == "madoguchi.db" for p in files)
    assert plaintext_found((str(p.relative_to(stack.workdir)), p.read_bytes()) for p in files) == []
