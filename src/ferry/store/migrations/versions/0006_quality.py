"""Data quality: quality_facts (a record's denormalised keys for the history checks) and findings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# frozen copies of the types in schema.py: a migration must not change when the code does
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = sa.DateTime(timezone=True)
PAYEE = sa.text("payee IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "quality_facts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("record_id", BigId, nullable=False),
        sa.Column("scheme", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("at", UTC, nullable=True),
        sa.Column("payee", sa.String(length=200), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("account", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_quality_facts_record_id_records"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_facts")),
    )
    op.create_index(op.f("ix_quality_facts_record_id"), "quality_facts", ["record_id"], unique=False)
    op.create_index("ix_quality_facts_lookup", "quality_facts", ["scheme", "kind", "key", "at"], unique=False)
    for name, columns in (
        ("payee", ["scheme", "payee", "record_id"]),
        ("account", ["scheme", "payee", "account"]),
    ):
        op.create_index(
            f"ix_quality_facts_{name}",
            "quality_facts",
            columns,
            unique=False,
            postgresql_where=PAYEE,
            sqlite_where=PAYEE,
        )
    op.create_table(
        "findings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("record_id", BigId, nullable=False),
        sa.Column("scheme", sa.String(length=200), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.String(length=12), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("payee", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("resolved_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_findings_record_id_records"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    op.create_index(op.f("ix_findings_record_id"), "findings", ["record_id"], unique=False)
    op.create_index("ix_findings_scheme_at", "findings", ["scheme", "at"], unique=False)
    op.create_index("ix_findings_at", "findings", ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("findings")
    op.drop_table("quality_facts")
