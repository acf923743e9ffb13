"""LINE connector: webhook security, dedup, ordering, reply/push delivery and rendering.

The connector's blueprint runs in a real Sanic server; Rasa is a stub (`RasaStub`); the
Messaging API is the fake server (`fake_api.FakeApi`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.domain import postback
from bot.domain.directory import get_directory
from bot.domain.routing import Profile, route_windows
from bot.security.pseudonym import pseudonymize
from bot.store.channel_state import platform_id_for, remember_identity
from bot.store.db import session_scope
from bot.store.models import ChannelIdentity, ProcessedEvent
from channels import common
from channels.common import RetryPolicy
from channels.line import LineConfig, LineInput, LineOutput, render_turn, retry_key_for
from tests.channels.fake_api import FakeApi
from tests.channels.harness import RasaStub, load_fixture, serve

SECRET = "line-test-channel-secret"
TOKEN = "line-test-access-token"
USER = "U206d25c2ea6bd87c17655609a1c37cb8"  # the SDK fixtures' placeholder user


def sign(body: bytes, secret: str = SECRET) -> str:
    """X-Line-Signature as LINE computes it: base64(HMAC-SHA256(channel secret, body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def fresh(event: Dict[str, Any], *, age: float = 0.0, **changes: Any) -> Dict[str, Any]:
    """A copy of a fixture event with a unique webhookEventId and a timestamp `age` s ago."""
    e = copy.deepcopy(event)
    e["timestamp"] = int((time.time() - age) * 1000)
    e["webhookEventId"] = uuid.uuid4().hex.upper()
    e.update(changes)
    return e


def text_event(text: str, **kw: Any) -> Dict[str, Any]:
    e = fresh(load_fixture("line_text_message.json")["events"][0], **kw)
    e["message"] = dict(e["message"], text=text)
    return e


def postback_event(data: str) -> Dict[str, Any]:
    e = fresh(load_fixture("line_postback.json")["events"][0])
    e["source"] = {"type": "user", "userId": USER}
    e["postback"] = {"data": data}
    return e


def sdk_event(kind: str, message_type: Optional[str] = None) -> Dict[str, Any]:
    for e in load_fixture("line_sdk_webhook.json")["events"]:
        if e["type"] == kind and (message_type is None or e.get("message", {}).get("type") == message_type):
            return fresh(e)
    raise LookupError(kind)


def body_of(*events: Dict[str, Any]) -> bytes:
    return json.dumps({"destination": "U123", "events": list(events)}, ensure_ascii=False).encode()


def count(model: Any) -> int:
    with session_scope() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


class Harness:
    def __init__(self, line: LineInput, rasa: RasaStub, url: str, fake: FakeApi, http: aiohttp.ClientSession) -> None:
        self.line, self.rasa, self.url, self.fake, self.http = line, rasa, url, fake, http

    async def post(self, body: bytes, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
        h = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        async with self.http.post(f"{self.url}/webhooks/line/webhook", data=body, headers=h) as resp:
            return resp.status, await resp.json(content_type=None)

    async def send(self, *events: Dict[str, Any], drain: bool = True) -> int:
        body = body_of(*events)
        status, _ = await self.post(body, {"X-Line-Signature": sign(body)})
        if drain:
            await self.line.drain()
        return status

    def replies(self) -> List[Any]:
        return self.fake.calls_to("/v2/bot/message/reply")

    def pushes(self) -> List[Any]:
        return self.fake.calls_to("/v2/bot/message/push")


def config_for(fake: FakeApi, **kw: Any) -> LineConfig:
    base = dict(
        channel_secret=SECRET,
        access_token=TOKEN,
        api_base_url=fake.base_url,
        timeout=2.0,
        retry=RetryPolicy(attempts=3, base=0.05, cap=0.2),
        loading_after=0.5,
    )
    base.update(kw)
    return LineConfig(**base)


@asynccontextmanager
async def harness(fake: FakeApi, rasa: Optional[RasaStub] = None, **config: Any) -> AsyncIterator[Harness]:
    line = LineInput(config_for(fake, **config))
    rasa = rasa or RasaStub()
    async with serve(line, rasa, "/webhooks/line") as url, aiohttp.ClientSession() as http:
        yield Harness(line, rasa, url, fake, http)


WINDOWS = [
    {
        "id": "w1",
        "name": "窓口A",
        "reasons": ["年齢を問わず相談できます"],
        "what": "説明",
        "who": "どなたでも",
        "place": "市役所",
        "address": "港町1-2",
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
        "reasons": ["「居場所」について相談できます", "次の開催: 11/27"],
        "what": None,
        "who": None,
        "place": None,
        "address": None,
        "map_url": None,
        "hours": None,
        "next_dates": ["2026-11-27"],
        "phone": None,
        "url": "https://example.org/b",
        "needs_callback": False,
    },
    {
        "id": "w3",
        "name": "窓口C",
        "reasons": [],
        "what": None,
        "who": None,
        "place": None,
        "address": None,
        "map_url": None,
        "hours": None,
        "next_dates": [],
        "phone": None,
        "url": None,
        "needs_callback": True,
    },
]


# --- security and HTTP errors --------------------------------------------------------------------------
async def test_missing_signature_is_401_and_nothing_happens(fake: FakeApi) -> None:
    async with harness(fake) as h:
        status, body = await h.post(body_of(text_event("こんにちは")))
        await h.line.drain()
        assert status == 401 and "signature" in body["error"]
        assert h.rasa.messages == [] and fake.calls == []
        assert count(ProcessedEvent) == 0 and count(ChannelIdentity) == 0


async def test_bad_signature_is_401_and_nothing_happens(fake: FakeApi) -> None:
    async with harness(fake) as h:
        body = body_of(text_event("こんにちは"))
        for signature in (sign(body, "another-secret"), "not-base64!", sign(body + b" ")):
            status, _ = await h.post(body, {"X-Line-Signature": signature})
            assert status == 401
        await h.line.drain()
        assert h.rasa.messages == [] and fake.calls == []
        assert count(ProcessedEvent) == 0 and count(ChannelIdentity) == 0


async def test_malformed_json_wrong_type_and_oversize(fake: FakeApi) -> None:
    async with harness(fake) as h:
        bad = b'{"events": [ {'
        status, body = await h.post(bad, {"X-Line-Signature": sign(bad)})
        assert status == 400 and body["error"]
        no_list = b'{"events": {}}'
        assert (await h.post(no_list, {"X-Line-Signature": sign(no_list)}))[0] == 400
        ok = body_of()
        async with h.http.post(
            f"{h.url}/webhooks/line/webhook",
            data=ok,
            headers={"Content-Type": "text/plain", "X-Line-Signature": sign(ok)},
        ) as resp:
            assert resp.status == 415
        big = b'{"events": [], "pad": "' + b"x" * 1_000_001 + b'"}'
        assert (await h.post(big, {"X-Line-Signature": sign(big)}))[0] == 413
        assert h.rasa.messages == []


async def test_verify_request_with_no_events_is_200(fake: FakeApi) -> None:
    async with harness(fake) as h:
        assert await h.send() == 200
        assert fake.calls == []


async def test_channel_off_without_settings(fake: FakeApi) -> None:
    line = LineInput.from_credentials(None)
    assert not line.enabled and line.get_output_channel() is None
    rasa = RasaStub()
    async with serve(line, rasa, "/webhooks/line") as url, aiohttp.ClientSession() as http:
        body = body_of(text_event("x"))
        async with http.post(
            f"{url}/webhooks/line/webhook",
            data=body,
            headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)},
        ) as r:
            assert r.status == 503
        async with http.get(f"{url}/webhooks/line/") as r:
            assert (await r.json())["status"] == "disabled"
    assert rasa.messages == []


def test_rasa_loads_the_channel_from_credentials_with_empty_env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.run import create_http_input_channels

    creds = tmp_path / "credentials.yml"
    creds.write_text(
        "rest:\n"
        "channels.line.LineInput:\n"
        "  channel_secret: ${LINE_CHANNEL_SECRET}\n"
        "  access_token: ${LINE_CHANNEL_ACCESS_TOKEN}\n"
        "  api_base_url: ${LINE_API_BASE_URL}\n"
        "channels.telegram.TelegramInput:\n"
        "  bot_token: ${TELEGRAM_BOT_TOKEN}\n"
        "  secret_token: ${TELEGRAM_SECRET_TOKEN}\n"
        "  api_base_url: ${TELEGRAM_API_BASE_URL}\n",
        encoding="utf-8",
    )
    for name in (
        "LINE_CHANNEL_SECRET",
        "LINE_CHANNEL_ACCESS_TOKEN",
        "LINE_API_BASE_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_SECRET_TOKEN",
        "TELEGRAM_API_BASE_URL",
    ):
        monkeypatch.setenv(name, "")
    channels = {c.name(): c for c in create_http_input_channels(None, str(creds))}
    assert not channels["line"].enabled and not channels["telegram"].enabled
    assert channels["line"].config.api_base_url == "https://api.line.me"

    monkeypatch.setenv("LINE_CHANNEL_SECRET", SECRET)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_SECRET_TOKEN", "s3cret")
    channels = {c.name(): c for c in create_http_input_channels(None, str(creds))}
    assert channels["line"].enabled and channels["line"].config.channel_secret == SECRET
    assert channels["telegram"].enabled and channels["telegram"].config.bot_token == "123:abc"


def test_recommended_credentials_block_reads_the_environment(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`channels.line.LineInput:` with no keys: unset variables cannot crash Rasa's ${} expansion."""
    from rasa.core.run import create_http_input_channels

    creds = tmp_path / "credentials.yml"
    creds.write_text("channels.line.LineInput:\nchannels.telegram.TelegramInput:\n", encoding="utf-8")
    channels = {c.name(): c for c in create_http_input_channels(None, str(creds))}
    assert not channels["line"].enabled and not channels["telegram"].enabled
    monkeypatch.setenv("LINE_CHANNEL_SECRET", SECRET)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("LINE_API_BASE_URL", "http://127.0.0.1:9/")
    [line, _] = create_http_input_channels(None, str(creds))
    assert line.enabled and line.config.api_base_url == "http://127.0.0.1:9"


# --- turns ---------------------------------------------------------------------------------------------
async def test_text_message_reaches_rasa_pseudonymously_and_is_replied_once(fake: FakeApi) -> None:
    rasa = RasaStub({"こんにちは": [{"text": "はじめまして"}, {"text": "どうされましたか"}]})
    async with harness(fake, rasa) as h:
        event = text_event("こんにちは")
        assert await h.send(event) == 200
        [msg] = rasa.messages
        assert msg.text == "こんにちは" and msg.input_channel == "line"
        assert msg.sender_id == pseudonymize("line", USER) and USER not in msg.sender_id
        assert msg.metadata["channel"] == "line" and USER not in json.dumps(msg.metadata)
        [reply] = h.replies()
        assert reply.params["replyToken"] == event["replyToken"]
        assert [m["text"] for m in reply.params["messages"]] == ["はじめまして", "どうされましたか"]
        assert reply.header("Authorization") == f"Bearer {TOKEN}"
        assert h.pushes() == []
    # Stored for push, encrypted.
    with session_scope() as s:
        row = s.get(ChannelIdentity, msg.sender_id)
        assert row is not None and USER not in row.platform_id_enc
    assert platform_id_for(msg.sender_id) == ("line", USER)


async def test_typed_slash_text_cannot_trigger_an_intent(fake: FakeApi) -> None:
    async with harness(fake) as h:
        await h.send(text_event("/delete_data"))
        assert h.rasa.texts == ["／delete_data"]


async def test_same_webhook_event_id_twice_gives_one_turn(fake: FakeApi) -> None:
    async with harness(fake) as h:
        event = text_event("一回だけ")
        await h.send(event)
        await h.send(event)  # LINE retried the delivery
        redelivered = dict(event, deliveryContext={"isRedelivery": True})
        await h.send(redelivered)
        assert h.rasa.texts == ["一回だけ"]
        assert len(h.replies()) == 1
        assert count(ProcessedEvent) == 1


async def test_sdk_fixture_events_sharing_one_id_are_handled_once(fake: FakeApi) -> None:
    """The SDK sample gives every event the same webhookEventId: of one user's events, in
    order, only the first (a text message) is handled."""
    now = int(time.time() * 1000)
    events = [
        dict(e, timestamp=now)
        for e in load_fixture("line_sdk_webhook.json")["events"]
        if e["source"].get("userId") == USER and e["source"]["type"] == "user"
    ]
    assert len({e["webhookEventId"] for e in events}) == 1 and len(events) > 5
    async with harness(fake) as h:
        await h.send(*events)
        assert h.rasa.texts == ["Hello, world"]
        assert len(h.replies()) == 1 and count(ProcessedEvent) == 1


async def test_unseen_redelivery_is_processed_and_pushed(fake: FakeApi) -> None:
    event = fresh(load_fixture("line_redelivery.json")["events"][0], age=120)
    async with harness(fake) as h:
        await h.send(event)
        assert h.rasa.texts == ["Hello, world"]
        assert h.replies() == []
        [push] = h.pushes()
        assert push.params["to"] == USER
        assert push.header("X-Line-Retry-Key") == retry_key_for(event["webhookEventId"], 0)


async def test_old_reply_token_falls_back_to_push_with_retry_key(fake: FakeApi) -> None:
    async with harness(fake) as h:
        event = text_event("遅れて届いた", age=30)
        await h.send(event)
        assert h.replies() == []
        [push] = h.pushes()
        key = push.header("X-Line-Retry-Key")
        assert key == retry_key_for(event["webhookEventId"], 0)
        assert str(uuid.UUID(key)) == key  # a UUID, as LINE requires
        assert retry_key_for(event["webhookEventId"], 0) == key  # deterministic
        assert push.params["messages"][0]["text"] == "echo:遅れて届いた"


async def test_invalid_reply_token_falls_back_to_push(fake: FakeApi) -> None:
    async with harness(fake) as h:
        fake.line_invalid_reply_token()
        event = text_event("こんにちは")
        await h.send(event)
        assert len(h.replies()) == 1  # not retried: a 400 is final
        [push] = h.pushes()
        assert push.header("X-Line-Retry-Key") == retry_key_for(event["webhookEventId"], 0)
        assert push.params["to"] == USER


async def test_push_retries_reuse_the_retry_key(fake: FakeApi) -> None:
    async with harness(fake) as h:
        fake.script("/v2/bot/message/push", 500, {"message": "Internal error"})
        event = text_event("こんにちは", age=40)
        await h.send(event)
        pushes = h.pushes()
        assert len(pushes) == 2
        assert {p.header("X-Line-Retry-Key") for p in pushes} == {retry_key_for(event["webhookEventId"], 0)}


async def test_rate_limited_reply_is_retried_after_retry_after(fake: FakeApi) -> None:
    async with harness(fake) as h:
        fake.line_rate_limited("/v2/bot/message/reply", retry_after=0.5)
        await h.send(text_event("こんにちは"))
        first, second = h.replies()
        assert second.at - first.at >= 0.5
        assert second.params == first.params
        assert h.pushes() == [] and not common.FAILURES


async def test_persistent_5xx_gives_up_after_bounded_attempts(fake: FakeApi) -> None:
    async with harness(fake) as h:
        fake.script("/v2/bot/message/reply", 500, "oops", times=10)
        await h.send(text_event("こんにちは"))
        assert len(h.replies()) == 3  # RetryPolicy(attempts=3)
        assert common.FAILURES["line.reply"] == 1


async def test_timeout_then_used_token_is_not_pushed_twice(fake: FakeApi) -> None:
    """A reply that timed out may have arrived; LINE then calls the token used. No push."""
    async with harness(fake, timeout=0.3) as h:
        fake.script("/v2/bot/message/reply", 200, {}, delay=0.6)
        fake.line_invalid_reply_token()
        await h.send(text_event("こんにちは"))
        assert len(h.replies()) == 2 and h.pushes() == []


async def test_five_rapid_messages_are_processed_in_order(fake: FakeApi) -> None:
    class SlowFirst(RasaStub):
        async def __call__(self, message: Any) -> None:
            # Earlier messages take longer: without per-user ordering they would finish last.
            await asyncio.sleep(0.05 * (5 - int(message.text[-1])))
            await super().__call__(message)

    rasa = SlowFirst()
    async with harness(fake, rasa) as h:
        started = time.monotonic()
        for i in range(5):
            assert await h.send(text_event(f"msg{i}"), drain=False) == 200
        assert time.monotonic() - started < 1.0  # answered at once, processed in the background
        await h.line.drain()
        assert rasa.texts == [f"msg{i}" for i in range(5)]
        assert [r.params["messages"][0]["text"] for r in h.replies()] == [f"echo:msg{i}" for i in range(5)]


async def test_webhook_answers_before_a_slow_turn_finishes(fake: FakeApi) -> None:
    async with harness(fake, RasaStub(delay=1.2)) as h:
        await h.send(text_event("ゆっくり"), drain=False)
        # LINE has its 200 while the turn still runs: no reply has been sent yet (an order, not a
        # wall-clock limit, which a loaded CI machine can break).
        assert h.replies() == []
        await h.line.drain()
        [loading] = fake.calls_to("/v2/bot/chat/loading/start")
        assert loading.params["chatId"] == USER
        assert 5 <= loading.params["loadingSeconds"] <= 60 and loading.params["loadingSeconds"] % 5 == 0
        assert loading.at < h.replies()[0].at


async def test_fast_turn_shows_no_loading_animation(fake: FakeApi) -> None:
    async with harness(fake) as h:
        await h.send(text_event("はやい"))
        assert fake.calls_to("/v2/bot/chat/loading/start") == []


async def test_rasa_failure_sends_the_gentle_error_text(fake: FakeApi) -> None:
    rasa = RasaStub()
    rasa.fail_on.add("こわれる")
    async with harness(fake, rasa) as h:
        await h.send(text_event("こわれる"))
        [reply] = h.replies()
        [message] = reply.params["messages"]
        assert message["text"] == common.failure_text()
        assert "0120-279-338" in message["text"]  # the verified 24-hour lines, never silence


async def test_follow_sends_greet(fake: FakeApi) -> None:
    follow = fresh(load_fixture("line_follow.json")["events"][0])
    async with harness(fake, RasaStub({"/greet": [{"text": "友だち追加ありがとうございます"}]})) as h:
        await h.send(follow)
        [msg] = h.rasa.messages
        assert msg.text == "/greet"
        assert msg.sender_id == pseudonymize("line", follow["source"]["userId"])
        assert h.replies()[0].params["messages"][0]["text"] == "友だち追加ありがとうございます"


async def test_unfollow_forgets_identity_and_stays_silent(fake: FakeApi) -> None:
    unfollow = fresh(load_fixture("line_unfollow.json")["events"][0])
    user = unfollow["source"]["userId"]
    sender = pseudonymize("line", user)
    remember_identity(sender, "line", user)
    async with harness(fake, RasaStub({"/unfollow": [{"text": "should be swallowed"}]})) as h:
        await h.send(unfollow)
        [msg] = h.rasa.messages
        assert msg.text == "/unfollow" and msg.sender_id == sender
        assert fake.calls == []
    assert platform_id_for(sender) is None


@pytest.mark.parametrize("message_type", ["sticker", "video", "audio", "location", "file", "image"])
async def test_non_text_messages_get_the_gentle_text_without_rasa(fake: FakeApi, message_type: str) -> None:
    event = sdk_event("message", message_type)
    event["source"] = {"type": "user", "userId": USER}
    async with harness(fake) as h:
        await h.send(event)
        assert h.rasa.messages == []
        [reply] = h.replies()
        assert reply.params["messages"] == [{"type": "text", "text": common.load_texts()["non_text"]}]


async def test_group_message_gets_the_one_to_one_line_and_nothing_is_stored(fake: FakeApi) -> None:
    event = fresh(load_fixture("line_group_text.json")["events"][0])
    async with harness(fake) as h:
        await h.send(event)
        assert h.rasa.messages == []
        [reply] = h.replies()
        assert reply.params["messages"][0]["text"] == common.load_texts()["group_only"]
        assert count(ChannelIdentity) == 0


async def test_postback_is_decoded_to_the_rasa_payload(fake: FakeApi) -> None:
    async with harness(fake) as h:
        await h.send(postback_event("i=choose_slot&e=preferred_slot&v=2026-11-30_am"))
        # A rich menu uploaded before show_windows was merged into ask_where_to_go still works.
        await h.send(postback_event("i=show_windows"))
        assert h.rasa.texts == ['/choose_slot{"preferred_slot":"2026-11-30_am"}', "/ask_where_to_go"]


@pytest.mark.parametrize("data", ["storeId=12345", 'i=inform&e=relation&v="x"', "i=inform&e=a&v=b&x=1"])
async def test_unknown_postback_data_gets_a_gentle_text(fake: FakeApi, data: str) -> None:
    async with harness(fake) as h:
        await h.send(postback_event(data))
        assert h.rasa.messages == []
        assert h.replies()[0].params["messages"][0]["text"] == common.load_texts()["unknown_postback"]


# --- rendering -----------------------------------------------------------------------------------------
async def test_buttons_become_quick_replies_within_limits(fake: FakeApi) -> None:
    buttons = [
        {
            "title": f"とても長いボタンのタイトルその{i}です、本当に長い",
            "payload": f'/choose_slot{{"preferred_slot":"r{i}"}}',
        }
        for i in range(15)
    ]
    rasa = RasaStub({"選ぶ": [{"text": "どなたのことですか？", "buttons": buttons}]})
    async with harness(fake, rasa) as h:
        await h.send(text_event("選ぶ"))
        [message] = h.replies()[0].params["messages"]
        items = message["quickReply"]["items"]
        assert len(items) == 13
        for i, item in enumerate(items):
            action = item["action"]
            assert action["type"] == "postback" and len(action["label"]) <= 20
            assert action["displayText"] == buttons[i]["title"]
            assert postback.decode(action["data"]) == f'/choose_slot{{"preferred_slot":"r{i}"}}'
        # The user taps the first one: LINE sends the data back as a postback.
        await h.send(postback_event(items[0]["action"]["data"]))
        assert h.rasa.texts[-1] == '/choose_slot{"preferred_slot":"r0"}'


async def test_windows_payload_becomes_a_flex_carousel(fake: FakeApi) -> None:
    rasa = RasaStub({"窓口": [{"text": "こちらの窓口が合いそうです", "custom": {"windows": WINDOWS}}]})
    async with harness(fake, rasa) as h:
        await h.send(text_event("窓口"))
        [flex] = h.replies()[0].params["messages"]  # the text is the altText, not a 2nd message
    assert flex["type"] == "flex" and flex["altText"] == "こちらの窓口が合いそうです"
    bubbles = flex["contents"]["contents"]
    assert [b["body"]["contents"][0]["text"] for b in bubbles] == ["窓口A", "窓口B", "窓口C"]

    def actions(bubble: Dict[str, Any]) -> List[Dict[str, Any]]:
        return [c["action"] for c in bubble["footer"]["contents"]]

    def texts(bubble: Dict[str, Any]) -> str:
        return "\n".join(c.get("text", "") for c in bubble["body"]["contents"])

    a, b, c = (actions(x) for x in bubbles)
    assert [x["uri"] for x in a if x["type"] == "uri"] == ["tel:0120279338"]
    assert all(not x.get("uri", "").startswith("tel:") for x in b + c)
    assert {"type": "uri", "label": "ウェブサイト", "uri": "https://example.org/b"} in b
    assert [postback.decode(x["data"]) for x in c if x["type"] == "postback"] == ["/request_callback"]
    assert "・年齢を問わず相談できます" in texts(bubbles[0]) and "平日 9:00-17:00" in texts(bubbles[0])
    assert "市役所" in texts(bubbles[0]) and "11/27" in texts(bubbles[1])


def test_real_directory_payloads_render() -> None:
    directory = get_directory()
    recs = route_windows(Profile(relation="family", age_min=25, age_max=25, needs=("ibasho",)), directory)
    payload = [r.to_payload(directory) for r in recs]
    [flex] = render_turn([{"text": "おすすめです", "custom": {"windows": payload}}], common.load_texts())
    bubbles = flex["contents"]["contents"]
    assert [b["body"]["contents"][0]["text"] for b in bubbles] == [w["name"] for w in payload]
    for bubble, window in zip(bubbles, payload):
        uris = [c["action"].get("uri", "") for c in bubble["footer"]["contents"]]
        assert any(u.startswith("tel:") for u in uris) == bool(window["phone"])
        for component in bubble["body"]["contents"]:
            assert component["type"] == "separator" or component["text"]  # LINE rejects empty texts


async def test_ticket_payload_becomes_a_confirmation_bubble(fake: FakeApi) -> None:
    # What action_book_callback sends after utter_ticket_booked.
    ticket = {"id": 42, "number": "#42", "slot_label": "11/30(月) 午前", "contact_label": "お電話", "urgent": False}
    rasa = RasaStub(
        {
            "予約": [
                {"text": "受け付けました。受付番号は #42 です。", "utter_action": "utter_ticket_booked"},
                {"custom": {"ticket": ticket}},
            ]
        }
    )
    async with harness(fake, rasa) as h:
        await h.send(text_event("予約"))
        [text, flex] = h.replies()[0].params["messages"]
    assert text["text"] == "受け付けました。受付番号は #42 です。"
    assert flex["type"] == "flex" and flex["altText"] == "受け付けました"
    rows = [[c["text"] for c in row["contents"]] for row in flex["contents"]["body"]["contents"]]
    assert rows == [["受付番号", "#42"], ["連絡方法", "お電話"], ["希望の時間帯", "11/30(月) 午前"]]


async def test_window_texts_are_left_out_when_cards_follow(fake: FakeApi) -> None:
    """action recommend sends each window as text (for REST) and then the payload: LINE shows
    the intro and the carousel, not both."""
    turn = [
        {"text": "こちらが合いそうです", "utter_action": "utter_recommend_intro"},
        *({"text": f"■ {w['name']}", "utter_action": "utter_window"} for w in WINDOWS),
        {"custom": {"windows": WINDOWS}},
        {"text": "（連絡先は確認中です）", "utter_action": "utter_window_needs_callback"},
    ]
    async with harness(fake, RasaStub({"窓口": turn})) as h:
        await h.send(text_event("窓口"))
        messages = h.replies()[0].params["messages"]
    assert [m["type"] for m in messages] == ["text", "flex", "text"]
    assert messages[0]["text"] == "こちらが合いそうです" and "■" not in json.dumps(messages, ensure_ascii=False)
    # Without cards in the turn the same texts are kept.
    kept = render_turn([{"text": "■ 窓口A", "utter_action": "utter_window"}], common.load_texts())
    assert kept == [{"type": "text", "text": "■ 窓口A"}]


def test_long_turns_are_merged_to_five_objects_and_long_texts_split() -> None:
    texts = common.load_texts()
    objects = render_turn([{"text": f"文{i}"} for i in range(8)], texts)
    assert len(objects) == 5 and "".join(o["text"] for o in objects).count("文") == 8
    long = render_turn([{"text": "あ" * 4000 + "\n\n" + "い" * 4000}], texts)
    assert [len(o["text"]) for o in long] == [4000, 4000]


async def test_more_than_five_objects_reply_then_push_the_rest(fake: FakeApi) -> None:
    carousel = {"custom": {"windows": WINDOWS[:1]}}
    rasa = RasaStub({"多い": [carousel] * 7})
    async with harness(fake, rasa) as h:
        event = text_event("多い")
        await h.send(event)
        [reply] = h.replies()
        [push] = h.pushes()
        assert len(reply.params["messages"]) == 5 and len(push.params["messages"]) == 2
        assert push.header("X-Line-Retry-Key") == retry_key_for(event["webhookEventId"], 1)


async def test_output_channel_pushes_to_the_person_behind_the_pseudonym(fake: FakeApi) -> None:
    line = LineInput(config_for(fake))
    sender = pseudonymize("line", USER)
    remember_identity(sender, "line", USER)
    out = line.get_output_channel()
    assert isinstance(out, LineOutput) and out.name() == "line"
    await out.send_response(
        sender, {"text": "担当者からのお返事です", "buttons": [{"title": "はい", "payload": "/affirm"}]}
    )
    await out.send_response("line-" + "0" * 32, {"text": "誰にも届かない"})
    await line.api.close()
    [push] = fake.calls_to("/v2/bot/message/push")
    assert push.params["to"] == USER
    assert push.params["messages"][0]["text"] == "担当者からのお返事です"
    assert push.params["messages"][0]["quickReply"]["items"][0]["action"]["data"] == "i=affirm"
    assert uuid.UUID(push.header("X-Line-Retry-Key"))
    assert common.FAILURES["line.push"] == 1  # the unknown recipient


async def test_logs_never_contain_text_or_raw_ids(fake: FakeApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="channels")
    async with harness(fake) as h:
        fake.line_invalid_reply_token()
        await h.send(text_event("ひみつの相談内容"))
        await h.send(fresh(load_fixture("line_group_text.json")["events"][0]))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "line:" in logged  # something was logged
    assert "ひみつ" not in logged and USER not in logged


# --- rich menu -------------------------------------------------------------------------------------------
async def test_rich_menu_is_created_uploaded_and_made_default(fake: FakeApi) -> None:
    from PIL import Image

    from channels import richmenu

    with Image.open(richmenu.IMAGE_PATH) as image:
        assert image.size == (2500, 1686) and image.format == "PNG"
    assert richmenu.IMAGE_PATH.stat().st_size < 1_000_000  # LINE's limit
    old = {
        "richMenuId": "richmenu-old",
        "name": richmenu.MENU_NAME,
        "chatBarText": "x",
        "selected": True,
        "size": {"width": 2500, "height": 1686},
        "areas": [],
    }
    other = dict(old, richMenuId="richmenu-other", name="someone-elses")
    fake.script("/v2/bot/richmenu/list", 200, {"richmenus": [old, other]})

    menu_id = await richmenu.create(TOKEN, fake.base_url)

    assert menu_id == "richmenu-fake-0001"
    [created] = [c for c in fake.calls_to("/v2/bot/richmenu") if c.path == "/v2/bot/richmenu"]
    areas = created.params["areas"]
    assert [a["action"]["displayText"] for a in areas] == [
        "相談をはじめる",
        "窓口を見る",
        "居場所の日程",
        "いますぐ話したい（緊急）",
        "記録を消す",
    ]
    assert [postback.decode(a["action"]["data"]) for a in areas] == [
        "/greet",
        "/ask_where_to_go",
        "/ibasho_schedule",
        "/show_hotlines",
        "/delete_data",
    ]
    assert all(a["action"]["type"] == "postback" for a in areas)
    covered = sum(a["bounds"]["width"] * a["bounds"]["height"] for a in areas)
    assert covered == 2500 * 1686  # the areas tile the whole image
    [upload] = fake.calls_to(f"/v2/bot/richmenu/{menu_id}/content")
    assert upload.header("Content-Type") == "image/png" and upload.body[:8] == b"\x89PNG\r\n\x1a\n"
    assert fake.calls_to(f"/v2/bot/user/all/richmenu/{menu_id}")
    deleted = [c.path for c in fake.calls if c.method == "DELETE"]
    assert deleted == ["/v2/bot/richmenu/richmenu-old"]
    assert all(c.header("Authorization") == f"Bearer {TOKEN}" for c in fake.calls)


def test_rich_menu_data_endpoint_follows_a_custom_base() -> None:
    from channels import richmenu

    assert richmenu.data_api_base("https://api.line.me", {}) == "https://api-data.line.me"
    assert richmenu.data_api_base("http://127.0.0.1:9", {}) == "http://127.0.0.1:9"
    assert richmenu.data_api_base("http://x", {"LINE_API_DATA_BASE_URL": "http://y/"}) == "http://y"


async def test_rasa_register_mounts_both_channels_at_their_webhook_paths(fake: FakeApi) -> None:
    """Rasa's own `register` (as `rasa run` does): /webhooks/line/webhook and
    /webhooks/telegram/webhook, both handled by the agent's handle_message."""
    import socket
    from types import SimpleNamespace

    from rasa.core.channels.channel import register
    from sanic import Sanic

    from channels.telegram import TelegramConfig, TelegramInput

    rasa = RasaStub()
    line = LineInput(config_for(fake))
    tg = TelegramInput(
        TelegramConfig(bot_token="123456:TEST-token_for-fake-api", secret_token="s3cret", api_base_url=fake.base_url)
    )
    Sanic.test_mode = True
    app = Sanic(f"r{uuid.uuid4().hex}", configure_logging=False)
    app.ctx.agent = SimpleNamespace(handle_message=rasa)
    register([line, tg], app, route="/webhooks/")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.start_serving()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with aiohttp.ClientSession() as http:
            body = body_of(text_event("らいん"))
            async with http.post(
                f"{base}/webhooks/line/webhook",
                data=body,
                headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)},
            ) as r:
                assert r.status == 200
            update = {
                "update_id": 99,
                "message": {
                    "message_id": 1,
                    "date": int(time.time()),
                    "text": "てれぐらむ",
                    "chat": {"id": 5, "type": "private"},
                    "from": {"id": 5, "is_bot": False, "first_name": "A"},
                },
            }
            async with http.post(
                f"{base}/webhooks/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            ) as r:
                assert r.status == 200
        await line.drain()
        await tg.drain()
    finally:
        server.close()
        await server.wait_closed()
        await line.api.close()
        await tg.api.close()
    assert sorted(rasa.texts) == ["てれぐらむ", "らいん"]
    assert {m.input_channel for m in rasa.messages} == {"line", "telegram"}
