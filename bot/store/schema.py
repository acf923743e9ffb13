"""The madoguchi database's schema, managed by Alembic on SQLite and PostgreSQL alike (issue 19).

The tables are defined once (bot.store.models, on bot.store.base.Base) and made by the
migrations in bot/store/migrations/versions; nothing else creates them. `migrate(engine)` brings
any database to the newest revision (head), whatever its state:

  * empty: every revision, from the baseline on;
  * made by an older madoguchi with `create_all` (its tables, no `alembic_version`): the
    baseline adopts it — it creates the tables that are missing and changes what `create_all`
    could not (the audit log's newer columns, `callback_tickets.priority` as TEXT) — then the
    data steps below fix the old values before the later revisions run;
  * versioned: the revisions it lacks (none at head).

Then the data steps that run at every start, as before (bot.store.schema_upgrade.upgrade_madoguchi):
plaintext an older version wrote is encrypted, the audit log's older rows join the hash chain,
and on PostgreSQL the trigger that keeps the audit log append-only is in place.

`bot.store.db.get_engine` calls `migrate` once per database and process; `python -m deploy.init_db`
(production, before the replicas) and `python -m bot.store.migrations upgrade` (make run,
make db-upgrade) call it before anything starts. Concurrent calls are serialised: threads by
bot.store.db's lock, processes by a PostgreSQL advisory lock or, on SQLite, a lock file next to
the database file.
"""

from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Optional

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator

from bot.security.keys import create_private_file
from bot.store import models  # noqa: F401  (every table registers on Base)
from bot.store.base import Base
from bot.store.schema_upgrade import upgrade_madoguchi

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The first revision: the schema as `create_all` made it when the migrations began.
BASELINE = "3c1d7e0a5b21"
#: Revision files: bot/store/migrations/versions/2026_12_07_<rev>_<message>.py (as in alembic.ini).
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"
#: Tables in the same database that are not madoguchi's: Rasa's tracker store keeps `events` in
#: MADOGUCHI_TRACKER_DB_URL, which may be this database (tests, a one-database install). Rasa
#: creates and changes it itself; the migrations neither create, compare nor drop it.
FOREIGN_TABLES = frozenset({"events"})
#: pg_advisory_lock key of the migrations ("migr"), held while one process migrates.
_PG_LOCK = 0x6D696772

EMPTY, LEGACY, VERSIONED = "empty", "legacy", "versioned"


# --- Alembic's configuration (shared with bot/store/migrations/env.py) --------------------------
def config(connection: Optional[Connection] = None) -> Config:
    """Alembic's configuration, built here so an installed copy needs no alembic.ini. With a
    connection, env.py migrates through it; without, it connects to bot.store.db.database_url()."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", FILE_TEMPLATE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _include_name(name: Optional[str], type_: str, parent_names: Any) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> Any:
    """A TypeDecorator column (UTCDateTime, SealedText, SealedJSON) is rendered as the type the
    database stores (its impl): a migration must not import the models as they are later."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def context_options(dialect: str) -> dict[str, Any]:
    """The options env.py configures Alembic with, and `diff` compares with."""
    return {
        "target_metadata": Base.metadata,
        "render_as_batch": dialect == "sqlite",  # SQLite alters a table by copying it
        "compare_type": True,
        "include_name": _include_name,
        "render_item": _render_item,
    }


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    if revision is None:  # pragma: no cover - the baseline is always there
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return revision


# --- state ---------------------------------------------------------------------------------------
def current(engine: Engine) -> Optional[str]:
    """The database's revision; None when it is not versioned (empty, or made by create_all)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def state(conn: Connection) -> str:
    """EMPTY, LEGACY (an older madoguchi's tables, no alembic_version) or VERSIONED."""
    names = set(sa.inspect(conn).get_table_names())
    if "alembic_version" in names:
        return VERSIONED
    return LEGACY if names & set(Base.metadata.tables) else EMPTY


def diff(engine: Engine) -> list[Any]:
    """What differs between the database and the models (Alembic's autogenerate comparison);
    empty when the migrations made exactly the models' schema."""
    with engine.connect() as conn:
        options = context_options(conn.dialect.name)
        options.pop("render_as_batch")
        return list(compare_metadata(MigrationContext.configure(conn, opts=options), Base.metadata))


# --- migrating -----------------------------------------------------------------------------------
@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """SQLite: one process at a time migrates a database file (a lock file beside it)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    lock = Path(f"{path}.migrate-lock")
    if not lock.parent.is_dir():  # SQLite reports the missing directory when it connects
        yield
        return
    create_private_file(lock)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to migrate through, held by this process alone (PostgreSQL: an advisory lock;
    SQLite: a lock file). On SQLite its foreign keys are off meanwhile: a table altered in batch
    mode is copied, and dropping the old copy must not cascade to the rows that refer to it."""
    dialect = engine.dialect.name
    with _file_lock(engine), engine.connect() as conn:
        if dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK})
        elif dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()
            if dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK})
            elif dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def _upgrade(conn: Connection, revision: str) -> None:
    command.upgrade(config(conn), revision)
    conn.commit()


def migrate(engine: Engine) -> str:
    """Bring the database to head (see the module's docstring), then run the data steps.
    Returns the state it was in: EMPTY, LEGACY or VERSIONED."""
    with migration_connection(engine) as conn:
        was = state(conn)
        conn.commit()
        if was == LEGACY:
            log.info("schema: adopting a %s database made before the migrations", engine.dialect.name)
            _upgrade(conn, BASELINE)
            upgrade_madoguchi(engine)  # the old values, before a later revision reads them
        _upgrade(conn, "head")
        upgrade_madoguchi(engine)
    return was
