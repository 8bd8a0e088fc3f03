"""Inbound mail matched to its record (contact, lead, deal, the message it answers, receipt, event) and Slack
delivery of notifications (claim, attempts with backoff, where it was posted)

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07 12:50:00

``inbound_emails`` was created by 0007 and written by nothing until now, so it is rebuilt with its full columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("inbound_emails")
    op.create_table(
        "inbound_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("mailbox", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("from_address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("matched_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("outbound_message_id", sa.Integer(), nullable=True),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("receipt_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("sent_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("received_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["domain_events.id"]),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"]),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.ForeignKeyConstraint(["outbound_message_id"], ["outbound_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("inbound_emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_emails_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbound_emails_from_address"), ["from_address"], unique=False)

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("slack_channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("slack_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column("receipt_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        for name in ("receipt_id", "slack_ts", "slack_channel", "claimed_at", "next_attempt_at", "attempts"):
            batch_op.drop_column(name)
    with op.batch_alter_table("inbound_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_emails_from_address"))
        batch_op.drop_index(batch_op.f("ix_inbound_emails_kind"))
    op.drop_table("inbound_emails")
    op.create_table(
        "inbound_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("mailbox", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("from_address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("received_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
