"""Durable ticket outbox: nothing a person asked for is lost when the database is down (issue #7).

When `bot.store.tickets.book_callback` fails (SQLite locked, PostgreSQL down, disk trouble), the action
server calls :func:`spool` with the draft. The draft is written, encrypted with `bot.security.crypto`
(the whole record: phone, nickname, situation and the rest), to a small SQLite file of its own
under ``$MADOGUCHI_VAR_DIR/outbox/`` (mode 0600, ``synchronous=FULL``: fsync'd on commit) that
does not depend on the ticket database. The person is told the truth: the ticket is *being*
saved (``utter_ticket_stored_later``), never 「受け付けました」.

:func:`flush` stores spooled drafts through `book_callback` — first re-recording the consent
that could not be written either — and removes each one only once it is stored. The draft's
idempotency key makes a retry after a crash (stored, but not yet removed from the spool) return
the stored ticket instead of a second one. Failures stay in the spool with exponential backoff.

Each ticket stored this way leaves an *announcement*: the worker asks Rasa to run
``action_book_callback`` for that conversation (``POST /conversations/<id>/execute``,
``output_channel=latest``); the action sees that it was not reached through the callback form
and says 「受け付けました。受付番号は #N です」 through the person's channel — a LINE/Telegram
push, or the REST mailbox that is delivered with the person's next message. The action marks
the announcement done (:func:`mark_announced`); until then the worker retries.

The retry runs on a daemon thread in the action server (:func:`ensure_worker`, started by
``ActionBookCallback``): every ``MADOGUCHI_OUTBOX_INTERVAL`` seconds (default 5) when there is
work, and at once when :func:`kick` is called (on every booking attempt). It never touches the
event loop, so a locked database cannot stall other conversations.

Settings (environment, declared in bot.config): MADOGUCHI_VAR_DIR, MADOGUCHI_OUTBOX_INTERVAL,
MADOGUCHI_OUTBOX_MAX_BACKOFF (seconds, default 60), and Rasa's API as ``bot.services.rasa_api`` reaches it (MADOGUCHI_RASA_URL, RASA_API_TOKEN).
``python -m bot.services.outbox`` prints what is waiting; ``python -m bot.services.outbox flush`` stores it now.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from bot import clock, config
from bot.security import crypto
from bot.security.keys import var_dir
from bot.security.pseudonym import log_ref

if TYPE_CHECKING:  # pragma: no cover
    from bot.store.tickets import TicketDraft, TicketView

log = logging.getLogger(__name__)

__all__ = [
    "spool",
    "flush",
    "pending",
    "pending_count",
    "announcements_for",
    "mark_announced",
    "announce_pending",
    "discard",
    "kick",
    "ensure_worker",
    "stop_worker",
    "after_stored",
    "draft_to_dict",
    "draft_from_dict",
    "spool_path",
    "Announcement",
    "rotate_spool",
]

FILENAME = "tickets.sqlite3"
ANNOUNCE_ACTION = "action_book_callback"
#: An announcement nobody could deliver (Rasa gone for good, conversation erased) is given up
#: after this long; the ticket itself is stored and staff call back regardless.
ANNOUNCE_GIVE_UP = 24 * 3600.0
HTTP_TIMEOUT = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    key TEXT PRIMARY KEY,            -- TicketDraft.idempotency_key
    sender_id TEXT NOT NULL,         -- pseudonymous
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    payload_enc TEXT NOT NULL        -- Fernet(JSON of the whole draft)
);
CREATE TABLE IF NOT EXISTS announcements (
    key TEXT PRIMARY KEY,
    sender_id TEXT NOT NULL,
    ticket_id INTEGER NOT NULL,
    stored_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    announced_at REAL
);
CREATE INDEX IF NOT EXISTS announcements_sender ON announcements (sender_id);
"""


# --- storage ------------------------------------------------------------------------------------
def spool_path() -> Path:
    return var_dir() / "outbox" / FILENAME


def _interval() -> float:
    return _seconds("MADOGUCHI_OUTBOX_INTERVAL")


def _max_backoff() -> float:
    return _seconds("MADOGUCHI_OUTBOX_MAX_BACKOFF")


def _seconds(name: str) -> float:
    """At least 0.05 s; a value that is not a number gives the default (the worker must run)."""
    try:
        return max(0.05, config.settings().number(name))
    except config.ConfigError:
        return config.settings({}).number(name)


def backoff(attempts: int) -> float:
    """1, 2, 4, 8 … seconds after the n-th failure, capped (MADOGUCHI_OUTBOX_MAX_BACKOFF)."""
    return min(_max_backoff(), float(2 ** max(attempts - 1, 0)))


@contextmanager
def _db(create: bool = True) -> Iterator[sqlite3.Connection | None]:
    """A connection to the spool file (None when it does not exist and ``create`` is False)."""
    path = spool_path()
    if not path.exists():
        if not create:
            yield None
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")  # commit = fsync: a spooled ticket survives a crash
        con.executescript(_SCHEMA)
        yield con
    finally:
        con.close()


@contextmanager
def _tx(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# --- drafts <-> JSON ------------------------------------------------------------------------------
def draft_to_dict(draft: "TicketDraft") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(draft):
        value = getattr(draft, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, (tuple, list)):
            value = list(value)
        out[f.name] = value
    return out


def draft_from_dict(data: dict[str, Any]) -> "TicketDraft":
    from bot.store.tickets import TicketDraft

    known = {f.name for f in fields(TicketDraft)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue  # written by a newer version: ignore rather than lose the draft
        if name in ("consent_at", "preferred_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif name in ("needs", "windows") and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return TicketDraft(**values)


# --- spooling -------------------------------------------------------------------------------------
def spool(draft: "TicketDraft") -> None:
    """Write the draft durably (encrypted). Idempotent: the same draft twice is one entry.

    Raises OSError / sqlite3.Error if even the local spool cannot be written.
    """
    payload = crypto.encrypt(json.dumps(draft_to_dict(draft), ensure_ascii=False))
    now = clock.timestamp()
    with _db() as con:
        assert con is not None
        with _tx(con):
            con.execute(
                "INSERT OR IGNORE INTO spool (key, sender_id, created_at, attempts, next_attempt_at, payload_enc)"
                " VALUES (?, ?, ?, 0, ?, ?)",
                (draft.idempotency_key, draft.sender_id, now, now + backoff(1), payload),
            )
    log.warning("ticket database unavailable: draft spooled to the outbox (sender %s)", log_ref(draft.sender_id))


@dataclass(frozen=True)
class Spooled:
    key: str
    sender_id: str
    created_at: float
    attempts: int
    next_attempt_at: float
    last_error: str | None


def pending(sender_id: str | None = None) -> list[Spooled]:
    """Drafts waiting in the spool (oldest first), optionally of one sender."""
    with _db(create=False) as con:
        if con is None:
            return []
        q = "SELECT key, sender_id, created_at, attempts, next_attempt_at, last_error FROM spool"
        args: tuple = ()
        if sender_id is not None:
            q += " WHERE sender_id = ?"
            args = (sender_id,)
        return [Spooled(*row) for row in con.execute(q + " ORDER BY created_at", args)]


def pending_count() -> int:
    return len(pending())


def discard(sender_id: str) -> int:
    """Drop a sender's spooled drafts and announcements (data erasure). Returns drafts dropped."""
    with _db(create=False) as con:
        if con is None:
            return 0
        with _tx(con):
            n = con.execute("DELETE FROM spool WHERE sender_id = ?", (sender_id,)).rowcount
            con.execute("DELETE FROM announcements WHERE sender_id = ?", (sender_id,))
        return int(n or 0)


def rotate_spool(rotate: Callable[[str], str | None]) -> int:
    """Re-encrypt every spooled draft with `rotate` (bot.security.crypto rotation). Returns drafts rewritten."""
    with _db(create=False) as con:
        if con is None:
            return 0
        with _tx(con):
            rows = con.execute("SELECT key, payload_enc FROM spool").fetchall()
            for key, payload in rows:
                con.execute("UPDATE spool SET payload_enc = ? WHERE key = ?", (rotate(payload), key))
        return len(rows)


def _short_error(exc: BaseException) -> str:
    """Exception class and the driver's first line; never SQL parameters (they hold ciphertext
    and ids) and never the draft."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(exc).__name__}: {first}"[:200]


def _is_unavailable(exc: BaseException) -> bool:
    """The database (not the draft) is the problem: stop this round, try again later."""
    from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PermissionError):  # bot.store.tickets.ConsentRequired: about the draft, not the database
        return False
    if isinstance(exc, (OperationalError, PoolTimeout, OSError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, SQLAlchemyError) and not isinstance(exc, DBAPIError)


def _ensure_consent(draft: "TicketDraft", spooled_at: datetime | None = None) -> None:
    """The consent the person gave before the database failed was most likely not written
    either: record it (once) with the time and notice version they agreed to. Never for a sender
    erased since `spooled_at` (SenderErased, checked under the sender's lock like the booking)."""
    from bot.store.db import session_scope
    from bot.store.models import ConsentRecord
    from bot.store.tickets import SenderErased, erased_since, has_consent, lock_sender

    with session_scope() as session:
        if spooled_at is not None:
            lock_sender(session, draft.sender_id)
            if erased_since(session, draft.sender_id, spooled_at):
                raise SenderErased("the sender was erased after this booking was spooled")
        if has_consent(session, draft.sender_id):
            return
        for scope, agreed in (("callback_summary", True), ("share_conversation", bool(draft.share_conversation))):
            session.add(
                ConsentRecord(
                    sender_id=draft.sender_id,
                    scope=scope,
                    agreed=agreed,
                    notice_version=draft.consent_version,
                    created_at=draft.consent_at,
                )
            )


_flush_lock = threading.Lock()


def flush(max_items: int = 50, *, force: bool = False) -> int:
    """Store spooled drafts (due ones, or all with ``force``); returns how many were stored.

    A stored draft leaves the spool and leaves an announcement for its sender; a failure stays
    with its attempt count and the next try time. The first sign that the database is still
    unavailable ends the round.
    """
    from bot.store.tickets import SenderErased, book_callback

    with _flush_lock:
        with _db(create=False) as con:
            if con is None:
                return 0
            now = clock.timestamp()
            q = "SELECT key, sender_id, attempts, payload_enc, created_at FROM spool"
            if not force:
                q += " WHERE next_attempt_at <= ?"
            rows = con.execute(
                q + " ORDER BY created_at LIMIT ?", ((max_items,) if force else (now, max_items))
            ).fetchall()
            stored = 0
            for key, sender_id, attempts, payload_enc, spooled in rows:
                spooled_at = clock.from_timestamp(spooled)
                try:
                    raw = crypto.decrypt(payload_enc)  # DecryptionError: kept, with its reason
                    if raw is None:  # payload_enc is NOT NULL; kept with its reason like any failure
                        raise TypeError("spool row without a payload")
                    draft = draft_from_dict(json.loads(raw))
                    _ensure_consent(draft, spooled_at)
                    ticket, created = book_callback(draft, spooled_at=spooled_at)
                except SenderErased:
                    # Erased after it was spooled (on this or another instance, or while this round
                    # read it): never stored, and dropped with its announcement.
                    with _tx(con):
                        con.execute("DELETE FROM spool WHERE key = ?", (key,))
                        con.execute("DELETE FROM announcements WHERE key = ?", (key,))
                    log.warning("outbox: a spooled draft of a sender erased since was dropped")
                    continue
                except Exception as exc:  # every failure is kept with its reason
                    n = attempts + 1
                    with _tx(con):
                        con.execute(
                            "UPDATE spool SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE key = ?",
                            (n, clock.timestamp() + backoff(n), _short_error(exc), key),
                        )
                    if _is_unavailable(exc):
                        log.info(
                            "outbox: database still unavailable (%s); %d draft(s) wait",
                            type(exc).__name__,
                            len(rows) - stored,
                        )
                        break
                    log.error("outbox: a spooled draft could not be stored (attempt %d): %s", n, _short_error(exc))
                    continue
                with _tx(con):
                    con.execute("DELETE FROM spool WHERE key = ?", (key,))
                    con.execute(
                        "INSERT OR IGNORE INTO announcements (key, sender_id, ticket_id, stored_at, next_attempt_at)"
                        " VALUES (?, ?, ?, ?, 0)",
                        (key, sender_id, ticket.id, clock.timestamp()),
                    )
                stored += 1
                log.warning("outbox: spooled ticket stored as #%d (created=%s)", ticket.id, created)
                after_stored(ticket, created)
            return stored


def after_stored(ticket: "TicketView", created: bool) -> None:
    """What follows a new ticket, whichever way it was stored: the staff notice (bot.services.notify,
    itself a durable outbox) when that module is present. Never raises."""
    if not created:
        return
    try:
        from bot.services.notify import notify_new_ticket
    except ImportError:  # pragma: no cover — the notifier is optional
        return
    try:
        notify_new_ticket(ticket)
    except Exception as exc:
        log.warning("staff notice not queued: %s", type(exc).__name__)


# --- announcements --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Announcement:
    key: str
    sender_id: str
    ticket_id: int
    stored_at: float
    attempts: int


def announcements_for(sender_id: str) -> list[Announcement]:
    """Tickets of this sender that were stored from the spool and not yet announced."""
    with _db(create=False) as con:
        if con is None:
            return []
        return [
            Announcement(*row)
            for row in con.execute(
                "SELECT key, sender_id, ticket_id, stored_at, attempts FROM announcements"
                " WHERE sender_id = ? AND announced_at IS NULL ORDER BY stored_at",
                (sender_id,),
            )
        ]


def mark_announced(key: str) -> None:
    with _db(create=False) as con:
        if con is None:
            return
        with _tx(con):
            con.execute("UPDATE announcements SET announced_at = ? WHERE key = ?", (clock.timestamp(), key))


def _rasa_execute(sender_id: str) -> None:
    from bot.services.rasa_api import api_url

    url = api_url(f"/conversations/{urllib.parse.quote(sender_id, safe='')}/execute", output_channel="latest")
    body = json.dumps({"name": ANNOUNCE_ACTION, "policy": "outbox"}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:  # configured URL
        resp.read()


def announce_pending(max_items: int = 20) -> int:
    """Ask Rasa to tell each waiting sender their ticket number; returns how many were announced.

    Old announcements are dropped after ANNOUNCE_GIVE_UP (logged); delivered ones are deleted.
    """
    with _db(create=False) as con:
        if con is None:
            return 0
        now = clock.timestamp()
        with _tx(con):
            con.execute("DELETE FROM announcements WHERE announced_at IS NOT NULL")
            gone = con.execute(
                "DELETE FROM announcements WHERE announced_at IS NULL AND stored_at < ?", (now - ANNOUNCE_GIVE_UP,)
            ).rowcount
        if gone:
            log.warning("outbox: gave up announcing %d stored ticket(s) to their senders", gone)
        rows = con.execute(
            "SELECT key, sender_id, attempts FROM announcements WHERE announced_at IS NULL AND next_attempt_at <= ?"
            " ORDER BY stored_at LIMIT ?",
            (now, max_items),
        ).fetchall()
    done = 0
    for key, sender_id, attempts in rows:
        error = None
        try:
            _rasa_execute(sender_id)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'code', '')}"
        # The action marks the announcement when it has said it (the row may also be gone: erased).
        announced = all(a.key != key for a in announcements_for(sender_id))
        with _db() as con:
            assert con is not None
            with _tx(con):
                if announced:
                    con.execute("DELETE FROM announcements WHERE key = ?", (key,))
                else:
                    n = attempts + 1
                    con.execute(
                        "UPDATE announcements SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE key = ?",
                        (n, clock.timestamp() + backoff(n), error or "not announced", key),
                    )
        if announced:
            done += 1
        else:
            log.info("outbox: ticket announcement not delivered yet (%s)", error or "action did not run")
    return done


def _has_work() -> bool:
    path = spool_path()
    if not path.exists():
        return False
    with _db(create=False) as con:
        if con is None:
            return False
        return bool(
            con.execute(
                "SELECT EXISTS(SELECT 1 FROM spool) OR EXISTS(SELECT 1 FROM announcements WHERE announced_at IS NULL)"
            ).fetchone()[0]
        )


# --- background retry -----------------------------------------------------------------------------
class _Worker(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="ticket-outbox", daemon=True)
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.force = False
        self.pid = os.getpid()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.wake.wait(_interval())
            self.wake.clear()
            if self.stopped.is_set():
                break
            force, self.force = self.force, False
            try:
                if not _has_work():
                    continue
                flush(force=force)
                announce_pending()
            except Exception as exc:  # keep retrying; never die silently
                log.warning("outbox round failed: %s", _short_error(exc))


_worker: _Worker | None = None
_worker_lock = threading.Lock()


def ensure_worker() -> None:
    """Start the retry thread in this process if it is not running (also after a fork)."""
    global _worker
    with _worker_lock:
        if _worker is not None and _worker.is_alive() and _worker.pid == os.getpid():
            return
        _worker = _Worker()
        _worker.start()


def kick() -> None:
    """Retry now (every booking attempt calls this): wakes the thread, ignoring backoff."""
    ensure_worker()
    assert _worker is not None
    _worker.force = True
    _worker.wake.set()


def stop_worker(timeout: float = 5.0) -> None:
    global _worker
    with _worker_lock:
        w, _worker = _worker, None
    if w is not None:
        w.stopped.set()
        w.wake.set()
        w.join(timeout)


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.services.outbox [flush]``: show (or store now) what waits in the outbox."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    if args == ["flush"]:
        print(f"stored {flush(force=True)} spooled ticket(s); announced {announce_pending()}")
    elif args:
        print("usage: python -m bot.services.outbox [flush]", file=sys.stderr)
        return 2
    waiting = pending()
    print(f"{spool_path()}: {len(waiting)} draft(s) waiting")
    for s in waiting:
        print(
            f"  since {clock.from_timestamp(s.created_at).astimezone(clock.JST):%Y-%m-%d %H:%M:%S}  attempts {s.attempts}  "
            f"{s.last_error or ''}"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
