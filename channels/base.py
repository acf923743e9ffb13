"""The webhook connector that ``channels.line.LineInput`` and ``channels.telegram.TelegramInput``
are built on.

As in Rasa's own ``rasa/core/channels/*.py``, each platform is one InputChannel/OutputChannel
pair in its own module; :class:`WebhookInputChannel` holds what both input channels do the same
way, and a platform fills in the hooks (``authenticate``, ``parse``, ``handle_event``…):

* the blueprint: ``GET /`` (health) and ``POST /webhook``, and draining the work at shutdown;
* the webhook checks, in one order for every channel: configured (else 503) → body size (413) →
  content type (415) → the platform's authentication (401; :meth:`authenticate`) → JSON (400) →
  the platform's parsing (400; :meth:`parse`) → each event queued → 200 at once;
* the per-sender queue: one person's events are handled in order, in the background, under the
  process-wide turn cap (``channels.common.SenderQueue``);
* dedup: each event is claimed once before it is handled, so a redelivery gives no second turn;
  claims older than :data:`DEDUP_TTL` are purged hourly, and an event the platform stamped
  longer ago than that (:meth:`event_time`) is dropped unhandled (a replay dedup forgot);
* the call into Rasa, and the turn that always answers: a turn that produced nothing (Rasa error,
  action server down) still sends the fallback text with the 24-hour lines.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Dict, Generic, List, Optional, Text, Tuple, Type, TypeVar, cast

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import clock
from bot.domain import postback
from bot.security.pseudonym import pseudonymize
from bot.store.channel_state import claim_event, forget_identity, purge_processed, remember_identity
from channels import common
from channels.common import MAX_WEBHOOK_BODY, NullOutput, RetryPolicy, SenderQueue, TurnBuffer, short_id

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

DEDUP_TTL = timedelta(hours=24)
PURGE_EVERY = 3600.0  # seconds between purges of old dedup keys


@dataclass(frozen=True)
class WebhookConfig:
    """The settings every webhook channel has; a channel's subclass adds its credentials.

    Attributes:
        api_base_url (:obj:`str`): the platform API's base URL (a fake server in tests).
        timeout (:obj:`float`): per-request timeout in seconds.
        retry (:class:`channels.common.RetryPolicy`): backoff for 429/5xx/timeouts.
    """

    api_base_url: str = ""
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_credentials(cls, credentials: Optional[Mapping[str, Any]]) -> "WebhookConfig":
        """Read credentials.yml, falling back to the environment; never raises for a missing setting."""
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        """Every setting the channel needs is there (else its webhook answers 503)."""
        raise NotImplementedError

    def off_reason(self) -> Tuple[int, str]:
        """The log level and line that say why the channel is off."""
        raise NotImplementedError


ConfigT = TypeVar("ConfigT", bound=WebhookConfig)
EventT = TypeVar("EventT")
TargetT = TypeVar("TargetT")


class WebhookError(Exception):
    """A webhook request refused with ``status``; the response body is ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        raise WebhookError(400, "body is not valid JSON") from None


class WebhookInputChannel(InputChannel, Generic[ConfigT, EventT, TargetT]):
    """An input channel fed by a platform's webhook (``/webhooks/<name>/webhook``).

    ``ConfigT`` is the channel's settings; ``EventT`` is what one webhook request carries one or
    more of (a LINE event, a Telegram update); ``TargetT`` is where a turn's answer goes (a LINE
    reply context, a Telegram chat id).
    """

    #: Rasa's ``input_channel``, the webhook path, the pseudonym namespace, the log prefix.
    channel: ClassVar[str]
    #: The platform's name in responses ("the LINE channel is not configured").
    title: ClassVar[str]
    #: The settings class, read by :meth:`from_credentials`.
    config_class: ClassVar[Type[WebhookConfig]]

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """Build from credentials.yml; empty values fall back to the environment. Never raises
        for missing settings: the channel is then simply off (webhook 503, no output channel)."""
        config = cls.config_class.from_credentials(credentials)
        if not config.enabled:
            logging.getLogger(cls.__module__).log(*config.off_reason())
        return cls(cast(ConfigT, config))

    def __init__(self, config: ConfigT, texts: Optional[Mapping[str, Any]] = None) -> None:
        self.config = config
        self.texts = texts or common.load_texts()
        self.queue = SenderQueue()
        self.log = logging.getLogger(type(self).__module__)
        self._last_purge: Optional[float] = None

    @classmethod
    def name(cls) -> Text:
        return cls.channel

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    # -- hooks a platform fills in -------------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check that the request comes from the platform; raise :class:`WebhookError` if not."""
        raise NotImplementedError

    def parse(self, document: Any) -> Optional[Sequence[EventT]]:
        """The events in an authenticated JSON body (:class:`WebhookError` if malformed), or None
        to accept the request without doing anything (answered ``{"status": "ignored"}``)."""
        raise NotImplementedError

    def order_key(self, event: EventT) -> str:
        """Events with the same key are handled one at a time, in order (one per person)."""
        raise NotImplementedError

    def dedup_key(self, event: EventT) -> Optional[str]:
        """The key an event is claimed under (None: not deduplicated)."""
        raise NotImplementedError

    def describe(self, event: EventT) -> str:
        """A log-safe description of an event (kind, never content or ids)."""
        raise NotImplementedError

    def event_time(self, event: EventT) -> Optional[float]:
        """When the platform says the event happened (Unix seconds), for the freshness check of
        :meth:`_process`; None when the platform stamps no time (then only dedup applies)."""
        return None

    async def handle_event(self, event: EventT, on_new_message: OnNewMessage, received: Optional[float] = None) -> None:
        """Handle one authenticated, not yet seen event (``received``: when its request came)."""
        raise NotImplementedError

    def turn_output(self, target: TargetT) -> TurnBuffer:
        """The output channel that collects a turn's bot messages."""
        raise NotImplementedError

    async def answer(self, target: TargetT, sender_id: str, messages: List[Dict[str, Any]], started: float) -> None:
        """Send a turn's bot messages (never empty) to ``target``; ``started``: ``time.monotonic()``
        when the turn began."""
        raise NotImplementedError

    @property
    def busy_after(self) -> float:
        """Seconds after which a turn still running shows :meth:`show_busy`."""
        raise NotImplementedError

    async def show_busy(self, target: TargetT) -> None:
        """Show that an answer is coming (LINE's loading animation, Telegram's "typing…")."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the platform client at shutdown."""

    # -- HTTP -----------------------------------------------------------------------------------------
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint(f"madoguchi_{self.channel}", type(self).__module__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "disabled"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self._webhook(request, on_new_message)

        @bp.listener("after_server_stop")
        async def stop(*_: Any) -> None:
            await self.queue.drain()
            await self.close()

        return bp

    async def _webhook(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        if not self.enabled:
            return _error(503, f"the {self.title} channel is not configured")
        body: bytes = request.body or b""
        if len(body) > MAX_WEBHOOK_BODY:
            return _error(413, "request body too large")
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "expected application/json")
        try:
            self.authenticate(request.headers, body)
            events = self.parse(_json(body))
        except WebhookError as exc:
            return _error(exc.status, exc.message)
        if events is None:
            return response.json({"status": "ignored"})
        received = clock.wall_timestamp()
        for event in events:
            self.queue.submit(self.order_key(event), functools.partial(self._process, event, on_new_message, received))
        self._maybe_purge()
        return response.json({"status": "ok"})

    async def _process(self, event: EventT, on_new_message: OnNewMessage, received: float) -> None:
        happened = self.event_time(event)
        if happened is not None and received - happened > DEDUP_TTL.total_seconds():
            # Its claim may already be purged, so dedup would take a replay of it for new: an
            # authentic but stale event (a captured request sent again) is dropped instead. Safe
            # for any event dedup still remembers: its claim came at or after its own time.
            self.log.warning(
                "%s: %s older than the dedup window (%.0f h) dropped",
                self.channel,
                self.describe(event),
                (received - happened) / 3600,
            )
            return
        key = self.dedup_key(event)
        if key is not None and not await asyncio.to_thread(claim_event, key):
            self.log.info("%s: duplicate %s dropped", self.channel, self.describe(event))
            return
        await self.handle_event(event, on_new_message, received)

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now

        async def purge() -> None:
            removed = await asyncio.to_thread(purge_processed, DEDUP_TTL)
            if removed:
                self.log.info("%s: purged %d old dedup keys", self.channel, removed)

        self.queue.submit("__purge__", purge)

    async def drain(self) -> None:
        """Wait for background work (tests, shutdown)."""
        await self.queue.drain()

    # -- buttons --------------------------------------------------------------------------------------
    def button_payload(self, data: Any, sender_id: str) -> Optional[str]:
        """The Rasa payload of a button press (LINE ``postback.data``, Telegram ``callback_data``),
        or None when it is not one of the bot's own buttons: undecodable (another app's data, a
        retired menu), or decodable but never offered by the bot (``i=staff_reply&…``, an entity no
        button sets). Anyone can forge a press (a Telegram client sends any callback data), so only
        what ``channels.common.bot_button`` knows may reach Rasa as an intent; the caller answers
        the rest with the gentle ``unknown_postback`` text."""
        payload = postback.decode(data) if isinstance(data, str) and data else None
        if payload is None:
            self.log.info("%s: undecodable button data from %s", self.channel, short_id(sender_id))
            return None
        if not common.bot_button(payload):
            self.log.warning("%s: a button the bot never offers, from %s, refused", self.channel, short_id(sender_id))
            return None
        return payload

    # -- people and turns -----------------------------------------------------------------------------
    def sender_for(self, platform_id: Any) -> str:
        """The pseudonymous sender id Rasa sees for a platform user id."""
        return pseudonymize(self.channel, str(platform_id))

    async def remember(self, platform_id: Any) -> str:
        """Store the (encrypted) platform id for pushes; returns the sender id."""
        sender_id = self.sender_for(platform_id)
        await asyncio.to_thread(remember_identity, sender_id, self.channel, str(platform_id))
        return sender_id

    async def unfollow(
        self, on_new_message: OnNewMessage, sender_id: str, metadata: Dict[str, Any], message_id: Optional[str]
    ) -> None:
        """The person left (LINE unfollow, Telegram block): their platform id is forgotten and
        intent ``unfollow`` recorded; any answer is swallowed (they can no longer receive it)."""
        await asyncio.to_thread(forget_identity, sender_id)
        await self._rasa(on_new_message, "/unfollow", NullOutput(), sender_id, metadata, message_id)

    async def _rasa(
        self,
        on_new_message: OnNewMessage,
        text: str,
        output: TurnBuffer,
        sender_id: str,
        metadata: Dict[str, Any],
        message_id: Optional[str],
    ) -> bool:
        try:
            await on_new_message(
                UserMessage(
                    text, output, sender_id, input_channel=self.channel, message_id=message_id, metadata=metadata
                )
            )
            return True
        except Exception as exc:
            self.log.error("%s: Rasa failed on a turn of %s: %s", self.channel, short_id(sender_id), type(exc).__name__)
            self.log.debug("%s: Rasa failure", self.channel, exc_info=True)
            return False

    async def turn(
        self,
        on_new_message: OnNewMessage,
        text: str,
        sender_id: str,
        target: TargetT,
        metadata: Dict[str, Any],
        message_id: Optional[str],
    ) -> None:
        """One Rasa turn: collect the bot's messages, then answer them at once."""
        output = self.turn_output(target)
        busy = asyncio.get_running_loop().create_task(self._busy_later(target))
        started = time.monotonic()
        try:
            await self._rasa(on_new_message, text, output, sender_id, metadata, message_id)
        finally:
            busy.cancel()
        # A turn that produced nothing (Rasa error, action server down) still gets an answer.
        messages = output.messages or [{"text": common.failure_text()}]
        await self.answer(target, sender_id, messages, started)

    async def _busy_later(self, target: TargetT) -> None:
        await asyncio.sleep(self.busy_after)
        try:
            await self.show_busy(target)
        except Exception as exc:  # cosmetic: never fail a turn over it
            self.log.debug("%s: busy indicator failed: %s", self.channel, type(exc).__name__)
