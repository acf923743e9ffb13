"""Database access shared by the action server, the channels and the staff app.

MADOGUCHI_DB_URL picks the database (SQLAlchemy URL); the embedded default is SQLite in
`var/madoguchi.db`. PostgreSQL works by URL: postgresql+psycopg2://user@host/db.

The first engine of a database in a process brings its schema to the migrations' head
(bot.store.schema.migrate: Alembic, bot/store/migrations): nothing else creates tables.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bot import config
from bot.security.keys import create_private_file, var_dir


def database_url() -> str:
    return config.settings().text("MADOGUCHI_DB_URL") or f"sqlite:///{var_dir() / 'madoguchi.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the staff app read while the action server writes; the timeout rides out short locks.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    """`hide_parameters`: a failing statement's exception text and SQLAlchemy's engine log (echo,
    the `sqlalchemy.engine` logger) never print bound values: they hold ciphertext, pseudonyms and
    phone-bearing fields (issue 21, Low)."""
    url = url or database_url()
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            create_private_file(Path(path))  # 0600 before SQLite creates it with the umask's mode
        engine = create_engine(
            url, future=True, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 5}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, future=True, hide_parameters=True, pool_pre_ping=True, pool_size=5, max_overflow=10)
    return engine


_engine_lock = threading.Lock()


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = make_engine(url)
    # Imported here: Alembic is loaded by the first engine, not by importing this module.
    from bot.store.schema import migrate

    try:
        migrate(engine)  # to head, an older version's database too; then the data steps
    except BaseException:
        engine.dispose()
        raise
    return engine


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL; the lock keeps two threads from migrating the database at once (two
    processes are serialised by bot.store.schema)."""
    with _engine_lock:
        return _engine_for(url or database_url())


def session_factory(url: str | None = None) -> sessionmaker:
    return sessionmaker(bind=get_engine(url or database_url()), future=True, expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
