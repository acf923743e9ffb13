"""REST channel with pseudonymous sender ids, input checks and a reply on every turn.

Same wire format as Rasa's built-in `rest` channel (POST /webhooks/rest/webhook with
{"sender", "message"}), so `rasa shell` and existing clients keep working, but:
  * the sender id is replaced by a keyed hash before it reaches Rasa (like LINE/Telegram);
  * malformed JSON, a wrong content type, missing fields or an oversized body get a clear
    400/413/415 instead of a stack trace;
  * a turn that produced no reply (action server down, Rasa error) still answers the
    person with the unavailable text and the 24-hour lines;
  * message text is never logged;
  * typed ``/intent{…}`` text is neutralised; a button payload passes only when it is one of the
    bot's own buttons, in the form LINE and Telegram accept from a postback
    (``channels.common.button_or_typed``);
  * the client's ``metadata`` is not stored as given (Rasa keeps it in the tracker): only the keys
    of :data:`CLIENT_METADATA`, each a short plain string, pass; the rest is dropped;
  * with MADOGUCHI_REST_TOKEN set, every request needs ``Authorization: Bearer <token>`` (the
    balancer publishes this channel only with MADOGUCHI_REST_PUBLIC=1, which requires the token);
  * clients from other machines are rate-limited per sender and per address
    (MADOGUCHI_REST_RATE_SENDER / MADOGUCHI_REST_RATE_ADDRESS, "per-minute/burst"): 429 with
    Retry-After. This machine (the tests, the bench, an operator's curl) is not limited.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
from asyncio import CancelledError
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import config
from bot.security.netaddr import is_loopback
from bot.security.pseudonym import log_ref, pseudonymize
from bot.security.ratelimit import Rate, RateLimiter, parse_rate
from channels.common import TURN_GATE, button_or_typed, load_texts
from channels.fallback import unavailable_reply

log = logging.getLogger(__name__)
# Rasa's own web clients open a conversation with it; a new session, never an intent with data.
SESSION_START = "/session_start"

MAX_BODY_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 5000
MAX_SENDER_CHARS = 128
MAILBOX_SENDERS = 10_000  # out-of-turn messages are kept for at most this many senders…
MAILBOX_MESSAGES = 20  # …and this many messages each (oldest dropped first)
# A person types a few quick messages at most; a script booking tickets in a loop does not.
SENDER_RATE = Rate(per_minute=20, burst=10)
ADDRESS_RATE = Rate(per_minute=60, burst=30)


#: What a REST client may say about itself in ``metadata`` (short strings of [A-Za-z0-9_.:-]):
#: Rasa stores a message's metadata in the tracker, and nothing in madoguchi reads more.
CLIENT_METADATA = ("client", "locale")
_METADATA_VALUE = re.compile(r"[A-Za-z0-9_.:\-]{1,40}")


def client_metadata(given: Any) -> Dict[str, Any]:
    """The message metadata Rasa gets: ``{"channel": "rest", "event": "message"}`` (as LINE and
    Telegram give theirs) plus the allowed client keys; anything else the client sent is dropped."""
    metadata: Dict[str, Any] = {"channel": "rest", "event": "message"}
    if not isinstance(given, dict):
        return metadata
    kept = {
        key: given[key]
        for key in CLIENT_METADATA
        if isinstance(given.get(key), str) and _METADATA_VALUE.fullmatch(given[key])
    }
    if len(kept) < len(given):
        log.info("rest: %d metadata key(s) outside the allowlist dropped", len(given) - len(kept))
    return {**kept, **metadata}


def client_address(request: Request) -> str:
    """The client's address: the peer's, or, when the peer is this machine's balancer
    (loopback), the ``X-Real-IP`` it sets (deploy/nginx.conf.template). A remote peer cannot
    choose its address with that header."""
    peer = str(request.ip or "")
    if is_loopback(peer):
        forwarded = (request.headers.get("x-real-ip") or "").strip()
        if forwarded:
            return forwarded
    return peer


class Mailbox:
    """Messages for REST users that arrive outside their own turn (Rasa's
    ``output_channel=latest``: a ticket number announced by the outbox, a staff reply).

    REST cannot push, so they wait here (in memory, bounded) and are delivered first in the
    sender's next reply. Before this, they went to a throw-away collector and were lost.
    """

    def __init__(self) -> None:
        self._boxes: "OrderedDict[str, list[Dict[str, Any]]]" = OrderedDict()

    def put(self, recipient_id: str, message: Dict[str, Any]) -> None:
        box = self._boxes.pop(recipient_id, [])
        box = (box + [message])[-MAILBOX_MESSAGES:]
        self._boxes[recipient_id] = box
        while len(self._boxes) > MAILBOX_SENDERS:
            self._boxes.popitem(last=False)

    def take(self, recipient_id: str) -> list[Dict[str, Any]]:
        return self._boxes.pop(recipient_id, [])

    def __len__(self) -> int:
        return len(self._boxes)


class MailboxOutput(CollectingOutputChannel):
    """Collects like Rasa's collector (the HTTP API still returns the messages) and also
    leaves each message in the mailbox for the recipient's next REST turn."""

    def __init__(self, mailbox: Mailbox) -> None:
        super().__init__()
        self.mailbox = mailbox

    async def _persist_message(self, message: Dict[str, Any]) -> None:
        await super()._persist_message(message)
        self.mailbox.put(message["recipient_id"], message)


class PseudonymousRestInput(InputChannel):
    """`channels.rest.PseudonymousRestInput` in credentials.yml; served at /webhooks/rest/."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "PseudonymousRestInput":
        return cls()

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.token = (config.settings().raw("MADOGUCHI_REST_TOKEN") or "").strip()
        self.per_sender = RateLimiter(parse_rate(config.settings().raw("MADOGUCHI_REST_RATE_SENDER"), SENDER_RATE))
        self.per_address = RateLimiter(parse_rate(config.settings().raw("MADOGUCHI_REST_RATE_ADDRESS"), ADDRESS_RATE))

    def get_output_channel(self) -> Optional[OutputChannel]:
        """For messages outside a turn (``output_channel=latest``): kept for the next reply."""
        return MailboxOutput(self.mailbox)

    @staticmethod
    def _error(status: int, key: str) -> HTTPResponse:
        return response.json({"error": key, "message": load_texts()["rest_errors"][key]}, status=status)

    def _authorised(self, request: Request) -> bool:
        if not self.token:
            return True
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    def _limited(self, address: str, sender_id: str) -> Optional[HTTPResponse]:
        """429 when this address or this (pseudonymous) sender has sent too much (never for
        this machine)."""
        if is_loopback(address):
            return None
        wait = max(self.per_address.check(address), self.per_sender.check(sender_id))
        if wait <= 0:
            return None
        log.warning("rest: rate limit reached (sender %s)", log_ref(sender_id))
        resp = self._error(429, "rate_limited")
        resp.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return resp

    def _parse(self, request: Request) -> tuple[Optional[Dict[str, Any]], Optional[HTTPResponse]]:
        if len(request.body or b"") > MAX_BODY_BYTES:
            return None, self._error(413, "too_large")
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype and ctype != "application/json":
            return None, self._error(415, "content_type")
        try:
            body = json.loads(request.body or b"")
        except (ValueError, UnicodeDecodeError):
            return None, self._error(400, "malformed_json")
        if not isinstance(body, dict):
            return None, self._error(400, "malformed_json")
        sender, message = body.get("sender"), body.get("message")
        if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
            return None, self._error(400, "missing_sender")
        if not isinstance(message, str):
            return None, self._error(400, "missing_message")
        return body, None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("pseudonymous_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                return self._error(401, "unauthorised")
            body, error = self._parse(request)
            if error is not None:
                return error
            assert body is not None
            sender_id = pseudonymize("rest", body["sender"])
            limited = self._limited(client_address(request), sender_id)
            if limited is not None:
                return limited
            message = body["message"][:MAX_MESSAGE_CHARS]
            # Rasa's own web clients open a conversation with the bare `/session_start` (no entities):
            # a new session, as after expiry, never an intent with data.
            text = message if message == SESSION_START else button_or_typed(message)
            collector = CollectingOutputChannel()
            try:
                await TURN_GATE.run(
                    lambda: on_new_message(
                        UserMessage(
                            text,
                            collector,
                            sender_id,
                            input_channel=self.name(),
                            metadata=client_metadata(body.get("metadata")),
                        )
                    )
                )
            except CancelledError:
                log.error("rest turn timed out (sender %s)", log_ref(sender_id))
            except Exception:  # answer the person anyway; details stay in debug
                log.error("rest turn failed (sender %s)", log_ref(sender_id), exc_info=log.isEnabledFor(logging.DEBUG))
            messages = collector.messages or [{"recipient_id": sender_id, **m} for m in unavailable_reply()]
            return response.json(self.mailbox.take(sender_id) + messages)

        return webhook
