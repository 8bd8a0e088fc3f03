"""Pipeline snapshots: each open deal as it stood on a day, and the forecast made that day

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pipeline_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("expected_close_date", sa.Date(), nullable=True),
        sa.Column("p_win", sa.Float(), nullable=True),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("p_won_in_period", sa.Float(), nullable=True),
        sa.Column("taken_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("snapshot_date", "deal_id", name="uq_pipeline_snapshots_date_deal"),
    )
    op.create_index(op.f("ix_pipeline_snapshots_snapshot_date"), "pipeline_snapshots", ["snapshot_date"])
    op.create_table(
        "forecast_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("p10", sa.Float(), nullable=False),
        sa.Column("p90", sa.Float(), nullable=False),
        sa.Column("simulation", sa.Float(), nullable=False),
        sa.Column("run_rate", sa.Float(), nullable=True),
        sa.Column("blend", sa.Float(), nullable=True),
        sa.Column("blend_weight", sa.Float(), nullable=True),
        sa.Column("won_to_date", sa.Float(), nullable=False),
        sa.Column("open_deals", sa.Integer(), nullable=False),
        sa.Column("taken_at", store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("snapshot_date", "period", "currency", name="uq_forecast_snapshots_date_period_currency"),
    )


def downgrade() -> None:
    op.drop_table("forecast_snapshots")
    op.drop_index(op.f("ix_pipeline_snapshots_snapshot_date"), table_name="pipeline_snapshots")
    op.drop_table("pipeline_snapshots")
