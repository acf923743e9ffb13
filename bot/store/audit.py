"""The audit log: append-only, hash-chained (issue 21, M-9).

Every row stores `row_hash = sha256(prev_hash + canonical row)`, where `prev_hash` is the row
hash of the row before it (GENESIS for the first). Changing, inserting or deleting a row in the
middle breaks the chain at that row: `python -m bot.store.audit verify` finds it (exit 1). Writers are
serialised while they read the previous hash (PostgreSQL: an advisory lock; SQLite: the write
lock), so concurrent writers never fork the chain. On PostgreSQL a trigger also refuses every
UPDATE, DELETE and TRUNCATE of the table (`install_append_only`, run after the migrations by
bot.store.schema.migrate). Deleting the newest rows leaves a shorter valid chain: `verify` prints the count and the last
hash, to be compared with a copy kept elsewhere.

Who and where: `actor` (a staff username, `bot`, `user`, `purge`, or `cli:<login>` for the
command line), `client` (the address the staff app saw, or `cli`) and `session_ref` (a random
id given at login, in the signed session cookie; never the cookie itself).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from dataclasses import dataclass
from datetime import timezone
from typing import Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot import clock
from bot.store.models import AuditEntry

GENESIS = "0" * 64
_LOCK_KEY = 0x6D61646F  # "mado": the advisory lock of the audit chain


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the client address and the login session, if any."""

    client: Optional[str] = None
    session_ref: Optional[str] = None


#: Set by the staff app for each request (staff.__init__), by the CLI for its commands.
origin: contextvars.ContextVar[Origin] = contextvars.ContextVar("audit_origin", default=Origin())


def canonical(entry: AuditEntry) -> str:
    at = entry.at.astimezone(timezone.utc).isoformat(timespec="microseconds") if entry.at else ""
    return json.dumps(
        [at, entry.actor, entry.action, entry.ticket_id, entry.detail, entry.client, entry.session_ref],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + canonical(entry)).encode("utf-8")).hexdigest()


def _serialize(session: Session) -> None:
    """Hold the chain's lock until this transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    else:  # SQLite: a write statement takes the database's one write lock
        session.execute(sa.text("UPDATE audit_log SET actor = actor WHERE 1 = 0"))


def _last_hash(session: Session) -> str:
    last = session.execute(
        sa.select(AuditEntry.row_hash).where(AuditEntry.row_hash.isnot(None)).order_by(AuditEntry.id.desc()).limit(1)
    ).scalar()
    return last or GENESIS


def record(
    session: Session,
    actor: str,
    action: str,
    ticket_id: Optional[int] = None,
    detail: Optional[str] = None,
    *,
    where: Optional[Origin] = None,
) -> AuditEntry:
    """Append one row to the chain, in `session`'s transaction."""
    here = where or origin.get()
    _serialize(session)
    entry = AuditEntry(
        at=clock.now(),
        actor=actor[:64],
        action=action[:32],
        ticket_id=ticket_id,
        detail=detail,
        client=(here.client or None) and here.client[:64],
        session_ref=here.session_ref,
    )
    entry.prev_hash = _last_hash(session)
    entry.row_hash = chain_hash(entry.prev_hash, entry)
    session.add(entry)
    session.flush()
    return entry


# --- verification -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    rows: int
    last_hash: str
    broken_at: Optional[int] = None  # the id of the first row that does not fit the chain

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_rows(rows: Iterable[AuditEntry]) -> Verdict:
    prev, count = GENESIS, 0
    for entry in rows:
        count += 1
        if entry.prev_hash != prev or entry.row_hash != chain_hash(prev, entry):
            return Verdict(count, prev, entry.id)
        prev = entry.row_hash
    return Verdict(count, prev)


# --- schema -------------------------------------------------------------------------------------
_APPEND_ONLY = (
    """CREATE OR REPLACE FUNCTION madoguchi_audit_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION madoguchi_audit_append_only()""",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION madoguchi_audit_append_only()""",
)


def chain_legacy_rows(session: Session) -> int:
    """Rows written before the chain existed join it, in id order (once, by the upgrade)."""
    _serialize(session)
    rows = (
        session.execute(sa.select(AuditEntry).where(AuditEntry.row_hash.is_(None)).order_by(AuditEntry.id))
        .scalars()
        .all()
    )
    if not rows:
        return 0
    prev = (
        session.execute(
            sa.select(AuditEntry.row_hash)
            .where(AuditEntry.row_hash.isnot(None), AuditEntry.id < rows[0].id)
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).scalar()
        or GENESIS
    )
    for entry in rows:
        entry.prev_hash, entry.row_hash = prev, chain_hash(prev, entry)
        prev = entry.row_hash
    return len(rows)


def install_append_only(engine: Engine) -> bool:
    """PostgreSQL: the trigger that refuses UPDATE/DELETE/TRUNCATE. Returns whether installed now."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.begin() as conn:
        if conn.execute(sa.text("SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_no_truncate'")).first():
            return False
        for statement in _APPEND_ONLY:
            conn.execute(sa.text(statement))
    return True
