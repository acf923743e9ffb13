"""`python -m deploy.init_db`: create the tables once, before the replicas start.

Two Rasa replicas starting together on an empty PostgreSQL database both run CREATE TABLE for
the tracker store; one of them can lose that race ("duplicate key value violates unique
constraint pg_type_typname_nsp_index") and Rasa then silently falls back to an in-memory tracker
store. Creating the tables first avoids it. Idempotent.

Reads MADOGUCHI_TRACKER_DB_URL (Rasa's events table) and MADOGUCHI_DB_URL (tickets, consent,
channel id map, webhook dedup).
"""
from __future__ import annotations

import os
import sys

from sqlalchemy import create_engine


def main() -> int:
    tracker_url = os.environ.get("MADOGUCHI_TRACKER_DB_URL")
    db_url = os.environ.get("MADOGUCHI_DB_URL")
    if not tracker_url or not db_url:
        print("set MADOGUCHI_TRACKER_DB_URL and MADOGUCHI_DB_URL", file=sys.stderr)
        return 2
    from rasa.core.tracker_store import SQLTrackerStore

    engine = create_engine(tracker_url, future=True)
    SQLTrackerStore.Base.metadata.create_all(engine)
    engine.dispose()
    from bot.db import get_engine

    get_engine(db_url)  # creates the madoguchi tables
    print("tables ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
