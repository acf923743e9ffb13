"""The ticket's conversation session: `callback_tickets.session_start` (issue 21, M-8).

Revision ID: 63acc17366f6
Revises: 3c1d7e0a5b21
Create Date: 2026-12-07 23:14:28.991778

Made by autogenerate (`make db-revision`), then made to skip a column that is already there. The
timestamp of the `session_started` event of the Rasa session that booked the ticket (0 before
any), stored by the action server with the booking: the supervisor's conversation view shows
that session only, not every session of the sender. Tickets booked before have NULL, and no
conversation is shown for them (the session that was consented to cannot be told any more).
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import context, op

# Revision identifiers, used by Alembic.
revision: str = "63acc17366f6"
down_revision: Union[str, Sequence[str], None] = "3c1d7e0a5b21"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A database adopted by the baseline may have been made with the column by create_all.
    if not context.is_offline_mode():
        have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("callback_tickets")}
        if "session_start" in have:
            return
    with op.batch_alter_table("callback_tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_start", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_tickets", schema=None) as batch_op:
        batch_op.drop_column("session_start")
