"""API usage that lasts: api_calls rolled up per (connection, api, hour).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_usage_hourly",
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("api", sa.String(length=200), nullable=False),
        sa.Column("hour", UTC, nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("metered", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("throttles", sa.Integer(), nullable=False),
        sa.Column("latency_sum_ms", sa.Float(), nullable=False),
        sa.Column("errors_by_code", sa.JSON(), nullable=False),
        sa.Column("by_status", sa.JSON(), nullable=False),
        sa.Column("latency_buckets", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "api", "hour", name="pk_api_usage_hourly"),
    )
    op.create_index("ix_api_usage_hourly_hour", "api_usage_hourly", ["hour"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_api_usage_hourly_hour", table_name="api_usage_hourly")
    op.drop_table("api_usage_hourly")
