"""`python -m deploy.init_db`: prepare both databases once, before the replicas start.

Two Rasa replicas starting together on an empty PostgreSQL database both run CREATE TABLE for
the tracker store; one of them can lose that race ("duplicate key value violates unique
constraint pg_type_typname_nsp_index") and Rasa then silently falls back to an in-memory tracker
store. Creating the tables first avoids it. Idempotent.

The madoguchi database is brought to the migrations' head (bot.store.schema.migrate: Alembic,
bot/store/migrations), an older version's database too; the tracker database's `events` table
is Rasa's and is made as Rasa makes it (below).

Reads MADOGUCHI_TRACKER_DB_URL (Rasa's events table) and MADOGUCHI_DB_URL (tickets, consent,
channel id map, webhook dedup). With ``--create-database`` it first creates the PostgreSQL
database of each URL when it does not exist (for local runs; in production the DBA does).
With MADOGUCHI_ENV=production it first refuses (exit 2) when a key is missing, so the stack
stops here rather than at the first message.

It then upgrades what an older version left (bot/store/schema_upgrade.py: plaintext that tells a
story is encrypted, Rasa's columns widened); run it again after every update, before the replicas.
"""

from __future__ import annotations

import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import config


def create_database_if_missing(url: str) -> None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql") or not parsed.database:
        return
    admin = create_engine(
        parsed.set(database="postgres"), future=True, hide_parameters=True, isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": parsed.database}).first()
            if not exists:
                quoted = conn.dialect.identifier_preparer.quote(parsed.database)
                conn.execute(text(f"CREATE DATABASE {quoted}"))
                print(f"created database {parsed.database}")
    finally:
        admin.dispose()


def main() -> int:
    from bot.security.keys import check_production_secrets

    missing = check_production_secrets()
    if missing:
        print(f"MADOGUCHI_ENV=production and not set: {', '.join(missing)}", file=sys.stderr)
        return 2
    tracker_url = config.settings().text("MADOGUCHI_TRACKER_DB_URL")
    db_url = config.settings().text("MADOGUCHI_DB_URL")
    if not tracker_url or not db_url:
        print("set MADOGUCHI_TRACKER_DB_URL and MADOGUCHI_DB_URL", file=sys.stderr)
        return 2
    if "--create-database" in sys.argv[1:]:
        for url in dict.fromkeys((tracker_url, db_url)):
            create_database_if_missing(url)
    from bot.rasa_plugins.tracker_store import EncryptedSQLTrackerStore
    from bot.store import schema
    from bot.store.db import make_engine
    from bot.store.schema_upgrade import upgrade_events

    # Rasa's `events` table, in the tracker database: Rasa's tracker store creates it with its
    # own metadata (create_all) and is its owner, so it stays out of madoguchi's migrations.
    engine = create_engine(tracker_url, future=True, hide_parameters=True)
    EncryptedSQLTrackerStore.Base.metadata.create_all(engine)
    upgraded = upgrade_events(engine)
    engine.dispose()
    engine = make_engine(db_url)
    try:
        was = schema.migrate(engine)  # to head, then the data steps (encryption, audit chain, trigger)
        revision = schema.current(engine)
    finally:
        engine.dispose()
    print(f"tables ready (madoguchi database: {was}, now at revision {revision}; Rasa events rewritten: {upgraded})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
