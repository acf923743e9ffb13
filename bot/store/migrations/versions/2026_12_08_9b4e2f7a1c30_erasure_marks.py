"""The erasure marks: `erasure_marks` (issue 21, Low: erasure versus the ticket outbox).

Revision ID: 9b4e2f7a1c30
Revises: 63acc17366f6
Create Date: 2026-12-08 10:00:00

One row per erasure: a SHA-256 of the sender's pseudonym and the moment. The ticket outbox's
delivery checks it in the transaction of the insert, so a booking spooled before the erasure is
never stored after it (bot.store.tickets.book_callback).
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import context, op

# Revision identifiers, used by Alembic.
revision: str = "9b4e2f7a1c30"
down_revision: Union[str, Sequence[str], None] = "63acc17366f6"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A database adopted by the baseline has its missing tables made from the models first.
    if not context.is_offline_mode() and sa.inspect(op.get_bind()).has_table("erasure_marks"):
        return
    op.create_table(
        "erasure_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_ref", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_erasure_marks_sender_ref"), "erasure_marks", ["sender_ref"], unique=False)
    op.create_index(op.f("ix_erasure_marks_erased_at"), "erasure_marks", ["erased_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_erasure_marks_erased_at"), table_name="erasure_marks")
    op.drop_index(op.f("ix_erasure_marks_sender_ref"), table_name="erasure_marks")
    op.drop_table("erasure_marks")
