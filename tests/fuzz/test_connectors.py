"""Properties of the connectors' parsers: postback keys, LINE and Telegram webhook bodies and
events, and the LINE renderer's platform limits. Network calls are stubbed out; the database
(dedup keys, the id map) is a real SQLite file."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from typing import Any, Dict, Iterator, List

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import postback
from bot.security import crypto, pseudonym
from channels import common
from channels.common import LINE_MAX_LABEL, LINE_MAX_MESSAGES, LINE_MAX_QUICK_REPLIES, LINE_MAX_TEXT
from channels.line import LineConfig, LineInput, quick_reply, render_turn
from channels.telegram import TelegramConfig, TelegramInput
from tests.fuzz.counting import budget, tick

SECRET = "fuzz-line-secret"
TG_SECRET = "fuzz-telegram-secret"
OK_STATUSES = {200, 400, 401, 413, 415}


@pytest.fixture(scope="module", autouse=True)
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    tmp = tmp_path_factory.mktemp("fuzz-connectors")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp / 'madoguchi.db'}")
        mp.setenv("MADOGUCHI_VAR_DIR", str(tmp / "var"))
        mp.setenv("MADOGUCHI_SENDER_KEY", uuid.uuid4().hex)
        mp.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
        crypto.reset_keys()
        pseudonym._key.cache_clear()
        yield
    crypto.reset_keys()
    pseudonym._key.cache_clear()


class Request:
    """The two things the connectors read from a Sanic request."""

    def __init__(self, body: bytes, headers: Dict[str, str]) -> None:
        self.body = body
        self.headers = {k.lower(): v for k, v in headers.items()}


def status_of(resp: Any) -> int:
    return int(resp.status)


# --- postback keys --------------------------------------------------------------------------------
names = st.from_regex(r"[a-z_]{1,40}", fullmatch=True)
values = st.from_regex(r"[A-Za-z0-9_.:\-]{1,64}", fullmatch=True)


@budget()
@given(names, st.none() | names, values)
def test_postback_round_trip(intent: str, entity: str | None, value: str) -> None:
    tick()
    payload = f"/{intent}" if entity is None else f"/{intent}" + json.dumps({entity: value}, separators=(",", ":"))
    key = postback.encode(payload)
    assert key.isascii() and len(key) <= postback.LINE_MAX_CHARS and '"' not in key and "{" not in key
    assert postback.decode(key) == payload


@budget()
@given(
    st.one_of(st.text(max_size=400), st.from_regex(r"(i|e|v|x)=[^&]{0,70}(&(i|e|v)=[^&]{0,70}){0,3}", fullmatch=True))
)
def test_postback_decode_only_yields_safe_payloads(data: str) -> None:
    tick()
    payload = postback.decode(data)
    if payload is not None:
        assert payload.startswith("/") and "\n" not in payload
        intent, _, entities = payload[1:].partition("{")
        assert intent and all(c.islower() or c in "_/" for c in intent)
        if entities:
            parsed = json.loads("{" + entities)
            assert len(parsed) == 1 and all(isinstance(v, str) for v in parsed.values())
        assert postback.decode(postback.encode(payload)) == payload


# --- LINE ---------------------------------------------------------------------------------------------
def line_input() -> LineInput:
    line = LineInput(LineConfig(channel_secret=SECRET, access_token="t", api_base_url="http://127.0.0.1:9"))
    line.submitted = []
    line.queue.submit = lambda key, job: line.submitted.append(key)
    return line


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


async def _noop(_: Any) -> None:
    return None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)


@budget()
@given(
    st.binary(max_size=300),
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
    st.sampled_from(["none", "bad", "good"]),
)
def test_line_webhook_any_bytes_get_a_clear_status(body: bytes, ctype: str, signature: str) -> None:
    tick()
    line = line_input()
    headers = {"Content-Type": ctype} if ctype else {}
    if signature != "none":
        headers["X-Line-Signature"] = sign(body) if signature == "good" else "AAAA"
    resp = asyncio.run(line._webhook(Request(body, headers), _noop))
    assert status_of(resp) in OK_STATUSES
    if signature != "good":
        assert status_of(resp) != 200 and not line.submitted


@budget()
@given(json_values, st.lists(json_values, max_size=4))
def test_line_webhook_signed_json_is_accepted_only_with_an_events_list(payload: Any, events: List[Any]) -> None:
    tick()
    for doc in (payload, {"destination": "U1", "events": events}):
        line = line_input()
        body = json.dumps(doc).encode()
        resp = asyncio.run(
            line._webhook(Request(body, {"Content-Type": "application/json", "X-Line-Signature": sign(body)}), _noop)
        )
        is_valid = isinstance(doc, dict) and isinstance(doc.get("events"), list)
        assert status_of(resp) == (200 if is_valid else 400)
        if is_valid:
            n = sum(isinstance(e, dict) for e in doc["events"])
            assert len([k for k in line.submitted if k != "__purge__"]) == n


maybe_text = st.none() | st.text(max_size=30) | st.integers() | st.booleans()
line_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "message",
                "postback",
                "follow",
                "unfollow",
                "join",
                "leave",
                "memberJoined",
                "beacon",
                "accountLink",
                "things",
                "videoPlayComplete",
                "unsend",
                "",
                "???",
            ]
        )
    },
    optional={
        "mode": st.sampled_from(["active", "standby", None, 3]),
        "timestamp": st.none() | st.integers(min_value=-(2**40), max_value=2**45) | st.text(max_size=5),
        "webhookEventId": st.none() | st.text(min_size=1, max_size=30),
        "replyToken": maybe_text,
        "deliveryContext": st.none() | st.fixed_dictionaries({}, optional={"isRedelivery": json_values}),
        "source": st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["user", "group", "room", None, "x"]),
                "userId": maybe_text,
                "groupId": maybe_text,
                "roomId": maybe_text,
            },
        ),
        "message": st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(
                    ["text", "image", "sticker", "location", "file", "audio", "video", "emoji", None, 7]
                ),
                "text": st.none() | st.text(max_size=200) | st.integers(),
                "id": maybe_text,
            },
        ),
        "postback": st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "data": maybe_text
                | st.from_regex(r"i=[a-z_]{1,12}(&e=[a-z_]{1,12}&v=[A-Za-z0-9_.:-]{1,20})?", fullmatch=True)
            },
        ),
    },
)


@budget()
@given(line_events)
def test_line_events_of_any_documented_shape_never_crash_and_only_safe_text_reaches_rasa(event: Dict[str, Any]) -> None:
    tick()
    line = line_input()
    seen: List[Any] = []
    delivered: List[Any] = []

    async def rasa(message: Any) -> None:
        seen.append(message)

    async def deliver(ctx: Any, objects: Any) -> None:
        delivered.append(objects)

    line.deliver = deliver
    asyncio.run(line.handle_event(event, rasa))
    for m in seen:
        assert isinstance(m.text, str) and m.sender_id.startswith("line-") and len(m.sender_id) == 37
        if m.text.lstrip().startswith("/"):
            assert event.get("type") in ("postback", "follow", "unfollow")
            assert m.text in ("/greet", "/unfollow") or postback.decode(event["postback"]["data"]) == m.text


buttons = st.lists(
    st.fixed_dictionaries(
        {
            "title": st.text(max_size=40) | st.none(),
            "payload": st.text(max_size=60)
            | st.sampled_from(
                [
                    "/affirm",
                    '/choose_slot{"preferred_slot":"2026-11-30_am"}',
                    '/inform{"relation":"family"}',
                    "/x{bad json",
                ]
            ),
        }
    ),
    max_size=20,
)
bot_messages = st.lists(
    st.fixed_dictionaries({}, optional={"text": st.text(max_size=6000), "buttons": buttons}), max_size=9
)


@budget()
@given(bot_messages)
def test_line_rendering_respects_platform_limits(messages: List[Dict[str, Any]]) -> None:
    tick()
    objects = render_turn(
        [common.normalize_message(m) for m in messages if common.normalize_message(m)], common.load_texts()
    )
    for o in objects:
        if o.get("type") == "text":
            assert 0 < len(o["text"]) <= LINE_MAX_TEXT
        items = (o.get("quickReply") or {}).get("items", [])
        assert len(items) <= LINE_MAX_QUICK_REPLIES
        for item in items:
            action = item["action"]
            assert 0 < len(action["label"]) <= LINE_MAX_LABEL
            if action["type"] == "postback":
                assert postback.decode(action["data"]) is not None
    assert len(objects) <= 20  # one turn never floods (reply ≤5, the rest pushed in batches of 5)
    q = quick_reply([b for m in messages for b in m.get("buttons", [])])
    assert q is None or len(q["items"]) <= LINE_MAX_QUICK_REPLIES
    assert LINE_MAX_MESSAGES == 5


# --- Telegram -------------------------------------------------------------------------------------------
_telegram: List[TelegramInput] = []


def telegram_input() -> TelegramInput:
    """One connector for all examples (building its HTTP clients is slow); fresh bookkeeping."""
    if not _telegram:
        tg = TelegramInput(
            TelegramConfig(bot_token="123:abc", secret_token=TG_SECRET, api_base_url="http://127.0.0.1:9")
        )
        tg.queue.submit = lambda key, job: tg.submitted.append(key)
        _telegram.append(tg)
    tg = _telegram[0]
    tg.submitted = []
    tg._last_purge = None
    return tg


user = st.fixed_dictionaries({"id": st.integers(1, 2**40), "is_bot": st.booleans(), "first_name": st.text(max_size=8)})
chat = st.fixed_dictionaries(
    {"id": st.integers(-(2**40), 2**40), "type": st.sampled_from(["private", "group", "supergroup", "channel"])}
)
message = st.fixed_dictionaries(
    {"message_id": st.integers(1, 10**6), "date": st.integers(0, 2**31), "chat": chat},
    optional={"from": user, "text": st.text(max_size=100), "sticker": json_values, "voice": json_values},
)
updates = st.one_of(
    st.fixed_dictionaries(
        {"update_id": st.integers(0, 2**31)},
        optional={
            "message": message,
            "edited_message": message,
            "channel_post": message,
            "callback_query": st.fixed_dictionaries(
                {"id": st.text(min_size=1, max_size=8), "from": user, "chat_instance": st.text(max_size=5)},
                optional={"data": st.text(max_size=64), "message": message},
            ),
            "my_chat_member": json_values,
        },
    ),
    st.dictionaries(
        st.sampled_from(["update_id", "message", "callback_query", "poll", "foo"]), json_values, max_size=4
    ),
)


@budget()
@given(updates, st.sampled_from(["good", "bad", "none"]))
def test_telegram_webhook_any_update_gets_a_clear_status(update: Dict[str, Any], secret: str) -> None:
    tick()
    tg = telegram_input()
    headers = {"Content-Type": "application/json"}
    if secret != "none":
        headers["X-Telegram-Bot-Api-Secret-Token"] = TG_SECRET if secret == "good" else "wrong"
    resp = asyncio.run(tg._webhook(Request(json.dumps(update).encode(), headers), _noop))
    assert status_of(resp) in OK_STATUSES
    if secret != "good":
        assert status_of(resp) == 401 and not tg.submitted


@budget()
@given(st.binary(max_size=200))
def test_telegram_webhook_any_bytes_get_a_clear_status(body: bytes) -> None:
    tick()
    tg = telegram_input()
    resp = asyncio.run(
        tg._webhook(
            Request(body, {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}), _noop
        )
    )
    assert status_of(resp) in OK_STATUSES


@budget()
@given(st.text(alphabet=st.sampled_from(list("/／ \u200b\u3000abc_{}\"':")), max_size=12))
def test_typed_text_never_normalises_into_an_intent_payload(text: str) -> None:
    tick()
    from bot.language.normaliser import normalize

    assert not normalize(common.neutralize_user_text(text)).startswith("/")
