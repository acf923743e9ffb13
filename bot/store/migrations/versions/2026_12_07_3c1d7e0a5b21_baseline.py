"""Baseline: the schema as `create_all` made it when the migrations began (issue 19).

Revision ID: 3c1d7e0a5b21
Revises:
Create Date: 2026-12-07 13:33:54.256485

Made by autogenerate against an empty database, then arranged one function per table. The
sealed columns (bot.store.sealed) are their stored types: SealedText is TEXT, SealedJSON is
JSON; UTCDateTime is DateTime(timezone=True).

It also adopts a database an older madoguchi made with `create_all` (bot.store.schema.migrate):
the tables that are there stay as they are, the missing ones are created (staff_users and
notification_outbox were made only when first used), and what `create_all` could not change is
changed here — the audit log's columns of issue 21 M-9 and `callback_tickets.priority`, a
VARCHAR(8) before it was encrypted (M-2), now TEXT. Their values are the data steps' work
(bot.store.schema_upgrade), after this revision.
"""

from __future__ import annotations

from typing import Callable, Sequence, Union

import sqlalchemy as sa
from alembic import context, op

# Revision identifiers, used by Alembic.
revision: str = "3c1d7e0a5b21"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: The audit log's columns added by issue 21 M-9 (an older audit_log lacks them).
AUDIT_COLUMNS = ("client", "session_ref", "prev_hash", "row_hash")


def upgrade() -> None:
    # Offline (`alembic upgrade head --sql`) there is no database to look at: the SQL of a new one.
    present = set() if context.is_offline_mode() else set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in TABLES:
        if name not in present:
            create()
    if "audit_log" in present:
        _audit_log_columns()
    if "callback_tickets" in present:
        _priority_as_text()


def downgrade() -> None:
    for name, _ in reversed(TABLES):
        op.drop_table(name)  # its indexes go with it


def _audit_log_columns() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("audit_log")}
    for name in AUDIT_COLUMNS:
        if name not in have:
            op.add_column("audit_log", sa.Column(name, sa.String(length=64), nullable=True))


def _priority_as_text() -> None:
    """Encrypted, the priority is a Fernet token, far longer than VARCHAR(8). (SQLite does not
    check the length, but the column is made TEXT there too, so every database has one schema.)"""
    types = {c["name"]: c["type"] for c in sa.inspect(op.get_bind()).get_columns("callback_tickets")}
    if isinstance(types["priority"], sa.Text):
        return
    with op.batch_alter_table("callback_tickets") as batch_op:
        batch_op.alter_column("priority", existing_type=sa.String(length=8), type_=sa.Text(), existing_nullable=False)


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("session_ref", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_ticket_id"), "audit_log", ["ticket_id"], unique=False)


def _callback_tickets() -> None:
    op.create_table(
        "callback_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=True),
        sa.Column("relation_detail", sa.String(length=32), nullable=True),
        sa.Column("age_min", sa.Float(), nullable=True),
        sa.Column("age_max", sa.Float(), nullable=True),
        sa.Column("age_band", sa.String(length=16), nullable=True),
        sa.Column("situation_enc", sa.Text(), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("contact_method", sa.String(length=8), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("nickname_enc", sa.Text(), nullable=True),
        sa.Column("preferred_slot", sa.String(length=24), nullable=True),
        sa.Column("preferred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_version", sa.String(length=16), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("share_conversation", sa.Boolean(), nullable=False),
        sa.Column("assigned_to", sa.String(length=64), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_window", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(op.f("ix_callback_tickets_preferred_at"), "callback_tickets", ["preferred_at"], unique=False)
    op.create_index(op.f("ix_callback_tickets_sender_id"), "callback_tickets", ["sender_id"], unique=False)
    op.create_index(op.f("ix_callback_tickets_status"), "callback_tickets", ["status"], unique=False)


def _channel_identities() -> None:
    op.create_table(
        "channel_identities",
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("platform_id_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender_id"),
    )


def _consent_records() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("agreed", sa.Boolean(), nullable=False),
        sa.Column("notice_version", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_consent_records_sender_id"), "consent_records", ["sender_id"], unique=False)


def _erasure_requests() -> None:
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_erasure_requests_sender_id"), "erasure_requests", ["sender_id"], unique=False)


def _notification_outbox() -> None:
    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_notification_outbox_created_at"), "notification_outbox", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_notification_outbox_next_attempt_at"), "notification_outbox", ["next_attempt_at"], unique=False
    )
    op.create_index(op.f("ix_notification_outbox_sent_at"), "notification_outbox", ["sent_at"], unique=False)


def _processed_events() -> None:
    op.create_table(
        "processed_events",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_processed_events_created_at"), "processed_events", ["created_at"], unique=False)


def _staff_users() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_nonce", sa.String(length=32), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )


def _stat_events() -> None:
    op.create_table(
        "stat_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("conversation", sa.String(length=64), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=True),
        sa.Column("age_band", sa.String(length=16), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person", "kind", "conversation", name="uq_stat_once"),
    )
    op.create_index(op.f("ix_stat_events_at"), "stat_events", ["at"], unique=False)
    op.create_index(op.f("ix_stat_events_person"), "stat_events", ["person"], unique=False)


def _ticket_notes() -> None:
    op.create_table(
        "ticket_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body_enc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["callback_tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ticket_notes_ticket_id"), "ticket_notes", ["ticket_id"], unique=False)


#: Every table, in an order that creates a table before the tables that refer to it.
TABLES: tuple[tuple[str, Callable[[], None]], ...] = (
    ("audit_log", _audit_log),
    ("callback_tickets", _callback_tickets),
    ("channel_identities", _channel_identities),
    ("consent_records", _consent_records),
    ("erasure_requests", _erasure_requests),
    ("notification_outbox", _notification_outbox),
    ("processed_events", _processed_events),
    ("staff_users", _staff_users),
    ("stat_events", _stat_events),
    ("ticket_notes", _ticket_notes),
)
