"""`python -m bot.store.migrations COMMAND`: the madoguchi database's schema (issue 19).

upgrade           bring MADOGUCHI_DB_URL's database to head, an older madoguchi's too, then
                  run the data steps (bot.store.schema.migrate; make db-upgrade, make run)
current           the database's revision and the newest one (exit 1 when behind)
check             the models and the database agree (exit 1 with the differences)
revision -m MSG   a new revision by autogenerate: the models compared with a scratch SQLite
                  database at head (make db-revision MSG=...); review it before committing
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from alembic import command
from sqlalchemy.engine import make_url

from bot.store import schema
from bot.store.db import database_url, make_engine


def _where(url: str) -> str:
    return str(make_url(url).render_as_string(hide_password=True))


def upgrade() -> int:
    url = database_url()
    engine = make_engine(url)
    try:
        was = schema.migrate(engine)
        print(f"{_where(url)}: {was}, now at {schema.current(engine)} (head)")
    finally:
        engine.dispose()
    return 0


def current() -> int:
    url = database_url()
    engine = make_engine(url)
    try:
        revision = schema.current(engine)
    finally:
        engine.dispose()
    print(f"{_where(url)}: {revision or 'not versioned'} (head: {schema.head()})")
    return 0 if revision == schema.head() else 1


def check() -> int:
    url = database_url()
    engine = make_engine(url)
    try:
        revision, differences = schema.current(engine), schema.diff(engine)
    finally:
        engine.dispose()
    if revision != schema.head():
        print(f"{_where(url)} is at {revision or 'no revision'}, not head {schema.head()}: run make db-upgrade")
        return 1
    for difference in differences:
        print(difference)
    if differences:
        print("the models and the migrations differ: make db-revision MSG=...")
        return 1
    print("the models and the migrations agree")
    return 0


def revision(message: str) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            schema.migrate(engine)
            with schema.migration_connection(engine) as conn:
                cfg = schema.config(conn)
                # The new file, formatted and its imports sorted as the rest of the tree.
                cfg.set_section_option("post_write_hooks", "hooks", "imports, format")
                for hook, options in (
                    ("imports", "check --fix --select I,F401 REVISION_SCRIPT_FILENAME"),
                    ("format", "format REVISION_SCRIPT_FILENAME"),
                ):
                    cfg.set_section_option("post_write_hooks", f"{hook}.type", "module")
                    cfg.set_section_option("post_write_hooks", f"{hook}.module", "ruff")
                    cfg.set_section_option("post_write_hooks", f"{hook}.options", options)
                command.revision(cfg, message=message, autogenerate=True)
        finally:
            engine.dispose()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.store.migrations", description="the madoguchi database's schema"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("upgrade", help="bring the database to head")
    sub.add_parser("current", help="the database's revision")
    sub.add_parser("check", help="the models and the database agree")
    new = sub.add_parser("revision", help="a new revision by autogenerate")
    new.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    if args.command == "revision":
        return revision(args.message)
    return {"upgrade": upgrade, "current": current, "check": check}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
