"""Telegram connector: secret check, dedup, commands, callbacks, rendering, retries, admin CLI."""

from __future__ import annotations

import copy
import json
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.domain import postback
from bot.security.pseudonym import pseudonymize
from bot.store.channel_state import platform_id_for, remember_identity
from bot.store.db import session_scope
from bot.store.models import ChannelIdentity, ProcessedEvent
from channels import common, telegram_admin
from channels.common import RetryPolicy
from channels.telegram import ALLOWED_UPDATES, TelegramConfig, TelegramInput, TelegramOutput, render_message
from tests.channels.fake_api import TELEGRAM_TOKEN, FakeApi
from tests.channels.harness import RasaStub, load_fixture, serve

SECRET = "tg-test-secret_token-123"
USER_ID = 1111111  # the docs samples' placeholder user (private chat id == user id)

_next_update = [50000]


def modern(update: Dict[str, Any]) -> Dict[str, Any]:
    """The 2015 docs samples, with the fields today's Bot API always sends (is_bot,
    chat_instance, file_unique_id), a unique update_id and a current date."""
    u = copy.deepcopy(update)
    _next_update[0] += 1
    u["update_id"] = _next_update[0]

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("from"), dict):
                node["from"].setdefault("is_bot", False)
                node["from"].pop("type", None)
            if "file_id" in node:
                node.setdefault("file_unique_id", "unique-" + node["file_id"][:8])
            if "date" in node:
                node["date"] = int(time.time())
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(u)
    if "callback_query" in u:
        u["callback_query"].setdefault("chat_instance", "-42")
    return u


def text_update(text: str) -> Dict[str, Any]:
    u = modern(load_fixture("telegram_message_text.json"))
    u["message"]["text"] = text
    return u


def callback_update(data: str) -> Dict[str, Any]:
    u = modern(load_fixture("telegram_callback_query.json"))
    cq = u["callback_query"]
    cq["data"] = data
    cq.pop("inline_message_id", None)
    cq["message"] = {
        "message_id": 7,
        "date": int(time.time()),
        "text": "えらんでください",
        "chat": {"id": USER_ID, "type": "private"},
    }
    return u


def count(model: Any) -> int:
    with session_scope() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def config_for(fake: FakeApi, **kw: Any) -> TelegramConfig:
    base = dict(
        bot_token=TELEGRAM_TOKEN,
        secret_token=SECRET,
        api_base_url=fake.base_url,
        timeout=2.0,
        retry=RetryPolicy(attempts=3, base=0.05, cap=0.2),
        typing_after=0.5,
    )
    base.update(kw)
    return TelegramConfig(**base)


class Harness:
    def __init__(self, tg: TelegramInput, rasa: RasaStub, url: str, fake: FakeApi, http: aiohttp.ClientSession) -> None:
        self.tg, self.rasa, self.url, self.fake, self.http = tg, rasa, url, fake, http

    async def post(self, update: Any, secret: Optional[str] = SECRET, raw: Optional[bytes] = None) -> Tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        body = raw if raw is not None else json.dumps(update).encode()
        async with self.http.post(f"{self.url}/webhooks/telegram/webhook", data=body, headers=headers) as resp:
            status, data = resp.status, await resp.json(content_type=None)
        await self.tg.drain()
        return status, data

    def sent(self) -> List[Any]:
        return self.fake.calls_to("/sendMessage")


@asynccontextmanager
async def harness(fake: FakeApi, rasa: Optional[RasaStub] = None, **config: Any) -> AsyncIterator[Harness]:
    tg = TelegramInput(config_for(fake, **config))
    rasa = rasa or RasaStub()
    async with serve(tg, rasa, "/webhooks/telegram") as url, aiohttp.ClientSession() as http:
        yield Harness(tg, rasa, url, fake, http)


WINDOWS = [
    {
        "id": "w1",
        "name": "窓口A",
        "reasons": ["年齢を問わず相談できます"],
        "what": None,
        "who": None,
        "place": "市役所",
        "address": None,
        "map_url": None,
        "hours": "平日 9:00-17:00",
        "next_dates": [],
        "phone": "0120-279-338",
        "url": None,
        "needs_callback": False,
    },
    {
        "id": "w2",
        "name": "窓口B",
        "reasons": [],
        "what": None,
        "who": None,
        "place": None,
        "address": None,
        "map_url": None,
        "hours": None,
        "next_dates": ["2026-12-11"],
        "phone": None,
        "url": "https://example.org/b",
        "needs_callback": False,
    },
]


# --- security -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET.upper()])
async def test_wrong_or_missing_secret_is_401_and_nothing_happens(fake: FakeApi, secret: Optional[str]) -> None:
    async with harness(fake) as h:
        status, body = await h.post(text_update("こんにちは"), secret=secret)
        assert status == 401 and body["error"]
        assert h.rasa.messages == [] and fake.calls == []
        assert count(ProcessedEvent) == 0 and count(ChannelIdentity) == 0


async def test_malformed_body_is_400(fake: FakeApi) -> None:
    async with harness(fake) as h:
        assert (await h.post(None, raw=b"{not json"))[0] == 400
        assert (await h.post(None, raw=b"[1, 2]"))[0] == 400
        assert h.rasa.messages == []


async def test_verbatim_2015_sample_is_dropped_unprocessed(fake: FakeApi) -> None:
    """Telegram's own old sample lacks `is_bot`; PTB cannot parse it. It is dropped with a 200
    (a 4xx would make Telegram redeliver it forever) and nothing is processed."""
    async with harness(fake) as h:
        status, body = await h.post(load_fixture("telegram_message_text.json"))
        assert status == 200 and body == {"status": "ignored"}
        assert h.rasa.messages == [] and fake.calls == [] and count(ProcessedEvent) == 0


async def test_channel_off_without_secret(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN)
    tg = TelegramInput.from_credentials({"access_token": "", "secret_token": "${TELEGRAM_SECRET_TOKEN}"})
    assert not tg.enabled and tg.get_output_channel() is None
    rasa = RasaStub()
    async with serve(tg, rasa, "/webhooks/telegram") as url, aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/webhooks/telegram/webhook", json=text_update("x"), headers={"X-Telegram-Bot-Api-Secret-Token": ""}
        ) as r:
            assert r.status == 503
    assert rasa.messages == []
    monkeypatch.setenv("TELEGRAM_SECRET_TOKEN", SECRET)
    assert TelegramInput.from_credentials(None).enabled
    monkeypatch.setenv("TELEGRAM_SECRET_TOKEN", "spaces are not allowed")
    assert not TelegramInput.from_credentials(None).enabled


# --- turns -------------------------------------------------------------------------------------------------
async def test_text_message_reaches_rasa_and_is_answered(fake: FakeApi) -> None:
    rasa = RasaStub({"こんにちは": [{"text": "はじめまして"}]})
    async with harness(fake, rasa) as h:
        assert (await h.post(text_update("こんにちは")))[0] == 200
        [msg] = rasa.messages
        assert msg.text == "こんにちは" and msg.input_channel == "telegram"
        assert msg.sender_id == pseudonymize("telegram", str(USER_ID))
        assert str(USER_ID) not in msg.sender_id and str(USER_ID) not in json.dumps(msg.metadata)
        [sent] = h.sent()
        assert sent.params["chat_id"] == str(USER_ID) and sent.params["text"] == "はじめまして"
        assert "parse_mode" not in sent.params
    assert platform_id_for(msg.sender_id) == ("telegram", str(USER_ID))


@pytest.mark.parametrize(
    "command, payload",
    [
        ("/start", "/greet"),
        ("/start@madoguchi_bot", "/greet"),
        ("/start campaign1", "/greet"),
        ("/stop", "/stop"),
        ("/delete", "/delete_data"),
    ],
)
async def test_commands_map_to_intents(fake: FakeApi, command: str, payload: str) -> None:
    async with harness(fake) as h:
        await h.post(text_update(command))
        assert h.rasa.texts == [payload]


async def test_unknown_command_gets_gentle_text_without_rasa(fake: FakeApi) -> None:
    async with harness(fake) as h:
        await h.post(text_update('/inform{"relation":"self"}'))
        assert h.rasa.messages == []
        assert h.sent()[0].params["text"] == common.load_texts()["unknown_command"]


async def test_same_update_id_twice_gives_one_turn(fake: FakeApi) -> None:
    async with harness(fake) as h:
        update = text_update("一回だけ")
        await h.post(update)
        await h.post(update)
        assert h.rasa.texts == ["一回だけ"] and len(h.sent()) == 1


async def test_callback_query_is_answered_then_decoded(fake: FakeApi) -> None:
    async with harness(fake) as h:
        update = callback_update("i=choose_slot&e=preferred_slot&v=2026-11-30_am")
        await h.post(update)
        [answer] = fake.calls_to("/answerCallbackQuery")
        assert answer.params["callback_query_id"] == update["callback_query"]["id"]
        assert h.rasa.texts == ['/choose_slot{"preferred_slot":"2026-11-30_am"}']
        assert h.rasa.messages[0].sender_id == pseudonymize("telegram", str(USER_ID))
        assert answer.at < h.sent()[0].at


async def test_callback_with_foreign_data_gets_gentle_text(fake: FakeApi) -> None:
    async with harness(fake) as h:
        await h.post(callback_update("Data from button callback"))
        assert fake.calls_to("/answerCallbackQuery")
        assert h.rasa.messages == []
        assert h.sent()[0].params["text"] == common.load_texts()["unknown_postback"]


async def test_edited_message_is_ignored_with_a_log_line(fake: FakeApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="channels")
    async with harness(fake) as h:
        await h.post(modern(load_fixture("telegram_edited_message.json")))
        assert h.rasa.messages == [] and fake.calls == []
    assert any("edited_message ignored" in r.getMessage() for r in caplog.records)
    assert not any("Edited text" in r.getMessage() for r in caplog.records)


async def test_voice_gets_gentle_text(fake: FakeApi) -> None:
    async with harness(fake) as h:
        await h.post(modern(load_fixture("telegram_voice.json")))
        assert h.rasa.messages == []
        assert h.sent()[0].params["text"] == common.load_texts()["non_text"]


async def test_group_chat_gets_the_one_to_one_line(fake: FakeApi) -> None:
    update = text_update("こんにちは")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "家族会"}
    async with harness(fake) as h:
        await h.post(update)
        assert h.rasa.messages == [] and count(ChannelIdentity) == 0
        [sent] = h.sent()
        assert sent.params["chat_id"] == "-100123"
        assert sent.params["text"] == common.load_texts()["group_only"]


async def test_blocking_the_bot_forgets_identity_silently(fake: FakeApi) -> None:
    sender = pseudonymize("telegram", str(USER_ID))
    remember_identity(sender, "telegram", str(USER_ID))
    user = {"id": USER_ID, "is_bot": False, "first_name": "T"}
    update = {
        "update_id": 777001,
        "my_chat_member": {
            "chat": {"id": USER_ID, "type": "private", "first_name": "T"},
            "from": user,
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "bot"}},
            "new_chat_member": {
                "status": "kicked",
                "until_date": 0,
                "user": {"id": 1, "is_bot": True, "first_name": "bot"},
            },
        },
    }
    async with harness(fake, RasaStub({"/unfollow": [{"text": "swallowed"}]})) as h:
        await h.post(update)
        assert h.rasa.texts == ["/unfollow"] and fake.calls == []
    assert platform_id_for(sender) is None


async def test_rasa_failure_sends_the_fallback_with_hotlines(fake: FakeApi) -> None:
    rasa = RasaStub()
    rasa.fail_on.add("こわれる")
    async with harness(fake, rasa) as h:
        await h.post(text_update("こわれる"))
        [sent] = h.sent()
        assert sent.params["text"] == common.failure_text() and "0120-279-338" in sent.params["text"]


async def test_bot_token_never_reaches_info_logs(fake: FakeApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    async with harness(fake) as h:
        await h.post(text_update("こんにちは"))
        assert h.sent()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= 20)
    assert TELEGRAM_TOKEN not in logged and "こんにちは" not in logged and str(USER_ID) not in logged


async def test_slow_turn_shows_typing(fake: FakeApi) -> None:
    async with harness(fake, RasaStub(delay=0.8)) as h:
        await h.post(text_update("ゆっくり"))
        [typing] = fake.calls_to("/sendChatAction")
        assert typing.params["action"] == "typing" and typing.at < h.sent()[0].at


# --- rendering ---------------------------------------------------------------------------------------------
async def test_buttons_become_an_inline_keyboard(fake: FakeApi) -> None:
    buttons = [
        {"title": "家族のこと", "payload": '/inform{"relation":"family"}'},
        {"title": "本人のこと", "payload": '/inform{"relation":"self"}'},
        {"title": "11/30 午前", "payload": '/choose_slot{"preferred_slot":"2026-11-30_am"}'},
        {"title": "長すぎる", "payload": '/choose_slot{"preferred_slot":"' + "x" * 60 + '"}'},
    ]
    rasa = RasaStub({"選ぶ": [{"text": "どなたのことですか？", "buttons": buttons}]})
    async with harness(fake, rasa) as h:
        await h.post(text_update("選ぶ"))
        [sent] = h.sent()
    rows = sent.params["reply_markup"]["inline_keyboard"]
    assert [r[0]["text"] for r in rows] == ["家族のこと", "本人のこと", "11/30 午前"]  # the 64-byte overflow is dropped
    for row, button in zip(rows, buttons):
        assert len(row[0]["callback_data"].encode()) <= 64
        assert postback.decode(row[0]["callback_data"]) == button["payload"]


async def test_windows_become_one_message_each(fake: FakeApi) -> None:
    rasa = RasaStub({"窓口": [{"text": "こちらの窓口が合いそうです", "custom": {"windows": WINDOWS}}]})
    async with harness(fake, rasa) as h:
        await h.post(text_update("窓口"))
        intro, first, second = h.sent()
    assert intro.params["text"] == "こちらの窓口が合いそうです"
    assert first.params["text"].startswith("窓口A") and "電話：0120-279-338" in first.params["text"]
    assert "・年齢を問わず相談できます" in first.params["text"]
    [[callback]] = first.params["reply_markup"]["inline_keyboard"]
    assert postback.decode(callback["callback_data"]) == "/request_callback"
    assert second.params["reply_markup"]["inline_keyboard"] == [
        [{"text": "ウェブサイト", "url": "https://example.org/b"}]
    ]
    assert "12/11" in second.params["text"] and "tel:" not in json.dumps(second.params, ensure_ascii=False)


def test_ticket_renders_a_confirmation() -> None:
    [m] = render_message(
        {
            "text": "受付番号は42です",
            "custom": {
                "ticket": {
                    "id": 42,
                    "number": "#42",
                    "slot_label": "11/30(月) 午前",
                    "contact_label": "このトーク",
                    "urgent": False,
                }
            },
            "buttons": [{"title": "窓口を見る", "payload": "/ask_where_to_go"}],
        },
        common.load_texts(),
    )
    assert m.text.splitlines() == [
        "受け付けました",
        "受付番号：#42",
        "連絡方法：このトーク",
        "希望の時間帯：11/30(月) 午前",
    ]
    assert m.keyboard == [[{"text": "窓口を見る", "callback_data": "i=ask_where_to_go"}]]


async def test_window_texts_are_left_out_when_cards_follow(fake: FakeApi) -> None:
    turn = [
        {"text": "こちらが合いそうです", "utter_action": "utter_recommend_intro"},
        *({"text": f"■ {w['name']}", "utter_action": "utter_window"} for w in WINDOWS),
        {"custom": {"windows": WINDOWS}},
    ]
    async with harness(fake, RasaStub({"窓口": turn})) as h:
        await h.post(text_update("窓口"))
        texts = [c.params["text"] for c in h.sent()]
    assert len(texts) == 3 and texts[0] == "こちらが合いそうです"
    assert texts[1].startswith("窓口A") and texts[2].startswith("窓口B")


def test_long_text_is_split_at_4096_utf16_units() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units
    parts = render_message({"text": text, "buttons": [{"title": "はい", "payload": "/affirm"}]}, common.load_texts())
    assert len(parts) == 2 and all(common.utf16_len(p.text) <= 4096 for p in parts)
    assert "".join(p.text for p in parts) == text
    assert parts[0].keyboard is None and parts[1].keyboard == [[{"text": "はい", "callback_data": "i=affirm"}]]


# --- retries ---------------------------------------------------------------------------------------------
async def test_rate_limit_retry_after_is_honoured(fake: FakeApi) -> None:
    async with harness(fake) as h:
        fake.telegram_rate_limited("sendMessage", retry_after=1)
        await h.post(text_update("こんにちは"))
        first, second = h.sent()
        assert second.at - first.at >= 1.0
        assert second.params["text"] == first.params["text"] == "echo:こんにちは"
        assert not common.FAILURES


async def test_persistent_5xx_gives_up(fake: FakeApi) -> None:
    async with harness(fake) as h:
        fake.script("/sendMessage", 500, {"ok": False, "error_code": 500, "description": "Internal"}, times=10)
        await h.post(text_update("こんにちは"))
        assert len(h.sent()) == 3 and common.FAILURES["telegram.sendMessage"] == 1


async def test_bad_request_is_not_retried(fake: FakeApi) -> None:
    async with harness(fake) as h:
        fake.script("/sendMessage", 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        await h.post(text_update("こんにちは"))
        assert len(h.sent()) == 1 and common.FAILURES["telegram.sendMessage"] == 1


# --- push and admin ----------------------------------------------------------------------------------------
async def test_output_channel_pushes_by_pseudonym(fake: FakeApi) -> None:
    tg = TelegramInput(config_for(fake))
    sender = pseudonymize("telegram", str(USER_ID))
    remember_identity(sender, "telegram", str(USER_ID))
    out = tg.get_output_channel()
    assert isinstance(out, TelegramOutput) and out.name() == "telegram"
    await out.send_response(sender, {"text": "担当者からです"})
    await out.send_response("telegram-" + "f" * 32, {"text": "届かない"})
    await tg.api.close()
    [sent] = fake.calls_to("/sendMessage")
    assert sent.params["chat_id"] == str(USER_ID) and sent.params["text"] == "担当者からです"
    assert common.FAILURES["telegram.send"] == 1


async def test_admin_set_webhook_sends_secret_and_allowed_updates(fake: FakeApi) -> None:
    assert await telegram_admin.set_webhook("https://bot.example.org/webhooks/telegram/webhook", config_for(fake))
    [call] = fake.calls_to("/setWebhook")
    assert call.params["url"] == "https://bot.example.org/webhooks/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ALLOWED_UPDATES
    with pytest.raises(telegram_admin.AdminError):
        await telegram_admin.set_webhook("http://insecure.example.org/hook", config_for(fake))


def test_admin_requires_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert telegram_admin.main(["set-webhook", "https://x.example.org/h"]) == 2
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN)
    assert telegram_admin.main(["poll", "--once"]) == 2  # no secret


async def test_admin_poll_forwards_updates_through_the_webhook(fake: FakeApi) -> None:
    """getUpdates → the running channel's webhook with the secret header → Rasa."""
    fake.queue_updates([text_update("ポーリング1"), callback_update("i=affirm")])
    tg = TelegramInput(config_for(fake))
    rasa = RasaStub()
    async with serve(tg, rasa, "/webhooks/telegram") as url:
        forwarded = await telegram_admin.poll(url, config=config_for(fake), once=True)
        await tg.drain()
    assert forwarded == 2
    assert fake.calls_to("/deleteWebhook") and fake.calls_to("/getUpdates")
    assert rasa.texts == ["ポーリング1", "/affirm"]


async def test_admin_poll_stops_when_rasa_rejects_the_secret(fake: FakeApi) -> None:
    fake.queue_updates([text_update("x")])
    tg = TelegramInput(config_for(fake, secret_token="another-secret"))
    async with serve(tg, RasaStub(), "/webhooks/telegram") as url:
        with pytest.raises(telegram_admin.AdminError, match="401"):
            await telegram_admin.poll(url, config=config_for(fake), once=True)
