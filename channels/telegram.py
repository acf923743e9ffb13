"""Telegram Bot API connector: ``channels.telegram.TelegramInput`` and ``TelegramOutput``.

Webhook: ``POST /webhooks/telegram/webhook``, served by ``channels.base.WebhookInputChannel`` (the
checks in their order, the per-person queue, dedup, the Rasa call). Telegram sends the secret
given to setWebhook in X-Telegram-Bot-Api-Secret-Token; it is compared in constant time, and a
missing or wrong one is a 401 with nothing processed. Updates are parsed with
``telegram.Update.de_json``, deduplicated on update_id, answered at once and handled in the
background, in order per person.

Settings (credentials.yml keys, else environment): ``bot_token`` (or Rasa's name
``access_token``) / TELEGRAM_BOT_TOKEN,
``secret_token`` / TELEGRAM_SECRET_TOKEN, ``api_base_url`` / TELEGRAM_API_BASE_URL (default
https://api.telegram.org), ``timeout`` / TELEGRAM_HTTP_TIMEOUT (seconds, default 10). The channel
is off (webhook 503, no output channel) unless both the token and the secret are set: a webhook
without a secret would accept forged updates.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Text, Tuple, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.domain import postback
from bot.store.channel_state import platform_id_for
from channels import common
from channels.base import OnNewMessage, WebhookConfig, WebhookError, WebhookInputChannel
from channels.common import (
    TELEGRAM_MAX_CALLBACK_DATA,
    TELEGRAM_MAX_TEXT,
    TurnBuffer,
    Verdict,
    short_id,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_BASE_URL = "https://api.telegram.org"
CHANNEL = "telegram"
#: Update kinds requested from Telegram (setWebhook / getUpdates).
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
#: Bot commands → Rasa payloads.
COMMANDS = {"start": "/greet", "stop": "/stop", "delete": "/delete_data"}
_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class TelegramConfig(WebhookConfig):
    """Connector settings (``api_base_url``, ``timeout`` — connect/read/write — and ``retry``: see
    ``WebhookConfig``).

    Attributes:
        bot_token (:obj:`str`): the token from @BotFather.
        secret_token (:obj:`str`): the webhook secret (1–256 of ``A-Za-z0-9_-``).
        typing_after (:obj:`float`): show "typing…" when a turn takes longer than this.
    """

    api_base_url: str = DEFAULT_API_BASE_URL  # the Bot API
    bot_token: str = ""
    secret_token: str = ""
    typing_after: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.bot_token and self.secret_token and _SECRET_CHARS.fullmatch(self.secret_token))

    def off_reason(self) -> Tuple[int, str]:
        if self.bot_token and self.secret_token:  # a secret Telegram would refuse
            return logging.WARNING, "Telegram channel is off: TELEGRAM_SECRET_TOKEN must be 1-256 of A-Za-z0-9_-"
        return logging.INFO, "Telegram channel is off (TELEGRAM_BOT_TOKEN / TELEGRAM_SECRET_TOKEN empty)"

    @classmethod
    def from_credentials(cls, credentials: Optional[Mapping[str, Any]]) -> "TelegramConfig":
        return cls(
            bot_token=common.setting(credentials, ("bot_token", "access_token"), "TELEGRAM_BOT_TOKEN"),
            secret_token=common.setting(credentials, "secret_token", "TELEGRAM_SECRET_TOKEN"),
            api_base_url=common.setting(
                credentials, "api_base_url", "TELEGRAM_API_BASE_URL", DEFAULT_API_BASE_URL
            ).rstrip("/"),
            timeout=common.float_setting(credentials, "timeout", "TELEGRAM_HTTP_TIMEOUT", 10.0),
        )


# --- API client --------------------------------------------------------------------------------
def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def classify_telegram_error(exc: BaseException) -> Verdict:
    """RetryAfter waits ``retry_after``; network errors and 5xx back off; 4xx stop."""
    if isinstance(exc, RetryAfter):
        return Verdict(True, _seconds(exc.retry_after))
    if isinstance(exc, (BadRequest, Forbidden, InvalidToken)):
        return Verdict(False)
    return Verdict(isinstance(exc, NetworkError))  # includes TimedOut and 5xx


class TelegramApi:
    """A ``telegram.Bot`` on ``TELEGRAM_API_BASE_URL`` with configurable timeouts, plus retries.

    The Bot is used without ``initialize()``, which would call getMe at start-up: sending needs
    only the HTTPX clients, which exist from construction; :meth:`close` shuts them down.
    """

    def __init__(self, config: TelegramConfig, *, poll_timeout: float = 0.0) -> None:
        self.config = config
        # httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
        httpx_logger = logging.getLogger("httpx")
        if httpx_logger.level == logging.NOTSET or httpx_logger.level < logging.WARNING:
            httpx_logger.setLevel(logging.WARNING)
        t = config.timeout
        self._request = HTTPXRequest(connect_timeout=t, read_timeout=t, write_timeout=t, pool_timeout=t)
        # getUpdates long-polls: its read timeout must outlast the poll.
        self._updates_request = HTTPXRequest(
            connect_timeout=t, read_timeout=t + poll_timeout, write_timeout=t, pool_timeout=t
        )
        self.bot = Bot(
            config.bot_token,
            base_url=f"{config.api_base_url}/bot",
            base_file_url=f"{config.api_base_url}/file/bot",
            request=self._request,
            get_updates_request=self._updates_request,
        )

    async def close(self) -> None:
        await asyncio.gather(self._request.shutdown(), self._updates_request.shutdown())

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one Bot API call with the retry policy (the last error propagates)."""
        return await common.with_retries(fn, classify_telegram_error, self.config.retry, what=f"telegram {what}")

    async def send_text(self, chat_id: int, text: str, keyboard: Optional[List[List[Dict[str, str]]]] = None) -> None:
        markup = _markup(keyboard)
        # No parse_mode: directory texts are shown verbatim, nothing to escape.
        await self.call("sendMessage", lambda: self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup))


def _markup(keyboard: Optional[Sequence[Sequence[Mapping[str, Any]]]]) -> Optional[InlineKeyboardMarkup]:
    if not keyboard:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(**button) for button in row] for row in keyboard])


# --- rendering -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outgoing:
    """One Telegram message to send: plain text and an optional inline keyboard
    (rows of ``{"text":…, "callback_data"|"url":…}``)."""

    text: str
    keyboard: Optional[List[List[Dict[str, str]]]] = None


def _callback_button(title: str, payload: str) -> Optional[Dict[str, str]]:
    try:
        data = postback.encode(payload)
    except postback.PostbackError:
        logger.warning("telegram: skipping a button whose payload cannot be a postback key")
        return None
    if len(data.encode("utf-8")) > TELEGRAM_MAX_CALLBACK_DATA:
        logger.warning("telegram: skipping a button whose key exceeds 64 bytes")
        return None
    return {"text": title, "callback_data": data}


def inline_keyboard(buttons: List[Mapping[str, Any]]) -> Optional[List[List[Dict[str, str]]]]:
    """Rasa buttons → inline keyboard rows (one button per row: Japanese titles are long)."""
    rows = []
    for button in buttons:
        title = str(button.get("title") or "").strip()
        payload = str(button.get("payload") or "").strip()
        if not title or not payload.startswith("/"):
            continue
        b = _callback_button(title, payload)
        if b:
            rows.append([b])
    return rows or None


def window_message(window: Mapping[str, Any], cards: Mapping[str, Any]) -> Outgoing:
    """One window as a plain-text message. ``tel:`` is not a valid Telegram button URL, so the
    (verified) number is shown in the text."""
    lines = [str(window["name"])]
    if window.get("what"):
        lines.append(str(window["what"]))
    reasons = [r for r in window.get("reasons") or [] if r]
    if reasons:
        lines += ["", cards["reasons_title"], *(f"・{r}" for r in reasons)]
    details = common.window_detail_lines(window, cards)
    if window.get("phone"):
        details.append(cards["phone_line"].format(phone=window["phone"]))
    if details:
        lines += ["", *details]
    keyboard: List[List[Dict[str, str]]] = []
    if common.is_web_url(window.get("url")):
        keyboard.append([{"text": cards["website"], "url": window["url"]}])
    else:
        b = _callback_button(cards["request_callback"], "/request_callback")
        if b:
            keyboard.append([b])
    if common.is_web_url(window.get("map_url")):
        keyboard.append([{"text": cards["map"], "url": window["map_url"]}])
    return Outgoing("\n".join(lines), keyboard or None)


def ticket_message(ticket: Mapping[str, Any], cards: Mapping[str, Any]) -> Outgoing:
    rows = [f"{label}：{value}" for label, value in common.ticket_lines(ticket, cards)]
    return Outgoing("\n".join([cards["ticket_title"], *rows]))


def render_message(message: Mapping[str, Any], texts: Mapping[str, Any]) -> List[Outgoing]:
    """One Rasa bot message → Telegram messages (texts split at 4096 UTF-16 units; the keyboard
    goes on the last chunk; a windows payload's text is sent once, as an intro; a ticket's text
    is its fallback and is replaced by the confirmation)."""
    cards = texts["cards"]
    custom = message.get("custom")
    windows = common.windows_of(custom)
    ticket = common.ticket_of(custom)
    if ticket is not None and not windows:
        out = [ticket_message(ticket, cards)]  # the text is the ticket's fallback: not sent twice
    else:
        text = str(message.get("text") or "")
        out = [Outgoing(c) for c in common.split_text(text, TELEGRAM_MAX_TEXT, common.utf16_len)]
        out += [window_message(w, cards) for w in windows]
    keyboard = inline_keyboard(list(message.get("buttons") or []))
    if keyboard:
        if out and out[-1].keyboard is None:
            out[-1] = Outgoing(out[-1].text, keyboard)
        else:
            out.append(Outgoing(cards["choose"], keyboard))
    image = message.get("image")
    if isinstance(image, str) and common.is_web_url(image):
        out.append(Outgoing(image))
    return out


# --- output channel ------------------------------------------------------------------------------
class TelegramOutput(TurnBuffer):
    """Output channel for Telegram.

    In a webhook turn it collects the bot's messages (``chat_id`` known) and the connector calls
    :meth:`flush` at the end, so texts superseded by window cards can be left out. Created by
    :meth:`TelegramInput.get_output_channel` (``push=True``) it sends each message at once,
    looking the chat up from the pseudonymous recipient id.
    """

    def __init__(
        self,
        api: TelegramApi,
        chat_id: Optional[int] = None,
        texts: Optional[Mapping[str, Any]] = None,
        *,
        push: bool = False,
    ) -> None:
        super().__init__()
        self.api = api
        self.chat_id = chat_id
        self.texts = texts or common.load_texts()
        self.push = push

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def _chat_for(self, recipient_id: str) -> Optional[int]:
        if self.chat_id is not None:
            return self.chat_id
        target = await asyncio.to_thread(platform_id_for, recipient_id)
        if target is None or target[0] != CHANNEL:
            return None
        return int(target[1])  # private chats: chat id == user id

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        await super().send_response(recipient_id, message)
        if self.push:
            await self.flush(recipient_id)

    async def flush(self, recipient_id: str) -> int:
        """Render and send the collected messages; returns how many Telegram messages went out."""
        messages, self.messages = common.drop_superseded(self.messages, self.texts), []
        outgoing = [o for m in messages for o in render_message(m, self.texts)]
        if not outgoing:
            return 0
        chat_id = await self._chat_for(recipient_id)
        if chat_id is None:
            common.record_failure(CHANNEL, "send", f"no Telegram identity for {short_id(recipient_id)}")
            return 0
        sent = 0
        for m in outgoing:
            try:
                await self.api.send_text(chat_id, m.text, m.keyboard)
                sent += 1
            except TelegramError as exc:
                common.record_failure(CHANNEL, "sendMessage", type(exc).__name__)
                break
        return sent


# --- input channel -------------------------------------------------------------------------------
class TelegramInput(WebhookInputChannel[TelegramConfig, Update, int]):
    """Telegram webhook input channel (``/webhooks/telegram/webhook``)."""

    channel = CHANNEL
    title = "Telegram"
    config_class = TelegramConfig

    def __init__(self, config: TelegramConfig, texts: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(config, texts)
        self.api = TelegramApi(config) if config.enabled else None

    def get_output_channel(self) -> Optional[TelegramOutput]:
        """A push-capable output channel, or None while the channel is off."""
        return TelegramOutput(self.api, texts=self.texts, push=True) if self.api is not None else None

    async def close(self) -> None:
        if self.api is not None:
            await self.api.close()

    # -- webhook -----------------------------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str], body: bytes) -> None:
        """X-Telegram-Bot-Api-Secret-Token must equal the secret (compared in constant time)."""
        given = headers.get("x-telegram-bot-api-secret-token") or ""
        if not hmac.compare_digest(given.encode("utf-8"), self.config.secret_token.encode("utf-8")):
            logger.warning("telegram webhook with a missing or wrong secret token rejected")
            raise WebhookError(401, "invalid secret token")

    def parse(self, document: Any) -> Optional[List[Update]]:
        if not isinstance(document, dict):
            raise WebhookError(400, "body is not an Update object")
        try:
            update = Update.de_json(document, None)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            # Telegram would redeliver a 4xx forever; an update we cannot read is dropped instead.
            logger.warning("telegram: unparseable update dropped (%s)", type(exc).__name__)
            return None
        if update is None:
            raise WebhookError(400, "body is not an Update object")
        return [update]

    def order_key(self, update: Update) -> str:
        user = update.effective_user
        chat = update.effective_chat
        return self.sender_for(user.id if user else (chat.id if chat else 0))

    def dedup_key(self, update: Update) -> str:
        return f"tg:{update.update_id}"

    def describe(self, update: Update) -> str:
        return "update"

    # -- updates -----------------------------------------------------------------------------------
    async def handle_event(
        self, update: Update, on_new_message: OnNewMessage, received: Optional[float] = None
    ) -> None:
        """Handle one parsed update (secret already checked, deduplicated)."""
        if update.callback_query is not None:
            await self._callback(update, on_new_message)
        elif update.message is not None:
            await self._message(update, on_new_message)
        elif update.my_chat_member is not None:
            await self._chat_member(update, on_new_message)
        elif update.edited_message is not None:
            logger.info("telegram: edited_message ignored")
        elif update.channel_post is not None or update.edited_channel_post is not None:
            logger.info("telegram: channel post ignored")
        else:
            logger.info("telegram: update of another kind ignored")

    async def _say(self, chat_id: int, key: str) -> None:
        assert self.api is not None
        try:
            await self.api.send_text(chat_id, self.texts[key])
        except TelegramError as exc:
            common.record_failure(CHANNEL, "sendMessage", type(exc).__name__)

    async def _message(self, update: Update, on_new_message: OnNewMessage) -> None:
        msg = update.message
        assert msg is not None
        if msg.chat.type != "private":
            logger.info("telegram: message in a %s chat answered with the 1:1 note", msg.chat.type)
            await self._say(msg.chat.id, "group_only")
            return
        user = msg.from_user
        if user is None:
            return
        sender_id = await self.remember(user.id)
        metadata: Dict[str, Any] = {"channel": CHANNEL, "event": "message"}
        text = msg.text
        if text is None:
            logger.info("telegram: non-text message from %s", short_id(sender_id))
            await self._say(msg.chat.id, "non_text")
            return
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
            payload = COMMANDS.get(command)
            if payload is None:
                logger.info("telegram: unknown command from %s", short_id(sender_id))
                await self._say(msg.chat.id, "unknown_command")
                return
            metadata["event"] = "command"
            await self.turn(on_new_message, payload, sender_id, msg.chat.id, metadata, _message_id(update))
            return
        # Not a command: typed text, neutralised like LINE's (" /delete_data" is not a payload).
        text = common.neutralize_user_text(text)
        await self.turn(on_new_message, text, sender_id, msg.chat.id, metadata, _message_id(update))

    async def _callback(self, update: Update, on_new_message: OnNewMessage) -> None:
        cq = update.callback_query
        api = self.api
        assert cq is not None and api is not None
        try:  # stop the button's spinner first; failure here must not lose the turn
            await api.call("answerCallbackQuery", lambda: api.bot.answer_callback_query(cq.id))
        except TelegramError as exc:
            logger.info("telegram: answerCallbackQuery failed (%s)", type(exc).__name__)
        chat = cq.message.chat if cq.message is not None else None
        if chat is not None and chat.type != "private":
            await self._say(chat.id, "group_only")
            return
        chat_id = chat.id if chat is not None else cq.from_user.id
        sender_id = await self.remember(cq.from_user.id)
        payload = self.button_payload(cq.data, sender_id)
        if payload is None:
            await self._say(chat_id, "unknown_postback")
            return
        metadata: Dict[str, Any] = {"channel": CHANNEL, "event": "callback_query"}
        await self.turn(on_new_message, payload, sender_id, chat_id, metadata, _message_id(update))

    async def _chat_member(self, update: Update, on_new_message: OnNewMessage) -> None:
        member = update.my_chat_member
        assert member is not None
        if member.chat.type != "private" or member.new_chat_member.status != "kicked":
            return
        # The person blocked the bot: Telegram's "unfollow".
        sender_id = self.sender_for(member.from_user.id)
        logger.info("telegram: %s blocked the bot", short_id(sender_id))
        await self.unfollow(on_new_message, sender_id, {"channel": CHANNEL, "event": "blocked"}, _message_id(update))

    # -- turns -------------------------------------------------------------------------------------
    def turn_output(self, target: int) -> TelegramOutput:
        assert self.api is not None
        return TelegramOutput(self.api, chat_id=target, texts=self.texts)

    async def answer(self, target: int, sender_id: str, messages: List[Dict[str, Any]], started: float) -> None:
        """Send the turn's messages in order (texts superseded by window cards left out)."""
        output = self.turn_output(target)
        output.messages = messages
        await output.flush(sender_id)

    @property
    def busy_after(self) -> float:
        return self.config.typing_after

    async def show_busy(self, target: int) -> None:
        assert self.api is not None
        await self.api.bot.send_chat_action(chat_id=target, action="typing")


def _message_id(update: Update) -> str:
    """The message id Rasa stores for a turn started by ``update``."""
    return f"tg-{update.update_id}"
