"""The initial ledger: records, watermarks, runs, api_calls, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# frozen copies of the types in schema.py: a migration must not change when the code does
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("scheme", sa.String(length=200), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.String(length=200), server_default="", nullable=False),
        sa.Column("number", sa.String(length=200), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("draft", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=True),
        sa.Column("last_error_type", sa.String(length=40), nullable=True),
        sa.Column("last_error_code", sa.String(length=200), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.Column("target_number", sa.String(length=200), nullable=True),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", UTC, nullable=True),
        sa.Column("lease_prev_status", sa.String(length=20), nullable=True),
        sa.Column("watch_next_at", UTC, nullable=True),
        sa.Column("watch_until", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
        sa.UniqueConstraint("scheme", "source_id", name=op.f("uq_records_scheme_source_id")),
    )
    op.create_index("ix_records_claim", "records", ["scheme", "status", "next_attempt_at"], unique=False)
    op.create_index("ix_records_number", "records", ["scheme", "number"], unique=False)
    op.create_index("ix_records_queue", "records", ["scheme", "status", "id"], unique=False)

    op.create_table(
        "watermarks",
        sa.Column("scheme", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.String(length=200), server_default="", nullable=False),
        sa.Column("value", UTC, nullable=False),
        sa.Column("run_id", BigId, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("scheme", "partition", name=op.f("pk_watermarks")),
    )

    op.create_table(
        "runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("scheme", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("ended_at", UTC, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_scheme"), "runs", ["scheme"], unique=False)

    op.create_table(
        "api_calls",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("api", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("metered", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("scheme", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_calls")),
    )
    op.create_index(op.f("ix_api_calls_at"), "api_calls", ["at"], unique=False)
    op.create_index("ix_api_calls_connection_api_at", "api_calls", ["connection", "api", "at"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("record_id", BigId, nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_events_record_id_records"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_record_id"), "events", ["record_id"], unique=False)


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("api_calls")
    op.drop_table("runs")
    op.drop_table("watermarks")
    op.drop_table("records")
