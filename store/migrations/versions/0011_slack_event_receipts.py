"""slack event receipts: Slack events taken once across processes and restarts (event_id, client_msg_id)

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_event_receipts",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("client_msg_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("received_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        sa.UniqueConstraint("client_msg_id"),
    )
    op.create_index(op.f("ix_slack_event_receipts_received_at"), "slack_event_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_event_receipts_received_at"), table_name="slack_event_receipts")
    op.drop_table("slack_event_receipts")
