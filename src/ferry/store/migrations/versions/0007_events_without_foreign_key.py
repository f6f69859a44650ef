"""events: no foreign key to records (the ledger's log of moves; a key check per event was the
largest single cost of storing a page on PostgreSQL).

Every event is written by the statement, or the transaction, that moved its record, with the id that
statement returned, and the ledger never deletes a record; ``ix_events_record_id`` stays. SQLite
cannot drop a constraint, so there the table is copied once (Alembic's batch mode).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("fk_events_record_id_records", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.create_foreign_key(
            "fk_events_record_id_records", "records", ["record_id"], ["id"], ondelete="CASCADE"
        )
