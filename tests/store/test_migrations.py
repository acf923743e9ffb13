"""Issue 19: Alembic manages the schema on SQLite and PostgreSQL alike.

The models and the migrations agree (a fresh database, upgraded to head, compared with the models
by Alembic's autogenerate comparison, finds nothing), and the comparison can fail; a database an
older madoguchi made with create_all is adopted (its missing tables and columns added, its old
values encrypted) and versioned; migrating twice changes nothing; two processes starting together
wait for each other; and nothing but the migrations creates tables.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.security import crypto
from bot.store import audit, schema
from bot.store.base import Base
from bot.store.db import make_engine
from bot.store.migrations import __main__ as cli
from bot.store.models import AuditEntry, CallbackTicket
from bot.store.sealed import TOKEN_PREFIX

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql+psycopg2://root@127.0.0.1:5432/test"
AUDIT_COLUMNS = {"client", "session_ref", "prev_hash", "row_hash"}
LAZY_TABLES = {"staff_users", "notification_outbox"}  # made only when first used, before
WHEN = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    crypto.reset_keys()
    yield
    crypto.reset_keys()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path, keys: None) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'madoguchi.db'}"
        return
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", future=True)
    name = f"madoguchi_migrations_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg2://root@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)  # not get_engine: that one migrates on its own
    yield engine
    engine.dispose()


def _compare(engine: Engine, metadata: sa.MetaData) -> list[Any]:
    """Alembic's comparison of the database with `metadata`, as autogenerate makes it."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))


def _kinds(differences: list[Any]) -> set[tuple[str, str]]:
    """(operation, table) of each difference; a column's changes come as a list of tuples."""
    found = set()
    for item in differences:
        for op in item if isinstance(item, list) else [item]:
            kind = op[0]
            if kind in ("add_table", "remove_table"):
                found.add((kind, op[1].name))
            elif kind in ("add_column", "remove_column"):
                found.add((kind, f"{op[2]}.{op[3].name}"))
            elif kind.startswith("modify_"):
                found.add((kind, f"{op[2]}.{op[3]}"))
            else:
                found.add((kind, str(op[1])))
    return found


def _shape(engine: Engine) -> dict[str, Any]:
    """Every table's columns (name, type, nullable) and indexes, as the database reports them."""
    inspector = sa.inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
        )
        for table in inspector.get_table_names()
    }


# --- the models and the migrations agree ----------------------------------------------------------
def test_every_table_is_on_the_one_metadata() -> None:
    from bot.services.notify import NotificationOutbox
    from staff.models import StaffUser

    assert StaffUser.__table__ is Base.metadata.tables["staff_users"]
    assert NotificationOutbox.__table__ is Base.metadata.tables["notification_outbox"]


def test_a_new_database_is_made_by_the_migrations_and_agrees_with_the_models(engine: Engine) -> None:
    assert schema.current(engine) is None
    assert schema.migrate(engine) == schema.EMPTY
    assert schema.current(engine) == schema.head()
    assert set(sa.inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    assert _compare(engine, Base.metadata) == []
    assert schema.diff(engine) == []


def test_the_comparison_fails_when_a_model_differs_from_the_migrations(engine: Engine) -> None:
    schema.migrate(engine)
    changed = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["callback_tickets"].append_column(sa.Column("source", sa.String(16)))
    changed.tables["audit_log"].c.actor.type = sa.String(128)
    sa.Table("ticket_tags", changed, sa.Column("id", sa.Integer, primary_key=True))
    assert _kinds(_compare(engine, changed)) == {
        ("add_column", "callback_tickets.source"),
        ("modify_type", "audit_log.actor"),
        ("add_table", "ticket_tags"),
    }


# --- an older madoguchi's database ------------------------------------------------------------------
def _made_the_old_way(engine: Engine) -> None:
    """The tables as create_all made them before the migrations: the audit log without the
    columns of issue 21 M-9, `priority` a VARCHAR(8) (before M-2), no staff_users nor
    notification_outbox yet; Rasa's `events` in the same database; rows in plaintext."""
    old = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        if table.name not in LAZY_TABLES | {"audit_log"}:
            table.to_metadata(old)
    old.tables["callback_tickets"].c.priority.type = sa.String(8)
    sa.Table(
        "audit_log",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("ticket_id", sa.Integer, index=True),
        sa.Column("detail", sa.Text),
    )
    sa.Table("events", old, sa.Column("id", sa.Integer, primary_key=True), sa.Column("sender_id", sa.String(255)))
    old.create_all(engine)  # a test fixture: the old way, on purpose
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO callback_tickets (idempotency_key, created_at, updated_at, channel, priority, status,"
                " needs, windows, contact_method, consent_version, consent_at, share_conversation)"
                " VALUES ('old', :t, :t, 'line', 'urgent', 'new', :needs, '[]', 'chat', '2026-11', :t, false)"
            ),
            {"t": WHEN, "needs": json.dumps(["ibasho"])},
        )
        conn.execute(
            sa.text(
                "INSERT INTO ticket_notes (ticket_id, created_at, author, kind, body_enc) VALUES (1, :t, 'sato', 'note', 'x')"
            ),
            {"t": WHEN},
        )
        for action, detail in (("create", "priority=urgent"), ("view", None)):
            conn.execute(
                sa.text("INSERT INTO audit_log (at, actor, action, ticket_id, detail) VALUES (:t, 'bot', :a, 1, :d)"),
                {"t": WHEN, "a": action, "d": detail},
            )
        conn.execute(sa.text("INSERT INTO events (sender_id) VALUES ('line-old')"))


def test_a_database_made_before_the_migrations_is_adopted_and_brought_to_head(engine: Engine) -> None:
    _made_the_old_way(engine)
    assert schema.current(engine) is None
    assert schema.migrate(engine) == schema.LEGACY
    assert schema.current(engine) == schema.head()
    # The schema is the models', everywhere: the missing tables made, the columns added, TEXT.
    assert schema.diff(engine) == []
    tables = set(sa.inspect(engine).get_table_names())
    assert LAZY_TABLES <= tables and "events" in tables
    assert AUDIT_COLUMNS <= {c["name"] for c in sa.inspect(engine).get_columns("audit_log")}
    priority = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("callback_tickets")}["priority"]
    assert isinstance(priority, sa.Text)
    with engine.connect() as conn:
        # The data steps ran: the plaintext is gone, the audit rows are chained, nothing was lost
        # (SQLite copied callback_tickets: its note must survive the copy, foreign keys and all).
        raw = conn.execute(sa.text("SELECT priority, needs FROM callback_tickets")).one()
        assert raw.priority.startswith(TOKEN_PREFIX) and "ibasho" not in str(raw.needs)
        assert conn.execute(sa.text("SELECT count(*) FROM ticket_notes")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 1
        assert conn.execute(sa.text("SELECT detail FROM audit_log WHERE action = 'create'")).scalar() is None
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again after the copy
        else:
            trigger = "SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_no_truncate'"
            assert conn.execute(sa.text(trigger)).first() is not None
    with Session(engine) as session:
        ticket = session.get(CallbackTicket, 1)
        assert ticket is not None and (ticket.priority, ticket.needs) == ("urgent", ["ibasho"])
        rows = session.execute(sa.select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        assert audit.verify_rows(rows).ok and len(rows) == 2
    # From now on it is a versioned database like any other.
    assert schema.migrate(engine) == schema.VERSIONED


# --- twice, together --------------------------------------------------------------------------------
def test_migrating_twice_changes_nothing(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    assert schema.migrate(engine) == schema.EMPTY
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO staff_users (username, password_hash, role, created_at, failed_logins, session_nonce)"
                " VALUES ('sato', 'x', 'staff', :t, 0, 'n')"
            ),
            {"t": WHEN},
        )
    before = _shape(engine)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="alembic"):
        assert schema.migrate(engine) == schema.VERSIONED
    assert not [r for r in caplog.records if "Running upgrade" in r.getMessage()]
    assert schema.current(engine) == schema.head()
    assert _shape(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT username FROM staff_users")).scalars().all() == ["sato"]


def test_two_starts_at_once_migrate_one_after_the_other(url: str) -> None:
    """Two processes' first engines (here two engines in two threads: neither the file lock nor
    PostgreSQL's advisory lock is shared between them) on one empty database."""
    engines = [make_engine(url), make_engine(url)]
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(engine: Engine) -> None:
        start.wait()
        try:
            results.append(schema.migrate(engine))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == [] and sorted(results) == [schema.EMPTY, schema.VERSIONED]
        assert schema.current(engines[0]) == schema.head() and schema.diff(engines[0]) == []
    finally:
        for e in engines:
            e.dispose()


# --- the command line ---------------------------------------------------------------------------------
def test_the_command_line_upgrades_and_checks(
    tmp_path: Path, keys: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert cli.main(["current"]) == 1 and "not versioned" in capsys.readouterr().out
    assert cli.main(["upgrade"]) == 0 and f"empty, now at {schema.head()}" in capsys.readouterr().out
    assert cli.main(["current"]) == 0
    assert cli.main(["check"]) == 0 and "agree" in capsys.readouterr().out


# --- nothing else creates tables ----------------------------------------------------------------------
def test_no_create_all_outside_the_migrations() -> None:
    """The schema is the migrations' alone. The one exception is Rasa's `events` table in the
    tracker database, made with the tracker store's own base (bot.rasa_plugins.tracker_store)
    as Rasa makes it, by deploy.init_db before the replicas start."""
    found = []
    for package in ("bot", "staff", "actions", "channels", "deploy", "tools"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if "create_all(" in line:
                    found.append((str(path.relative_to(ROOT)), line.strip()))
    assert found == [("deploy/init_db.py", "EncryptedSQLTrackerStore.Base.metadata.create_all(engine)")]
