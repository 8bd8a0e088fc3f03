"""audit personal values: personal fields of audit snapshots live beside the chain, so they can be erased

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events written before this revision keep their plain snapshots: rewriting them would break the chain.
    op.create_table(
        "audit_personal_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("salt", sa.String(length=32), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("erased_at", store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["audit_events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_index(op.f("ix_audit_personal_values_event_id"), "audit_personal_values", ["event_id"], unique=False)
    op.create_index(op.f("ix_audit_personal_values_subject"), "audit_personal_values", ["subject"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_personal_values_subject"), table_name="audit_personal_values")
    op.drop_index(op.f("ix_audit_personal_values_event_id"), table_name="audit_personal_values")
    op.drop_table("audit_personal_values")
