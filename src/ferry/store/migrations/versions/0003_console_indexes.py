"""Indexes the console's pages read through (:mod:`ferry.store.console_queries`): records by status
across schemes, by scheme and status in time (throughput, today's totals), runs of a scheme in time,
and events in time (a run's timeline).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_records_status_id", "records", ["status", "id"]),
    ("ix_records_scheme_status_updated_at", "records", ["scheme", "status", "updated_at"]),
    ("ix_runs_scheme_started_at", "runs", ["scheme", "started_at"]),
    ("ix_events_at", "events", ["at"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
