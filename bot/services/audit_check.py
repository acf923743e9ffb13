"""`python -m bot.services.audit_check verify`: does the audit log's hash chain hold?

Exit 0 when every row chains to the one before it, 1 naming the first broken row (a changed or
deleted row breaks the chain from there on; bot.store.audit, issue 21 M-9).
"""

from __future__ import annotations

import sys
from typing import Optional

import sqlalchemy as sa

from bot.store.audit import Verdict, verify_rows
from bot.store.db import session_scope
from bot.store.models import AuditEntry


def verify(db_url: Optional[str] = None) -> Verdict:
    with session_scope(db_url) as session:
        return verify_rows(session.execute(sa.select(AuditEntry).order_by(AuditEntry.id)).scalars())


def main(argv: Optional[list[str]] = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args != ["verify"]:
        print("usage: python -m bot.services.audit_check verify", file=sys.stderr)
        return 2
    verdict = verify()
    if verdict.ok:
        print(f"audit log intact: {verdict.rows} rows, last hash {verdict.last_hash}")
        return 0
    print(f"audit log BROKEN at row id {verdict.broken_at} (rows before it are intact)")
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
