"""LINE Messaging API connector: ``channels.line.LineInput`` (webhook) and ``LineOutput`` (push).

Webhook: ``POST /webhooks/line/webhook``, served by ``channels.base.WebhookInputChannel`` (the
checks in their order, the per-person queue, dedup on webhookEventId, the Rasa call). The
signature (X-Line-Signature, base64 HMAC-SHA256 of the raw body with the channel secret) is
checked with the SDK's ``SignatureValidator`` before anything is parsed; a missing header is a
401, never a pass. The request is answered at once and events are handled in the background, in
order per person (LINE counts >2 s as a timeout).

Each turn's bot messages are collected and sent in one reply call (≤5 message objects); a reply
token that is older than ``reply_token_ttl`` or rejected as invalid falls back to a push whose
X-Line-Retry-Key is derived from the webhookEventId, so retried pushes are idempotent.

Settings (credentials.yml keys, else environment): ``channel_secret`` / LINE_CHANNEL_SECRET,
``access_token`` / LINE_CHANNEL_ACCESS_TOKEN, ``api_base_url`` / LINE_API_BASE_URL
(default https://api.line.me), ``timeout`` / LINE_HTTP_TIMEOUT (seconds, default 10).
With the secret or the token empty the channel is off: its webhook answers 503 and it offers no
output channel, so Rasa starts without LINE.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Text, Tuple
from urllib.parse import quote

import aiohttp
from linebot import AsyncLineBotApi, SignatureValidator
from linebot.aiohttp_async_http_client import AiohttpAsyncHttpClient, AiohttpAsyncHttpResponse
from linebot.exceptions import LineBotApiError

from bot import clock
from bot.domain import postback
from bot.store.channel_state import platform_id_for
from channels import common
from channels.base import OnNewMessage, WebhookConfig, WebhookError, WebhookInputChannel
from channels.common import (
    LINE_MAX_ALT_TEXT,
    LINE_MAX_BUBBLES,
    LINE_MAX_DISPLAY_TEXT,
    LINE_MAX_LABEL,
    LINE_MAX_MESSAGES,
    LINE_MAX_QUICK_REPLIES,
    LINE_MAX_TEXT,
    TurnBuffer,
    Verdict,
    short_id,
)

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.line.me"
CHANNEL = "line"
# Stable namespace so the same webhookEventId always yields the same X-Line-Retry-Key.
_RETRY_KEY_NS = uuid.UUID("6f1d3c1e-5b0a-4d8e-9a52-6b2c0e9f4a11")
_NON_TEXT = {"image", "video", "audio", "file", "location", "sticker"}


# --- configuration -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LineConfig(WebhookConfig):
    """Connector settings (``api_base_url``, ``timeout`` and ``retry``: see ``WebhookConfig``).

    Attributes:
        channel_secret (:obj:`str`): verifies X-Line-Signature.
        access_token (:obj:`str`): long-lived channel access token.
        reply_token_ttl (:obj:`float`): a reply token older than this (from the event's
            timestamp) is not tried; the turn is pushed instead.
        loading_after (:obj:`float`): show the loading animation when a turn takes longer.
        loading_seconds (:obj:`int`): how long the animation may run (5–60, step 5).
    """

    api_base_url: str = DEFAULT_API_BASE_URL  # the Messaging API
    channel_secret: str = ""
    access_token: str = ""
    reply_token_ttl: float = 25.0
    loading_after: float = 1.0
    loading_seconds: int = 20

    @property
    def enabled(self) -> bool:
        return bool(self.channel_secret and self.access_token)

    def off_reason(self) -> Tuple[int, str]:
        return logging.INFO, "LINE channel is off (LINE_CHANNEL_SECRET / LINE_CHANNEL_ACCESS_TOKEN empty)"

    @classmethod
    def from_credentials(cls, credentials: Optional[Mapping[str, Any]]) -> "LineConfig":
        return cls(
            channel_secret=common.setting(credentials, "channel_secret", "LINE_CHANNEL_SECRET"),
            access_token=common.setting(credentials, "access_token", "LINE_CHANNEL_ACCESS_TOKEN"),
            api_base_url=common.setting(credentials, "api_base_url", "LINE_API_BASE_URL", DEFAULT_API_BASE_URL).rstrip(
                "/"
            ),
            timeout=common.float_setting(credentials, "timeout", "LINE_HTTP_TIMEOUT", 10.0),
        )


def retry_key_for(event_id: Optional[str], part: int = 0) -> str:
    """The X-Line-Retry-Key for the ``part``-th push of an event: same event, same key."""
    if not event_id:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_RETRY_KEY_NS, f"{event_id}:{part}"))


# --- API client --------------------------------------------------------------------------------
class InvalidReplyToken(Exception):
    """LINE rejected the reply token (expired or already used).

    Attributes:
        maybe_used (:obj:`bool`): an earlier attempt with this token may have gone through
            (it timed out), so the token was most likely used by us.
    """

    def __init__(self, maybe_used: bool) -> None:
        super().__init__("Invalid reply token")
        self.maybe_used = maybe_used


class _Raw:
    """A message object already in LINE's JSON form, for the SDK's ``as_json_dict`` calls."""

    def __init__(self, data: Dict[str, Any]) -> None:
        self.data = data

    def as_json_dict(self) -> Dict[str, Any]:
        return self.data


class _TolerantResponse(AiohttpAsyncHttpResponse):
    """The SDK builds its error from ``await response.json``; a proxy's HTML 502 or an empty
    body would make that raise something other than LineBotApiError and hide the status."""

    @property
    async def json(self) -> Any:
        try:
            data = await self.response.json(content_type=None)
        except ValueError:
            data = None
        return data if isinstance(data, dict) else {"message": f"HTTP {self.response.status}"}


class TolerantHttpClient(AiohttpAsyncHttpClient):
    """``AiohttpAsyncHttpClient`` whose error bodies always parse (see ``_TolerantResponse``)."""

    async def get(self, url, headers=None, params=None, timeout=None):
        return _TolerantResponse((await super().get(url, headers, params, timeout)).response)

    async def post(self, url, headers=None, data=None, timeout=None):
        return _TolerantResponse((await super().post(url, headers, data, timeout)).response)

    async def delete(self, url, headers=None, data=None, timeout=None):
        return _TolerantResponse((await super().delete(url, headers, data, timeout)).response)

    async def put(self, url, headers=None, data=None, timeout=None):
        return _TolerantResponse((await super().put(url, headers, data, timeout)).response)


def _status_of(exc: BaseException) -> Optional[int]:
    if isinstance(exc, LineBotApiError):
        return exc.status_code
    return None


def _retry_after(exc: BaseException) -> Optional[float]:
    headers = getattr(exc, "headers", None) or {}
    for key, value in dict(headers).items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def classify_line_error(exc: BaseException) -> Verdict:
    """429 and 5xx are retried (429 after Retry-After when given); so are network errors."""
    status = _status_of(exc)
    if status is not None:
        if status == 429:
            return Verdict(True, _retry_after(exc))
        return Verdict(status >= 500)
    return Verdict(isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)))


def _is_invalid_reply_token(exc: BaseException) -> bool:
    if not isinstance(exc, LineBotApiError) or exc.status_code != 400:
        return False
    message = getattr(exc.error, "message", "") or ""
    return "reply token" in message.lower()


class LineApi:
    """The calls the connector makes, with retries: reply, push, loading animation.

    Reply and push go through the SDK's ``AsyncLineBotApi`` over one shared aiohttp session.
    Pushes use a fresh ``AsyncLineBotApi`` each: the 2.3.0 SDK stores X-Line-Retry-Key in the
    instance's shared headers, which would leak one push's key into concurrent calls.
    """

    def __init__(self, config: LineConfig) -> None:
        self.config = config
        self._session: Optional[aiohttp.ClientSession] = None

    def session(self) -> aiohttp.ClientSession:
        """The shared session, opened on first use (it must be created inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        return self._session

    def sdk(self) -> AsyncLineBotApi:
        """A fresh SDK client on the shared session (cheap: a dict of headers)."""
        client = TolerantHttpClient(self.session(), timeout=self.config.timeout)
        return AsyncLineBotApi(self.config.access_token, client, endpoint=self.config.api_base_url)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def reply(self, reply_token: str, messages: List[Dict[str, Any]]) -> None:
        """Send ``messages`` (≤5) with a reply token.

        Raises:
            InvalidReplyToken: the token is expired or used.
            LineBotApiError | aiohttp.ClientError | asyncio.TimeoutError: gave up.
        """
        api = self.sdk()
        ambiguous = False

        def classify(exc: BaseException) -> Verdict:
            nonlocal ambiguous
            if _is_invalid_reply_token(exc):
                return Verdict(False)
            if _status_of(exc) is None and not isinstance(exc, aiohttp.ClientConnectorError):
                ambiguous = True  # sent but unanswered: the reply may have been delivered
            return classify_line_error(exc)

        try:
            await common.with_retries(
                lambda: api.reply_message(reply_token, [_Raw(m) for m in messages]),
                classify,
                self.config.retry,
                what="line reply",
            )
        except LineBotApiError as exc:
            if _is_invalid_reply_token(exc):
                raise InvalidReplyToken(maybe_used=ambiguous) from exc
            raise

    async def push(self, to: str, messages: List[Dict[str, Any]], retry_key: str) -> None:
        """Push ``messages`` (≤5) to a user; retries reuse ``retry_key``, and LINE's 409
        ("already accepted with this key") counts as success."""
        api = self.sdk()

        async def call() -> None:
            try:
                await api.push_message(to, [_Raw(m) for m in messages], retry_key=retry_key)
            except LineBotApiError as exc:
                if exc.status_code == 409:
                    return
                raise

        await common.with_retries(call, classify_line_error, self.config.retry, what="line push")

    async def start_loading(self, chat_id: str, seconds: int) -> None:
        """POST /v2/bot/chat/loading/start (not in the 2.3.0 SDK). Best effort: no retries."""
        seconds = min(60, max(5, int(seconds) // 5 * 5))
        url = f"{self.config.api_base_url}/v2/bot/chat/loading/start"
        headers = {"Authorization": f"Bearer {self.config.access_token}"}
        async with self.session().post(
            url, json={"chatId": chat_id, "loadingSeconds": seconds}, headers=headers
        ) as resp:
            if resp.status >= 300:
                logger.debug("line loading animation: HTTP %s", resp.status)


# --- rendering -----------------------------------------------------------------------------------
def _label(title: str, limit: int = LINE_MAX_LABEL) -> str:
    title = " ".join(str(title).split())
    return title if len(title) <= limit else title[: limit - 1] + "…"


def _postback_action(title: str, payload: str, limit: int = LINE_MAX_LABEL) -> Dict[str, Any]:
    return {
        "type": "postback",
        "label": _label(title, limit),
        "data": postback.encode(payload),
        "displayText": str(title)[:LINE_MAX_DISPLAY_TEXT],
    }


def quick_reply(buttons: Sequence[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """Rasa buttons → a LINE quickReply (≤13 items, labels ≤20 chars).

    Intent payloads become postbacks carrying a ``bot.domain.postback`` key; plain-text payloads
    become message actions that send that text.
    """
    items = []
    for button in buttons:
        title = str(button.get("title") or "").strip()
        payload = str(button.get("payload") or "").strip()
        if not title or not payload:
            continue
        if payload.startswith("/"):
            try:
                action = _postback_action(title, payload)
            except postback.PostbackError:
                logger.warning("line: skipping a button whose payload cannot be a postback key")
                continue
        else:
            action = {"type": "message", "label": _label(title), "text": payload[:LINE_MAX_DISPLAY_TEXT]}
        items.append({"type": "action", "action": action})
        if len(items) == LINE_MAX_QUICK_REPLIES:
            break
    return {"items": items} if items else None


def _text(text: str, **style: Any) -> Dict[str, Any]:
    return {"type": "text", "text": text, "wrap": True, **style}


def _tel_uri(phone: str) -> str:
    return "tel:" + quote(phone.replace("-", ""), safe="")


def window_bubble(window: Mapping[str, Any], cards: Mapping[str, Any]) -> Dict[str, Any]:
    """One window (``Recommendation.to_payload``) as a Flex bubble."""
    body: List[Dict[str, Any]] = [_text(str(window["name"]), weight="bold", size="md")]
    if window.get("what"):
        body.append(_text(str(window["what"]), size="xs", color="#666666"))
    reasons = [r for r in window.get("reasons") or [] if r]
    if reasons:
        body.append({"type": "separator", "margin": "md"})
        body.append(_text(cards["reasons_title"], size="xs", color="#888888", margin="md"))
        body.extend(_text(f"・{r}", size="sm") for r in reasons)
    details = common.window_detail_lines(window, cards)
    if details:
        body.append({"type": "separator", "margin": "md"})
        body.extend(_text(line, size="sm", color="#333333") for line in details)
    buttons: List[Dict[str, Any]] = []
    if window.get("phone"):  # only verified numbers are ever in the payload
        buttons.append(
            {
                "type": "button",
                "style": "primary",
                "height": "sm",
                "action": {"type": "uri", "label": cards["call"], "uri": _tel_uri(str(window["phone"]))},
            }
        )
    if common.is_web_url(window.get("url")):
        buttons.append(
            {
                "type": "button",
                "style": "secondary",
                "height": "sm",
                "action": {"type": "uri", "label": cards["website"], "uri": window["url"]},
            }
        )
    else:
        buttons.append(
            {
                "type": "button",
                "style": "secondary",
                "height": "sm",
                "action": _postback_action(cards["request_callback"], "/request_callback", 40),
            }
        )
    if common.is_web_url(window.get("map_url")):
        buttons.append(
            {
                "type": "button",
                "style": "link",
                "height": "sm",
                "action": {"type": "uri", "label": cards["map"], "uri": window["map_url"]},
            }
        )
    return {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": body},
        "footer": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": buttons},
    }


def windows_carousel(
    windows: Sequence[Mapping[str, Any]], alt_text: Optional[str], cards: Mapping[str, Any]
) -> Dict[str, Any]:
    """``{"windows": [...]}`` → a Flex carousel message (one bubble per window)."""
    return {
        "type": "flex",
        "altText": _alt(alt_text or cards["windows_alt"]),
        "contents": {"type": "carousel", "contents": [window_bubble(w, cards) for w in windows[:LINE_MAX_BUBBLES]]},
    }


def ticket_bubble(ticket: Mapping[str, Any], alt_text: Optional[str], cards: Mapping[str, Any]) -> Dict[str, Any]:
    """``{"ticket": {...}}`` → a Flex confirmation bubble."""
    rows = [
        {
            "type": "box",
            "layout": "horizontal",
            "spacing": "md",
            "contents": [
                _text(label, size="sm", color="#888888", flex=2),
                _text(value, size="sm", weight="bold", flex=3),
            ],
        }
        for label, value in common.ticket_lines(ticket, cards)
    ]
    return {
        "type": "flex",
        "altText": _alt(alt_text or cards["ticket_title"]),
        "contents": {
            "type": "bubble",
            "header": {
                "type": "box",
                "layout": "vertical",
                "contents": [_text(cards["ticket_title"], weight="bold", size="lg")],
            },
            "body": {
                "type": "box",
                "layout": "vertical",
                "spacing": "sm",
                "contents": rows or [_text(cards["ticket_title"], size="sm")],
            },
        },
    }


def _alt(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= LINE_MAX_ALT_TEXT else text[: LINE_MAX_ALT_TEXT - 1] + "…"


def _merge_texts(objects: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Merge adjacent text objects (shortest pairs first) until at most 5 remain, if possible."""
    objects = [dict(o) for o in objects]
    while len(objects) > LINE_MAX_MESSAGES:
        best = None
        for i in range(len(objects) - 1):
            a, b = objects[i], objects[i + 1]
            if a["type"] == b["type"] == "text":
                size = len(a["text"]) + 2 + len(b["text"])
                if size <= LINE_MAX_TEXT and (best is None or size < best[1]):
                    best = (i, size)
        if best is None:
            break
        i = best[0]
        objects[i] = {"type": "text", "text": objects[i]["text"] + "\n\n" + objects[i + 1]["text"]}
        del objects[i + 1]
    return objects


def render_turn(messages: Sequence[Mapping[str, Any]], texts: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """A turn's bot messages → LINE message objects (to be sent in batches of ≤5).

    Texts are split at 5000 characters and merged when a turn has more than 5 objects; a custom
    payload's text becomes the Flex altText instead of a separate message; texts that only spell
    out the window cards are dropped; the turn's buttons become quick replies on the last object
    (LINE shows them only there).
    """
    cards = texts["cards"]
    messages = common.drop_superseded(list(messages), texts)
    objects: List[Dict[str, Any]] = []
    for m in messages:
        custom = m.get("custom")
        windows = common.windows_of(custom)
        ticket = common.ticket_of(custom)
        if windows:
            objects.append(windows_carousel(windows, m.get("text"), cards))
        elif ticket is not None:
            objects.append(ticket_bubble(ticket, m.get("text"), cards))
        elif m.get("text"):
            objects.extend(
                {"type": "text", "text": chunk} for chunk in common.split_text(str(m["text"]), LINE_MAX_TEXT)
            )
        elif custom:
            logger.debug("line: dropping an unknown custom payload")
        image = m.get("image")
        if isinstance(image, str) and image.startswith("https://"):
            objects.append({"type": "image", "originalContentUrl": image, "previewImageUrl": image})
    objects = _merge_texts(objects)
    quick = quick_reply(common.buttons_of(messages))
    if quick and objects:
        objects[-1]["quickReply"] = quick
    return objects


# --- output channel ------------------------------------------------------------------------------
class LineOutput(TurnBuffer):
    """Output channel for LINE.

    During a webhook turn it only collects (the connector replies once at the end). Created by
    :meth:`LineInput.get_output_channel` with ``push=True`` it pushes each message at once to the
    user behind the pseudonymous recipient id (Rasa's ``output_channel=latest``, staff replies).
    """

    def __init__(self, api: Optional[LineApi] = None, *, push: bool = False) -> None:
        super().__init__()
        self.api = api
        self.push = push

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        before = len(self.messages)
        await super().send_response(recipient_id, message)
        if not self.push or len(self.messages) == before or self.api is None:
            return
        target = await asyncio.to_thread(platform_id_for, recipient_id)
        if target is None or target[0] != CHANNEL:
            common.record_failure(CHANNEL, "push", f"no LINE identity for {short_id(recipient_id)}")
            return
        objects = render_turn(self.messages[before:], common.load_texts())
        key = str(uuid.uuid4())  # one key per message, reused by its retries
        for i in range(0, len(objects), LINE_MAX_MESSAGES):
            try:
                await self.api.push(target[1], objects[i : i + LINE_MAX_MESSAGES], retry_key_for(key, i))
            except Exception as exc:
                common.record_failure(CHANNEL, "push", type(exc).__name__)
                return


# --- input channel -------------------------------------------------------------------------------
@dataclass
class ReplyContext:
    """Where a turn's answer goes: the reply token while fresh, else a push to ``push_to``."""

    reply_token: Optional[str]
    event_ms: Optional[int]
    event_id: Optional[str]
    push_to: Optional[str]
    received: float = field(default_factory=clock.wall_timestamp)

    def token_fresh(self, ttl: float) -> bool:
        if not self.reply_token:
            return False
        # Age from the event's own timestamp, not our receipt: a redelivered event arrives late
        # with its original token. (Needs an NTP-synced clock; a token wrongly judged fresh
        # still ends in a push through "Invalid reply token".)
        start = self.received if self.event_ms is None else self.event_ms / 1000.0
        return clock.wall_timestamp() - start < ttl


class LineInput(WebhookInputChannel[LineConfig, Mapping[str, Any], ReplyContext]):
    """LINE webhook input channel (``/webhooks/line/webhook``)."""

    channel = CHANNEL
    title = "LINE"
    config_class = LineConfig

    def __init__(self, config: LineConfig, texts: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(config, texts)
        self.api = LineApi(config)
        self._validator = SignatureValidator(config.channel_secret) if config.enabled else None

    def get_output_channel(self) -> Optional[LineOutput]:
        """A push-capable output channel, or None while the channel is off."""
        return LineOutput(self.api, push=True) if self.enabled else None

    async def close(self) -> None:
        await self.api.close()

    # -- webhook -----------------------------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str], body: bytes) -> None:
        """X-Line-Signature must be present and match the raw body (a missing one is a 401)."""
        signature = headers.get("x-line-signature")
        if not signature:
            logger.warning("line webhook without X-Line-Signature rejected")
            raise WebhookError(401, "missing signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookError(400, "body is not UTF-8") from None
        if self._validator is None or not self._validator.validate(text, signature):
            logger.warning("line webhook with a bad X-Line-Signature rejected")
            raise WebhookError(401, "invalid signature")

    def parse(self, document: Any) -> List[Mapping[str, Any]]:
        events = document.get("events") if isinstance(document, dict) else None
        if not isinstance(events, list):
            raise WebhookError(400, "body has no events list")
        return [event for event in events if isinstance(event, dict)]

    def order_key(self, event: Mapping[str, Any]) -> str:
        source = event.get("source") or {}
        return self.sender_for(source.get("userId") or source.get("groupId") or source.get("roomId") or "-")

    def dedup_key(self, event: Mapping[str, Any]) -> Optional[str]:
        event_id = event.get("webhookEventId")
        return f"line:{event_id}" if event_id else None

    def describe(self, event: Mapping[str, Any]) -> str:
        return f"{event.get('type') or ''} event (redelivery={_is_redelivery(event)})"

    def event_time(self, event: Mapping[str, Any]) -> Optional[float]:
        """The event's ``timestamp`` (milliseconds since the epoch, set by LINE and covered by the
        signature), in seconds."""
        stamp = event.get("timestamp")
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            return None
        return stamp / 1000.0

    # -- events ------------------------------------------------------------------------------------
    async def handle_event(
        self,
        event: Mapping[str, Any],
        on_new_message: OnNewMessage,
        received: Optional[float] = None,
    ) -> None:
        """Handle one webhook event (already signature-checked and deduplicated)."""
        etype = str(event.get("type") or "")
        event_id = event.get("webhookEventId")
        redelivery = _is_redelivery(event)
        if event.get("mode") == "standby":
            logger.info("line: %s event in standby mode ignored", etype)
            return
        source = event.get("source") or {}
        stype = source.get("type")
        ctx = ReplyContext(
            reply_token=event.get("replyToken"),
            event_ms=event.get("timestamp") if isinstance(event.get("timestamp"), int) else None,
            event_id=event_id,
            push_to=source.get("userId") if stype == "user" else None,
            received=received or clock.wall_timestamp(),
        )
        if stype in ("group", "room"):
            # Nothing about group members is stored or sent to Rasa; one line says why.
            if etype in ("message", "postback", "join"):
                logger.info("line: %s event in a %s answered with the 1:1 note", etype, stype)
                await self.say(ctx, "group_only")
            return
        user_id = source.get("userId")
        if stype != "user" or not user_id:
            logger.info("line: %s event without a user source ignored", etype)
            return
        sender_id = self.sender_for(user_id)
        logger.info("line: %s event from %s (redelivery=%s)", etype, short_id(sender_id), redelivery)
        metadata = {"channel": CHANNEL, "event": etype, "redelivery": redelivery}

        if etype == "unfollow":
            # The event has no reply token, and a blocked user cannot receive an answer.
            await self.unfollow(on_new_message, sender_id, metadata, event_id)
            return

        await self.remember(user_id)
        if etype == "follow":
            await self.turn(on_new_message, "/greet", sender_id, ctx, metadata, event_id)
        elif etype == "message":
            message = event.get("message") or {}
            mtype = message.get("type")
            metadata["message_type"] = mtype
            if mtype == "text" and isinstance(message.get("text"), str):
                text = common.neutralize_user_text(message["text"])
                await self.turn(on_new_message, text, sender_id, ctx, metadata, event_id)
            elif mtype in _NON_TEXT:
                await self.say(ctx, "non_text")
            else:
                logger.info("line: message of type %s ignored", mtype)
        elif etype == "postback":
            payload = self.button_payload((event.get("postback") or {}).get("data"), sender_id)
            if payload is None:
                await self.say(ctx, "unknown_postback")
            else:
                await self.turn(on_new_message, payload, sender_id, ctx, metadata, event_id)
        else:
            logger.info("line: %s event ignored", etype)

    async def say(self, ctx: ReplyContext, key: str) -> None:
        """Answer with one of the connector's own texts (``channels/texts.yml``), without Rasa."""
        await self.deliver(ctx, [{"type": "text", "text": self.texts[key]}])

    # -- turns -------------------------------------------------------------------------------------
    def turn_output(self, target: ReplyContext) -> LineOutput:
        return LineOutput(self.api)

    async def answer(
        self, target: ReplyContext, sender_id: str, messages: List[Dict[str, Any]], started: float
    ) -> None:
        """Render the turn and send it in one reply (see :meth:`deliver`)."""
        objects = render_turn(messages, self.texts)
        logger.info(
            "line: turn of %s took %.2fs, %d message object(s)",
            short_id(sender_id),
            time.monotonic() - started,
            len(objects),
        )
        await self.deliver(target, objects)

    @property
    def busy_after(self) -> float:
        return self.config.loading_after

    async def show_busy(self, target: ReplyContext) -> None:
        if target.push_to:
            await self.api.start_loading(target.push_to, self.config.loading_seconds)

    async def deliver(self, ctx: ReplyContext, objects: List[Dict[str, Any]]) -> None:
        """Reply with the first ≤5 objects while the token is fresh, else push; push the rest."""
        if not objects:
            return
        batches = [objects[i : i + LINE_MAX_MESSAGES] for i in range(0, len(objects), LINE_MAX_MESSAGES)]
        start = 0
        if ctx.token_fresh(self.config.reply_token_ttl):
            try:
                await self.api.reply(str(ctx.reply_token), batches[0])
                start = 1
            except InvalidReplyToken as exc:
                if exc.maybe_used:
                    logger.info("line: reply token used by an earlier timed-out attempt; not pushing")
                    start = 1
                else:
                    logger.info("line: reply token rejected; pushing instead")
            except Exception as exc:
                common.record_failure(CHANNEL, "reply", type(exc).__name__)
                return
        elif ctx.reply_token:
            logger.info("line: reply token too old; pushing instead")
        if start >= len(batches):
            return
        if not ctx.push_to:  # groups/rooms: we never push there
            logger.info("line: reply not possible and nobody to push to; dropped")
            return
        for i in range(start, len(batches)):
            try:
                await self.api.push(ctx.push_to, batches[i], retry_key_for(ctx.event_id, i))
            except Exception as exc:
                common.record_failure(CHANNEL, "push", type(exc).__name__)
                return


def _is_redelivery(event: Mapping[str, Any]) -> bool:
    return bool((event.get("deliveryContext") or {}).get("isRedelivery"))
