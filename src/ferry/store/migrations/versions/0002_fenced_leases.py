"""Fenced leases (records.lease_token), runs with an owner and a heartbeat, indexes to search records
by business key, content hashes of the canonical (orjson) encoding.

The canonical JSON text is the same as before (sorted keys, compact, UTF-8) except for floats below
1e-4, which orjson writes without an exponent (``0.00001``, not ``1e-05``). Hashes of the rows holding
such a float are recomputed here, so ``on_change`` never sees a change that did not happen.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("lease_token", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", UTC, nullable=True))
    op.create_index("ix_runs_status", "runs", ["status"], unique=False)
    for column in ("source_id", "number", "target_id", "target_number"):
        where = sa.text(f"{column} IS NOT NULL") if column.startswith("target") else None
        op.create_index(
            f"ix_records_{column}_key",
            "records",
            [column],
            unique=False,
            postgresql_ops={column: "varchar_pattern_ops"},
            postgresql_where=where,
            sqlite_where=where,
        )
    if op.get_bind().dialect.name == "postgresql":
        # records is a queue: every claim and outcome leaves a dead row version whose index entries the
        # next claim has to step over until a vacuum removes them, and a table that grows fast has no
        # statistics for its plans. Vacuum and analyse it after 1% (plus 1,000 rows) changed, not 20%.
        op.execute(
            "ALTER TABLE records SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, "
            "autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 1000)"
        )
    _rehash_float_exponents()


# frozen copy of the canonical encoding of this revision (ferry.store.codec)
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _canonical_hash(text: str) -> str | None:
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None  # NaN written by an earlier version: collect quarantines it when it comes again
    try:
        canonical = orjson.dumps(value, default=str, option=_CANONICAL).decode()
    except TypeError:
        canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _rehash_float_exponents(chunk: int = 5_000) -> None:
    bind = op.get_bind()
    content = "CAST(content AS TEXT)" if bind.dialect.name == "postgresql" else "content"
    # only a text with an exponent can hash differently; the filter keeps the scan in the database
    select = sa.text(
        f"SELECT id, {content}, content_hash FROM records WHERE id > :after AND {content} LIKE '%e-%' "
        "ORDER BY id LIMIT :n"
    )
    update = sa.text("UPDATE records SET content_hash = :h WHERE id = :id")
    after = 0
    while True:
        rows = bind.execute(select, {"after": after, "n": chunk}).all()
        if not rows:
            return
        changed = []
        for record_id, text, stored in rows:
            new = _canonical_hash(text)
            if new is not None and new != stored:
                changed.append({"id": record_id, "h": new})
        if changed:
            bind.execute(update, changed)
        after = rows[-1][0]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE records RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
            "autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
        )
    for column in ("source_id", "number", "target_id", "target_number"):
        op.drop_index(f"ix_records_{column}_key", table_name="records")
    op.drop_index("ix_runs_status", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("lease_token")
