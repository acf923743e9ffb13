"""LINE and Telegram against the running stack: signed events in, one reply call out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.channels.fake_api import TELEGRAM_TOKEN
from tests.integration.conftest import LINE_SECRET, TELEGRAM_SECRET

pytestmark = pytest.mark.stack


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def line_event(user: str, text: str) -> bytes:
    return json.dumps(
        {
            "destination": "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "events": [
                {
                    "type": "message",
                    "mode": "active",
                    "timestamp": int(time.time() * 1000),
                    "source": {"type": "user", "userId": user},
                    "webhookEventId": uuid.uuid4().hex.upper()[:26],
                    "deliveryContext": {"isRedelivery": False},
                    "replyToken": uuid.uuid4().hex,
                    "message": {"id": str(uuid.uuid4().int)[:18], "type": "text", "quoteToken": "q", "text": text},
                }
            ],
        },
        ensure_ascii=False,
    ).encode("utf-8")


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(LINE_SECRET.encode(), body, hashlib.sha256).digest()).decode()


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_signed_line_text_gets_one_reply_with_quick_replies(stack, fake_api):
    user = "U" + uuid.uuid4().hex
    before = len(fake_api.api.calls_to("/v2/bot/message/reply"))
    body = line_event(user, "こんにちは")
    started = time.monotonic()
    assert post(f"{stack.rasa_url}/webhooks/line/webhook", body, {"X-Line-Signature": sign(body)}) == 200
    assert time.monotonic() - started < 2.0  # acknowledged before the turn is processed
    calls = wait_for(lambda: fake_api.api.calls_to("/v2/bot/message/reply")[before:])
    time.sleep(1.0)
    calls = fake_api.api.calls_to("/v2/bot/message/reply")[before:]
    assert len(calls) == 1
    messages = calls[0].params["messages"]
    assert len(messages) in range(1, 6)
    labels = [i["action"]["label"] for i in messages[-1]["quickReply"]["items"]]
    assert "答えたくない" in labels and all(len(label) <= 20 for label in labels)
    assert user not in json.dumps(stack.tracker_db_dump())


def test_unsigned_line_event_is_refused_and_nothing_is_sent(stack, fake_api):
    before = len(fake_api.api.calls)
    body = line_event("U" + uuid.uuid4().hex, "こんにちは")
    assert post(f"{stack.rasa_url}/webhooks/line/webhook", body, {}) in (400, 401)
    assert post(f"{stack.rasa_url}/webhooks/line/webhook", body, {"X-Line-Signature": "bad"}) in (400, 401)
    time.sleep(1.0)
    assert len(fake_api.api.calls) == before


def test_telegram_update_with_secret_gets_an_inline_keyboard(stack, fake_api):
    chat = int(str(uuid.uuid4().int)[:9])
    update = {
        "update_id": int(time.time() * 1000) % 10**9,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "text": "こんにちは",
            "chat": {"id": chat, "type": "private", "first_name": "T"},
            "from": {"id": chat, "is_bot": False, "first_name": "T"},
        },
    }
    before = len(fake_api.api.calls_to("/sendMessage"))
    url = f"{stack.rasa_url}/webhooks/telegram/webhook"
    body = json.dumps(update, ensure_ascii=False).encode()
    assert post(url, body, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}) == 401
    assert post(url, body, {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}) == 200

    def to_this_chat():
        # this chat's messages only: a late reply to another test's chat may arrive meanwhile
        sent = fake_api.api.calls_to(f"/bot{TELEGRAM_TOKEN}/sendMessage")[before:]
        return [c for c in sent if str(c.params.get("chat_id")) == str(chat)]

    def buttons_of(calls):
        keyboards = [c.params.get("reply_markup") for c in calls if c.params.get("reply_markup")]
        return keyboards, [b["text"] for kb in keyboards for row in kb["inline_keyboard"] for b in row]

    # the reply comes as several messages; the intake question with its keyboard is the last
    calls = wait_for(lambda: (c := to_this_chat()) and "答えたくない" in buttons_of(c)[1] and c)
    assert calls, [c.params for c in to_this_chat()]
    keyboards, buttons = buttons_of(calls)
    assert "答えたくない" in buttons
    assert all(
        len(b["callback_data"].encode()) <= 64
        for kb in keyboards
        for row in kb["inline_keyboard"]
        for b in row
        if "callback_data" in b
    )
