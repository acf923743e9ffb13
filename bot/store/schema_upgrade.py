"""The data steps of an upgrade, and the re-encryption of sealed columns.

The schema itself — tables, columns, types — is the migrations' (bot.store.schema, Alembic,
bot/store/migrations; issue 19): the baseline also adopts a database an older madoguchi made with
`create_all`, adding the audit log's newer columns and making `callback_tickets.priority` TEXT.
What remains here changes values, and is idempotent: `bot.store.schema.migrate` runs it after the
migrations at every start (`python -m deploy.init_db` in production, before the replicas;
`bot.store.db.get_engine`; `make run`), and the tracker store runs `upgrade_events` on Rasa's table.

Issue 21, M-9: the audit log's older rows join the hash chain and, on PostgreSQL, the trigger
that refuses UPDATE/DELETE is installed (bot/store/audit.py).

Issue 21, M-2 (no plaintext that tells a story):
  * Rasa's `events.intent_name` / `action_name` (`crisis`, `action_crisis_support`) are
    encrypted like `data`; on PostgreSQL they become TEXT (a token is longer than 255). The
    `events` table is Rasa's (its tracker store creates it, in MADOGUCHI_TRACKER_DB_URL), not
    the migrations': its one type change stays here.
  * `callback_tickets.priority` and `.needs`, and the staff notifications' `payload` (its
    text says 緊急 for an urgent ticket), are encrypted.
  * the booking's audit row no longer says `priority=urgent`.
After rewriting rows, the tables are compacted (SQLite VACUUM, PostgreSQL VACUUM FULL) so the
old plaintext does not linger in free pages or dead row versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.security import crypto
from bot.store.sealed import TOKEN_PREFIX, is_token, seal_json, seal_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sealed:
    """Columns of one table that hold Fernet tokens (`json`: inside a JSON column)."""

    table: str
    columns: tuple[str, ...]
    json: bool = False
    #: Columns that were VARCHAR before and must be TEXT on PostgreSQL (Rasa's table only: the
    #: migrations change madoguchi's own columns).
    widen: tuple[str, ...] = ()


EVENTS = (Sealed("events", ("intent_name", "action_name", "data"), widen=("intent_name", "action_name")),)
MADOGUCHI = (
    Sealed("callback_tickets", ("priority",)),  # TEXT since the baseline revision
    Sealed("callback_tickets", ("needs",), json=True),
    Sealed("notification_outbox", ("payload",), json=True),
)
#: The booking's audit detail before issue 21 (`priority=urgent`).
_OLD_CREATE_DETAIL = "priority=%"


def _rotate_text(value: Any) -> Any:
    return crypto.rotate(value) if is_token(value) else seal_text(value)


def _rotate_json(value: Any) -> Any:
    return crypto.rotate(value) if is_token(value) else seal_json(value)


def _table(spec: Sealed) -> sa.Table:
    kind: Any = sa.JSON if spec.json else sa.Text
    return sa.table(spec.table, sa.column("id", sa.Integer), *(sa.column(c, kind) for c in spec.columns))


def _plaintext(spec: Sealed, table: sa.Table) -> Any:
    """Rows with a value that is not a token (in SQL: a token has a known prefix)."""
    prefix = f'"{TOKEN_PREFIX}%' if spec.json else f"{TOKEN_PREFIX}%"
    tests = [sa.and_(table.c[c].isnot(None), sa.not_(sa.cast(table.c[c], sa.Text).like(prefix))) for c in spec.columns]
    return sa.or_(*tests)


def rewrite(engine: Engine, spec: Sealed, *, rotate: bool = False, batch: int = 500) -> int:
    """Encrypt the plaintext values of `spec` (or, with `rotate`, re-encrypt every value with the
    newest key). Returns the number of rows rewritten; 0 when the table does not exist."""
    if not sa.inspect(engine).has_table(spec.table):
        return 0
    table = _table(spec)
    change: Callable[[Any], Any] = (
        (_rotate_json if spec.json else _rotate_text) if rotate else (seal_json if spec.json else seal_text)
    )
    count, last_id = 0, 0
    while True:
        query = sa.select(table).where(table.c.id > last_id).order_by(table.c.id).limit(batch)
        if not rotate:
            query = query.where(_plaintext(spec, table))
        with engine.begin() as conn:
            rows = conn.execute(query).all()
            for row in rows:
                values = {c: change(row._mapping[c]) for c in spec.columns if row._mapping[c] is not None}
                if values:
                    conn.execute(sa.update(table).where(table.c.id == row.id).values(**values))
                    count += 1
        if len(rows) < batch:
            return count
        last_id = rows[-1].id


def _widen(conn: Connection, spec: Sealed) -> bool:
    if conn.dialect.name != "postgresql" or not spec.widen:
        return False
    types = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(spec.table)}
    narrow = [c for c in spec.widen if c in types and not isinstance(types[c], sa.Text)]
    for column in narrow:
        conn.execute(sa.text(f'ALTER TABLE "{spec.table}" ALTER COLUMN "{column}" TYPE TEXT'))
    return bool(narrow)


def _compact(engine: Engine, tables: set[str]) -> None:
    """Rewrite the files so that overwritten plaintext is gone from them."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("VACUUM"))
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        elif engine.dialect.name == "postgresql":
            for name in sorted(tables):
                conn.execute(sa.text(f'VACUUM FULL "{name}"'))


def _scrub_create_details(engine: Engine) -> int:
    if not sa.inspect(engine).has_table("audit_log"):
        return 0
    audit = sa.table(
        "audit_log", sa.column("id", sa.Integer), sa.column("action", sa.String), sa.column("detail", sa.Text)
    )
    old = sa.and_(audit.c.action == "create", audit.c.detail.like(_OLD_CREATE_DETAIL))
    with engine.begin() as conn:
        if conn.execute(sa.select(audit.c.id).where(old).limit(1)).first() is None:
            return 0
        return int(conn.execute(sa.update(audit).where(old).values(detail=None)).rowcount or 0)


def _upgrade(engine: Engine, specs: tuple[Sealed, ...], scrub: bool = False) -> int:
    inspector = sa.inspect(engine)
    present = [s for s in specs if inspector.has_table(s.table)]
    with engine.begin() as conn:
        for spec in present:
            _widen(conn, spec)
    changed = {s.table for s in present if rewrite(engine, s)}
    if scrub and _scrub_create_details(engine):
        changed.add("audit_log")
    if changed:
        _compact(engine, changed)
        log.info("schema upgrade: encrypted plaintext rows in %s", ", ".join(sorted(changed)))
    return len(changed)


def upgrade_events(engine: Engine) -> int:
    """Rasa's events table (the tracker database). Returns the number of tables rewritten."""
    return _upgrade(engine, EVENTS)


def upgrade_madoguchi(engine: Engine) -> int:
    """The tickets database, at the migrations' head. Returns the number of tables rewritten.
    The audit log's older rows then join the hash chain, and (PostgreSQL) the trigger that keeps
    it append-only is installed (bot/store/audit.py, M-9)."""
    from sqlalchemy.orm import Session

    from bot.store import audit

    has_audit = sa.inspect(engine).has_table("audit_log")
    changed = _upgrade(engine, MADOGUCHI, scrub=True)
    if has_audit:
        with Session(engine) as session, session.begin():
            audit.chain_legacy_rows(session)
        audit.install_append_only(engine)
    return changed


def rotate_all(engine: Engine, specs: tuple[Sealed, ...]) -> int:
    """`python -m bot.services.key_rotation rotate`: every sealed value with the newest key. Returns rows."""
    return sum(rewrite(engine, spec, rotate=True) for spec in specs)
