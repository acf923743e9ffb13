"""Alembic's environment for the madoguchi database (issue 19).

The database is bot.store.db.database_url() (MADOGUCHI_DB_URL, else SQLite in var/), never a URL
in alembic.ini. `bot.store.schema.migrate` passes the connection it holds (locked, on SQLite with
foreign keys off); the `alembic` command line gets one the same way. Every table is on
bot.store.base.Base through bot.store.models (bot.store.schema imports it), and SQLite tables
are altered in batch mode (copied), which also runs unchanged on PostgreSQL.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection, make_url

from bot.store import schema
from bot.store.db import database_url, make_engine


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **schema.context_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.config.config_file_name is not None:  # the alembic command line: its logging
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():  # `alembic upgrade head --sql`: the SQL, printed
        url = database_url()
        context.configure(url=url, literal_binds=True, **schema.context_options(make_url(url).get_backend_name()))
        with context.begin_transaction():
            context.run_migrations()
        return
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = make_engine(database_url())
    try:
        with schema.migration_connection(engine) as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


main()
