"""CRM imports and syncs: external ids of our rows, connector cursors, and the write-back ledger

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_refs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("object", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("record_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("synced", sa.JSON(), nullable=False),
        sa.Column("remote_updated_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("deleted_at", store.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system", "object", "external_id", name="uq_external_refs_system_object_id"),
    )
    op.create_index("ix_external_refs_record", "external_refs", ["record_type", "record_id"], unique=False)
    op.create_table(
        "connector_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connector", "stream", name="uq_connector_states_connector_stream"),
    )
    op.create_table(
        "sync_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("audit_event_id", sa.Integer(), nullable=True),
        sa.Column("operation", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("record_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("remote_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(), nullable=False),
        sa.Column("done_at", store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connector", "idempotency_key", name="uq_sync_writes_connector_key"),
    )
    op.create_index("ix_sync_writes_audit_event_id", "sync_writes", ["audit_event_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_writes_audit_event_id", table_name="sync_writes")
    op.drop_table("sync_writes")
    op.drop_table("connector_states")
    op.drop_index("ix_external_refs_record", table_name="external_refs")
    op.drop_table("external_refs")
