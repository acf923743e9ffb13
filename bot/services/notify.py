"""Staff notifications through a durable outbox.

`enqueue_new_ticket` writes one row per destination (Telegram group, e-mail, on-call) in the
shared database; `deliver_pending` sends the rows that are due and records the outcome. A row is
claimed with a short lease before sending (so the staff app's worker and the action server's
immediate attempt never send it twice), failures back off exponentially, and no row is ever
deleted. The text carries no personal data: the ticket number, its priority, the wished slot
and a link to the inbox.

The action server calls `notify_new_ticket(ticket)` after a booking: it enqueues and makes one
delivery attempt on a background thread, and never raises.

Settings (environment, declared in bot.config):
  STAFF_TELEGRAM_BOT_TOKEN (else TELEGRAM_BOT_TOKEN), STAFF_TELEGRAM_CHAT_ID, TELEGRAM_API_BASE_URL
  STAFF_SMTP_URL (smtp://user:pass@host:587, smtps://…:465; smtp:// uses STARTTLS when offered,
  and with a user it refuses to log in unless STARTTLS succeeded: the notice then stays pending),
  STAFF_NOTIFY_EMAIL (comma-separated), STAFF_NOTIFY_FROM
  STAFF_ONCALL_TELEGRAM_CHAT_ID (else the directory's service.on_call_contact: a Telegram chat id,
  `telegram:<id>`, or an e-mail address / `mailto:<address>`)
  MADOGUCHI_PUBLIC_URL (the link in the text; default http://127.0.0.1:8000)
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import unquote, urlsplit

from sqlalchemy import or_, select, update

from bot import clock, config
from bot.store.db import session_scope
from bot.store.models import NotificationOutbox

if TYPE_CHECKING:  # pragma: no cover
    from bot.store.tickets import TicketView

log = logging.getLogger(__name__)

#: Where the notices link without MADOGUCHI_PUBLIC_URL (the privacy notice then has no link at all).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
LEASE = timedelta(seconds=60)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
TIMEOUT = 10.0
KIND_NEW_TICKET = "new_ticket"


# --- configuration ------------------------------------------------------------------------------
def _env(name: str) -> str:
    return config.settings().text(name).strip()


def telegram_token() -> str:
    return _env("STAFF_TELEGRAM_BOT_TOKEN") or _env("TELEGRAM_BOT_TOKEN")


def telegram_api_base() -> str:
    return _env("TELEGRAM_API_BASE_URL").rstrip("/")


def public_url() -> str:
    return (_env("MADOGUCHI_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")


def email_recipients() -> list[str]:
    return config.settings().items("STAFF_NOTIFY_EMAIL")


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CHAT_ID = re.compile(r"-?\d{3,20}|@[A-Za-z0-9_]{5,32}")


def oncall_target() -> tuple[str, str] | None:
    """("telegram", chat id) or ("email", address) for urgent tickets out of hours; None if unset."""
    explicit = _env("STAFF_ONCALL_TELEGRAM_CHAT_ID")
    if explicit:
        return "telegram", explicit
    try:
        from bot.domain.directory import get_directory

        contact = (get_directory().service.on_call_contact or "").strip()
    except Exception:  # a broken directory must not stop the group notice
        contact = ""
    if not contact:
        return None
    scheme, _, rest = contact.partition(":")
    if scheme in ("telegram", "tg") and rest:
        return "telegram", rest.strip()
    if scheme == "mailto" and _EMAIL.fullmatch(rest.strip()):
        return "email", rest.strip()
    if _EMAIL.fullmatch(contact):
        return "email", contact
    if _CHAT_ID.fullmatch(contact):
        return "telegram", contact
    log.warning("service.on_call_contact is neither a Telegram chat id nor an e-mail address")
    return None


# --- enqueue ------------------------------------------------------------------------------------
def notice_text(ticket_id: int, priority: str, preferred_label: str | None, urgent_out_of_hours: bool) -> str:
    from bot.domain.labels import t

    lines = []
    head = t("notify.new_ticket", ticket_id=ticket_id, priority=t(f"notify.priority.{priority}"))
    lines.append((t("notify.urgent_out_of_hours") if urgent_out_of_hours else "") + head)
    if preferred_label:
        lines.append(t("notify.preferred", label=preferred_label))
    lines.append(t("notify.link", url=f"{public_url()}/tickets/{ticket_id}"))
    return "\n".join(lines)


def enqueue_new_ticket(
    ticket_id: int, priority: str, preferred_label: str | None, urgent_out_of_hours: bool
) -> list[int]:
    """Write the outbox rows for a new ticket; returns their ids. Raises on database errors."""
    from bot.domain.labels import t

    priority = priority if priority in ("urgent", "normal") else "normal"
    text = notice_text(ticket_id, priority, preferred_label, urgent_out_of_hours)
    payload: dict[str, Any] = {
        "text": text,
        "subject": t("notify.email_subject", ticket_id=ticket_id),
        "ticket_id": ticket_id,
        "priority": priority,
    }
    channels: list[tuple[str, dict[str, Any]]] = []
    if _env("STAFF_TELEGRAM_CHAT_ID") or not (email_recipients() and _env("STAFF_SMTP_URL")):
        # The group chat is the default destination: without any configuration the row waits
        # (visible in the table) until STAFF_TELEGRAM_CHAT_ID is set.
        channels.append(("telegram", payload))
    if email_recipients() and _env("STAFF_SMTP_URL"):
        channels.append(("email", payload))
    if urgent_out_of_hours:
        target = oncall_target()
        if target:
            channels.append((f"oncall_{target[0]}", {**payload, "to": target[1]}))
    ids: list[int] = []
    with session_scope() as s:
        for channel, body in channels:
            row = NotificationOutbox(kind=KIND_NEW_TICKET, channel=channel, payload=body, next_attempt_at=clock.now())
            s.add(row)
            s.flush()
            ids.append(row.id)
    return ids


def notify_new_ticket(ticket: "TicketView") -> None:
    """For the action server, after a booking: enqueue, then one delivery attempt in the
    background. Never raises and never blocks the event loop on the network."""
    try:
        from bot.domain.directory import get_directory
        from bot.domain.display import slot_label
        from bot.domain.schedule import is_business_time

        d = get_directory()
        out_of_hours = not is_business_time(clock.now(), d.service)
        ids = enqueue_new_ticket(
            ticket.id,
            ticket.priority,
            slot_label(ticket.preferred_slot, ticket.preferred_at, d),
            ticket.priority == "urgent" and out_of_hours,
        )
    except Exception as exc:
        log.warning("staff notification not queued: %s", type(exc).__name__)
        return
    if ids:
        threading.Thread(target=_deliver_quietly, args=(ids,), name="notify-once", daemon=True).start()


def _deliver_quietly(ids: Sequence[int]) -> None:
    try:
        deliver_pending(only=ids)
    except Exception as exc:
        log.warning("staff notification attempt failed: %s", type(exc).__name__)


# --- delivery -----------------------------------------------------------------------------------
class NotConfigured(RuntimeError):
    """The destination has no settings yet; the row waits."""


class InsecureSmtp(RuntimeError):
    """The mail server offered no TLS, so the login was not sent; the row is retried later."""


@dataclass(frozen=True)
class Due:
    id: int
    channel: str
    payload: dict[str, Any]
    attempts: int


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 1 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _claim(now: datetime, only: Sequence[int] | None, limit: int) -> list[Due]:
    """Lease due rows: attempts+1 and next_attempt_at = now + LEASE, one UPDATE per row."""
    claimed: list[Due] = []
    with session_scope() as s:
        q = (
            select(NotificationOutbox.id)
            .where(
                NotificationOutbox.sent_at.is_(None),
                or_(NotificationOutbox.next_attempt_at.is_(None), NotificationOutbox.next_attempt_at <= now),
            )
            .order_by(NotificationOutbox.id)
            .limit(limit)
        )
        if only is not None:
            q = q.where(NotificationOutbox.id.in_(list(only)))
        for row_id in s.execute(q).scalars().all():
            result = s.execute(
                update(NotificationOutbox)
                .where(
                    NotificationOutbox.id == row_id,
                    NotificationOutbox.sent_at.is_(None),
                    or_(NotificationOutbox.next_attempt_at.is_(None), NotificationOutbox.next_attempt_at <= now),
                )
                .values(attempts=NotificationOutbox.attempts + 1, next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                row = s.get(NotificationOutbox, row_id)
                s.refresh(row)
                claimed.append(Due(row.id, row.channel, dict(row.payload or {}), row.attempts))
    return claimed


def _finish(due: Due, now: datetime, error: str | None, retry_after: float | None = None) -> None:
    with session_scope() as s:
        row = s.get(NotificationOutbox, due.id)
        if row is None:
            return
        if error is None:
            row.sent_at = now
            row.last_error = None
            row.next_attempt_at = None
        else:
            delay = backoff(due.attempts)
            if retry_after:  # Telegram's 429 says how long to wait
                delay = max(delay, timedelta(seconds=retry_after))
            row.last_error = error[:300]
            row.next_attempt_at = now + delay


def _safe_error(exc: BaseException) -> str:
    """Class and message, with secrets removed; outbox texts hold no personal data to begin with."""
    message = str(exc)
    for secret in (telegram_token(), _smtp_password()):
        if secret:
            message = message.replace(secret, "***")
    message = re.sub(r"/bot[^/\s]+/", "/bot***/", message)
    return f"{type(exc).__name__}: {message}"[:300]


async def _send_telegram(chat_id: str, text: str) -> None:
    from telegram import Bot, LinkPreviewOptions
    from telegram.request import HTTPXRequest

    token = telegram_token()
    if not token or not chat_id:
        raise NotConfigured("telegram not configured")
    httpx_logger = logging.getLogger("httpx")  # its INFO lines contain the bot token
    if httpx_logger.level == logging.NOTSET or httpx_logger.level < logging.WARNING:
        httpx_logger.setLevel(logging.WARNING)
    request = HTTPXRequest(connect_timeout=TIMEOUT, read_timeout=TIMEOUT, write_timeout=TIMEOUT, pool_timeout=TIMEOUT)
    bot = Bot(token, base_url=f"{telegram_api_base()}/bot", request=request)
    try:
        target: int | str = int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else chat_id
        await bot.send_message(chat_id=target, text=text, link_preview_options=LinkPreviewOptions(is_disabled=True))
    finally:
        await request.shutdown()


def _smtp_password() -> str:
    url = _env("STAFF_SMTP_URL")
    return unquote(urlsplit(url).password or "") if url else ""


def _send_email(recipients: Sequence[str], subject: str, text: str) -> None:
    url = _env("STAFF_SMTP_URL")
    if not url or not recipients:
        raise NotConfigured("smtp not configured")
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = _env("STAFF_NOTIFY_FROM") or f"madoguchi@{host}"
    msg["To"] = ", ".join(recipients)
    msg.set_content(text)
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, parts.port or 465, timeout=TIMEOUT, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, parts.port or 25, timeout=TIMEOUT)
    with client:
        client.ehlo()
        encrypted = parts.scheme == "smtps"
        if not encrypted and client.has_extn("starttls"):
            client.starttls(context=ssl.create_default_context())  # raises if it fails: no login
            client.ehlo()
            encrypted = True
        if parts.username:
            if not encrypted:
                # STARTTLS not offered (a relay without TLS, or someone on the path who removed it
                # from the EHLO answer): the password would cross the network in clear.
                log.error(
                    "staff notification: refusing to log in to %s:%s without TLS (STARTTLS not offered); "
                    "the notice stays in the outbox (use smtps:// or a server that offers STARTTLS)",
                    host,
                    parts.port or 25,
                )
                raise InsecureSmtp(f"{host} offered no STARTTLS; not sending the SMTP login in clear")
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(msg)


async def _deliver_one(due: Due) -> None:
    text = str(due.payload.get("text", ""))
    if due.channel == "telegram":
        await _send_telegram(_env("STAFF_TELEGRAM_CHAT_ID"), text)
    elif due.channel == "oncall_telegram":
        await _send_telegram(str(due.payload.get("to", "")), text)
    elif due.channel == "email":
        await asyncio.to_thread(_send_email, email_recipients(), str(due.payload.get("subject", "")), text)
    elif due.channel == "oncall_email":
        await asyncio.to_thread(
            _send_email, [str(due.payload.get("to", ""))], str(due.payload.get("subject", "")), text
        )
    else:
        raise NotConfigured(f"unknown channel {due.channel}")


async def _deliver_all(rows: Sequence[Due]) -> list[tuple[str | None, float | None]]:
    results: list[tuple[str | None, float | None]] = []
    for due in rows:
        try:
            await _deliver_one(due)
            results.append((None, None))
        except Exception as exc:  # every failure is recorded on its row
            retry_after = getattr(exc, "retry_after", None)
            if isinstance(retry_after, timedelta):
                retry_after = retry_after.total_seconds()
            results.append((_safe_error(exc), float(retry_after) if retry_after else None))
    return results


def deliver_pending(now: datetime | None = None, *, only: Sequence[int] | None = None, limit: int = 50) -> int:
    """Send the rows that are due; returns how many were sent. Failed rows back off.

    Synchronous (runs its own event loop): call it from a thread, not from a running loop.
    """
    moment = clock.now() if now is None else clock.as_utc(now)
    rows = _claim(moment, only, limit)
    if not rows:
        return 0
    results = asyncio.run(_deliver_all(rows))
    sent = 0
    for due, (error, retry_after) in zip(rows, results, strict=True):
        _finish(due, moment, error, retry_after)
        if error is None:
            sent += 1
        else:
            log.warning(
                "staff notification %s via %s failed (attempt %d): %s", due.id, due.channel, due.attempts, error
            )
    return sent


def pending_count() -> int:
    with session_scope() as s:
        return len(s.execute(select(NotificationOutbox.id).where(NotificationOutbox.sent_at.is_(None))).all())


class OutboxWorker(threading.Thread):
    """Background delivery for the staff app (`python -m staff`)."""

    def __init__(self, interval: float = 5.0) -> None:
        super().__init__(name="notify-outbox", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                deliver_pending()
            except Exception as exc:  # keep the worker alive
                log.warning("outbox delivery round failed: %s", type(exc).__name__)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
