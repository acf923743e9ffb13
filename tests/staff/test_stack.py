"""End to end with the real stack: a REST conversation books a ticket through Rasa and the action
server; the staff app (in this process, on the same database and keys) shows it, shows the shared
conversation to a supervisor, and pushes a staff reply back through Rasa's HTTP API."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest

from bot.security import crypto, pseudonym
from staff import create_app
from staff.accounts import create_user
from tests.conftest import PINNED_NOW  # the shared stack pins this time
from tests.stack import Stack, custom, texts
from tests.staff.helpers import PASSWORD, login, post

pytestmark = pytest.mark.stack


@pytest.fixture
def same_store(stack: Stack, monkeypatch):
    """Point this process at the stack's database, var dir (keys) and Rasa."""
    for name in ("MADOGUCHI_DB_URL", "MADOGUCHI_VAR_DIR", "MADOGUCHI_FERNET_KEYS", "MADOGUCHI_SENDER_KEY"):
        if stack.env.get(name):
            monkeypatch.setenv(name, stack.env[name])
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MADOGUCHI_RASA_URL", stack.rasa_url)
    monkeypatch.setenv("MADOGUCHI_NOW", PINNED_NOW)
    crypto.reset_keys()
    pseudonym._key.cache_clear()
    yield
    crypto.reset_keys()
    pseudonym._key.cache_clear()


def book_by_conversation(stack: Stack, sender: str) -> int:
    stack.say(sender, "こんばんは")
    stack.say(sender, "母です")
    stack.say(sender, "４５歳です")
    stack.say(sender, "大学を中退してから二十年近く部屋から出てきません")
    stack.say(sender, "居場所")
    assert "要約" in texts(stack.say(sender, "お願いします"))
    assert "ご連絡の方法" in texts(stack.say(sender, '/affirm{"share":"yes"}'))
    stack.say(sender, "電話で")
    reply = stack.say(sender, "０９０ー１２３４ー５６７８")
    slot = next(b for m in reply for b in m.get("buttons", []) if "choose_slot" in b["payload"])
    stack.say(sender, slot["payload"])
    stack.say(sender, "/skip")
    reply = stack.say(sender, "はい")
    assert "受け付けました" in texts(reply)
    return int(custom(reply, "ticket")[0]["id"])


def test_a_rest_booking_reaches_the_staff_app_and_a_reply_reaches_the_conversation(stack, same_store):
    sender = f"staff-{uuid.uuid4().hex[:10]}"
    ticket_id = book_by_conversation(stack, sender)
    sender_id = pseudonym.pseudonymize("rest", sender)

    app = create_app({"TESTING": True})
    username = f"sv-{uuid.uuid4().hex[:6]}"
    create_user(username, PASSWORD, "supervisor")
    client = app.test_client()
    assert login(client, username).status_code == 302

    inbox = client.get("/").text
    assert f'data-ticket="{ticket_id}"' in inbox and "ご家族（母）" in inbox and "40〜49歳" in inbox
    page = client.get(f"/tickets/{ticket_id}").text
    assert 'href="tel:+819012345678">090-1234-5678</a>' in page and "二十年近く" in page
    # Shared conversation, read from Rasa's tracker.
    assert "会話の記録" in page and "母です" in page

    message = "まどぐち担当の佐藤です。月曜の午後にお電話しますね。"
    resp = post(client, f"/tickets/{ticket_id}/reply", {"message": message}, token_from=f"/tickets/{ticket_id}")
    assert resp.status_code == 302
    deadline = time.monotonic() + 20
    bot_texts: list[str] = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{stack.rasa_url}/conversations/{sender_id}/tracker", timeout=10) as r:
            events = json.loads(r.read())["events"]
        bot_texts = [e.get("text") or "" for e in events if e["event"] == "bot"]
        if message in bot_texts:
            break
        time.sleep(0.5)
    assert message in bot_texts
    assert "返信を送りました" in client.get(f"/tickets/{ticket_id}").text
    # The reply's first line is neutral: phones in shared homes show previews.
    assert bot_texts[bot_texts.index(message) - 1] == "お問い合わせの件でご連絡です。"


def test_the_booking_notice_reaches_the_staff_chat_and_the_statistics_count_it(stack, fake_api, same_store):
    from bot.store.db import session_scope
    from bot.store.models import StatEvent
    from tests.conftest import STAFF_CHAT_ID

    def counted() -> dict[str, int]:
        with session_scope() as s:
            return {
                k: s.query(StatEvent).filter_by(kind=k).count() for k in ("consultation", "recommendation", "callback")
            }

    before = counted()
    ticket_id = book_by_conversation(stack, f"notice-{uuid.uuid4().hex[:8]}")
    deadline = time.monotonic() + 30
    notices: list[dict] = []
    while time.monotonic() < deadline and not notices:
        notices = [
            c.params
            for c in fake_api.api.calls_to("/sendMessage")
            if str(c.params.get("chat_id")) == STAFF_CHAT_ID and f"#{ticket_id}" in str(c.params.get("text"))
        ]
        time.sleep(0.5)
    assert notices, "no staff notice reached the fake Telegram chat"
    text = str(notices[0]["text"])
    assert "新しい折り返し依頼" in text and "1234" not in text and "5678" not in text and "二十年" not in text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and counted()["callback"] == before["callback"]:
        time.sleep(0.3)
    after = counted()
    assert {k: after[k] - before[k] for k in after} == {"consultation": 1, "recommendation": 1, "callback": 1}
