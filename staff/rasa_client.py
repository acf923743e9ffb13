"""Rasa's HTTP API, as the staff app uses it: read a conversation, push a staff reply.

MADOGUCHI_RASA_URL and RASA_API_TOKEN as in `bot.services.rasa_api` (the token is sent as `?token=`,
Rasa's `--auth-token`). Errors are reported as RasaUnavailable / RasaRejected and
never carry the message text.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bot.services.rasa_api import api_url

TIMEOUT = 10.0


class RasaUnavailable(ConnectionError):
    """Rasa did not answer (down, refused, timed out)."""


class RasaRejected(RuntimeError):
    """Rasa answered with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"rasa answered HTTP {status}")
        self.status = status


@dataclass(frozen=True)
class Utterance:
    who: str  # user | bot
    text: str
    at: datetime | None


def _request(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # configured URL
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raise RasaRejected(exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        raise RasaUnavailable(type(exc).__name__) from None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise RasaRejected(200) from None


def _sender_path(sender_id: str) -> str:
    return urllib.parse.quote(sender_id, safe="")


#: How far a `session_started` timestamp may be from the stored one and still be that session
#: (both come from the same float through JSON and the database; sessions are a day apart).
SESSION_TOLERANCE_S = 0.001


def _timestamp(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def conversation(sender_id: str, session_start: float) -> list[Utterance]:
    """User and bot texts of one session of the sender's tracker, oldest first: the session whose
    `session_started` event has the timestamp `session_start` (0: the events before the first
    one), the session a ticket was booked in (issue 21, M-8). Rasa's API returns every session;
    the others are left out here."""
    tracker = _request("GET", api_url(f"/conversations/{_sender_path(sender_id)}/tracker", include_events="ALL"))
    out: list[Utterance] = []
    current: float | None = 0.0  # before the first session_started
    for event in (tracker or {}).get("events") or ():
        if event.get("event") == "session_started":
            current = _timestamp(event.get("timestamp"))
            continue
        if current is None or abs(current - session_start) > SESSION_TOLERANCE_S:
            continue
        if event.get("event") not in ("user", "bot"):
            continue
        text = event.get("text")
        if not text:
            continue
        ts = event.get("timestamp")
        at = datetime.fromtimestamp(float(ts), timezone.utc) if ts else None
        out.append(Utterance(event["event"], str(text), at))
    return out


def send_staff_reply(sender_id: str, message: str) -> None:
    """Trigger `staff_reply` so action_relay_staff_reply utters it through the user's channel."""
    _request(
        "POST",
        api_url(f"/conversations/{_sender_path(sender_id)}/trigger_intent", output_channel="latest"),
        {"name": "staff_reply", "entities": {"staff_message": message}},
    )
