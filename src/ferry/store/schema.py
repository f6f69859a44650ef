"""The ledger's tables (SQLAlchemy Core). Migrations in ``migrations/versions`` must match this file;
a test compares them with Alembic's autogenerate.

Every datetime column is :class:`UTCDateTime`: aware UTC in and out, naive UTC text inside SQLite.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend.

    Naive datetimes are refused: a naive value is ambiguous, and a ledger that mixes local and UTC
    times schedules retries at the wrong hour.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the ledger takes timezone-aware datetimes")
        value = value.astimezone(dt.UTC)
        # SQLite stores text: naive UTC keeps the text sortable, so comparisons in SQL stay correct
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


records = sa.Table(
    "records",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # indexed as the leading column of the unique constraint and of the claim indexes
    sa.Column("scheme", sa.String(200), nullable=False),
    sa.Column("source_id", sa.String(200), nullable=False),
    sa.Column("partition", sa.String(200), nullable=False, default="", server_default=""),
    sa.Column("number", sa.String(200), nullable=True),
    sa.Column("content", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # why skipped / quarantined / dead, for a person to read
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("draft", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    # the error's action (retry, slow_down, reconcile, give_up...) or 'quality'
    sa.Column("last_error_type", sa.String(40), nullable=True),
    sa.Column("last_error_code", sa.String(200), nullable=True),
    sa.Column("last_error_message", sa.Text, nullable=True),
    sa.Column("target_id", sa.String(200), nullable=True),
    sa.Column("target_number", sa.String(200), nullable=True),
    sa.Column("request", sa.JSON, nullable=True),
    sa.Column("response", sa.JSON, nullable=True),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    # the status a record had when it was claimed: a release puts it back, a probe decision reads it
    sa.Column("lease_prev_status", sa.String(20), nullable=True),
    # fresh at every claim: an outcome, renewal or release applies only under the token it was claimed
    # with, so a worker whose lease was taken over is fenced out
    sa.Column("lease_token", sa.BigInteger, nullable=True),
    sa.Column("watch_next_at", UTCDateTime, nullable=True),
    sa.Column("watch_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("scheme", "source_id"),
    # due retries: status + next attempt time range
    sa.Index("ix_records_claim", "scheme", "status", "next_attempt_at"),
    # pending records in id order without a sort, so a claim stays O(batch) with 100k waiting
    sa.Index("ix_records_queue", "scheme", "status", "id"),
    sa.Index("ix_records_number", "scheme", "number"),
    # search by business key, exactly or by prefix, across schemes (Ledger.search): pattern operator
    # classes on PostgreSQL so LIKE 'prefix%' uses them whatever the database's collation; target ids
    # only where set, so collect pays nothing for them
    sa.Index("ix_records_source_id_key", "source_id", postgresql_ops={"source_id": "varchar_pattern_ops"}),
    sa.Index("ix_records_number_key", "number", postgresql_ops={"number": "varchar_pattern_ops"}),
    sa.Index(
        "ix_records_target_id_key",
        "target_id",
        postgresql_ops={"target_id": "varchar_pattern_ops"},
        postgresql_where=sa.text("target_id IS NOT NULL"),
        sqlite_where=sa.text("target_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_records_target_number_key",
        "target_number",
        postgresql_ops={"target_number": "varchar_pattern_ops"},
        postgresql_where=sa.text("target_number IS NOT NULL"),
        sqlite_where=sa.text("target_number IS NOT NULL"),
    ),
    # the console: status lists across schemes; throughput and today's totals (0003)
    sa.Index("ix_records_status_id", "status", "id"),
    sa.Index("ix_records_scheme_status_updated_at", "scheme", "status", "updated_at"),
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("scheme", sa.String(200), primary_key=True),
    sa.Column("partition", sa.String(200), primary_key=True, default="", server_default=""),
    # end of the last fully successful window
    sa.Column("value", UTCDateTime, nullable=False),
    sa.Column("run_id", BigId, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("scheme", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("trigger", sa.String(20), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("counts", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # who runs it and when it last said it is alive: a running run without a fresh heartbeat is reaped
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("heartbeat_at", UTCDateTime, nullable=True),
    sa.Index("ix_runs_status", "status"),
    sa.Index("ix_runs_scheme_started_at", "scheme", "started_at"),
)

# The fastest-growing table: narrow rows, two indexes, pruned by age.
api_calls = sa.Table(
    "api_calls",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("api", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("error_code", sa.String(100), nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("request_id", sa.String(100), nullable=True),
    sa.Column("metered", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("scheme", sa.String(200), nullable=True),
    sa.Index("ix_api_calls_connection_api_at", "connection", "api", "at"),
)

# api_calls rolled up per (connection, api, hour) before the raw rows are pruned: a year of usage at a
# bounded size (ferry.store.rollup). Rolled hours are final; later hours are read from api_calls.
api_usage_hourly = sa.Table(
    "api_usage_hourly",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("api", sa.String(200), primary_key=True),
    # the hour's start, UTC
    sa.Column("hour", UTCDateTime, primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("metered", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("throttles", sa.Integer, nullable=False),
    sa.Column("latency_sum_ms", sa.Float, nullable=False),
    # {error code or status: calls}, for calls that were not ok
    sa.Column("errors_by_code", sa.JSON, nullable=False),
    # {status: calls}: ok, retry, slow_down, reauthenticate...
    sa.Column("by_status", sa.JSON, nullable=False),
    # calls per latency bucket (ferry.store.rollup.LATENCY_BUCKETS_MS, the last one unbounded)
    sa.Column("latency_buckets", sa.JSON, nullable=False),
    sa.Index("ix_api_usage_hourly_hour", "hour"),
)

#: every move of a record, written with the id the statement that moved it returned (records are never
#: deleted). No foreign key (0007): its check per event cost a third of storing a page on PostgreSQL.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("record_id", BigId, nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    # a run's timeline: transitions while it lasted (0003)
    sa.Index("ix_events_at", "at"),
)

# --- alerts (ferry.observe.alerts): state that must survive a restart and be shared by processes ---

# One row per alert fingerprint (rule + labels): firing or resolved, and what was announced of it.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("group_key", sa.String(400), nullable=False, index=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    # 'silenced' or 'inhibited' while muted: kept firing, not announced
    sa.Column("muted", sa.String(20), nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    # when this firing was announced, and when its end was; null = not yet
    sa.Column("notified_at", UTCDateTime, nullable=True),
    sa.Column("resolved_notified_at", UTCDateTime, nullable=True),
    sa.Index("ix_alerts_state", "state"),
)

# One message to one channel. dedup_key is unique, so two processes planning the same message insert
# it once; a sender claims a row (conditional update) before it sends.
alert_notifications = sa.Table(
    "alert_notifications",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("dedup_key", sa.String(200), nullable=False, unique=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("group_key", sa.String(400), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    # pending | sending | sent | failed (retry at next_attempt_at) | dead | merged (into a digest)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("claimed_at", UTCDateTime, nullable=True),
    sa.Column("claim_until", UTCDateTime, nullable=True),
    sa.Column("merged_into", BigId, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Index("ix_alert_notifications_channel_status", "channel", "status"),
    sa.Index("ix_alert_notifications_channel_claimed_at", "channel", "claimed_at"),
)

# Every attempt to deliver a notification: the per-channel delivery log.
alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("notification_id", BigId, nullable=False, index=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Index("ix_alert_deliveries_channel_at", "channel", "at"),
)

# Time-boxed matchers: an alert whose labels hold every matcher is not announced until ends_at.
alert_silences = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("matchers", sa.JSON, nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False, index=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default="", server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# What a checked record adds to its scheme's history (ferry.quality): denormalised keys, so a duplicate,
# reference or payee check is one indexed lookup however long the history. Replaced when the record is
# checked again; gone with the record.
quality_facts = sa.Table(
    "quality_facts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "record_id", BigId, sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("scheme", sa.String(200), nullable=False),
    # payment (key: payee + amount), reference (normalised number), unique:<rule> (the rule's value)
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("key", sa.String(400), nullable=False),
    # the business date (payment) or the check time (unique rules)
    sa.Column("at", UTCDateTime, nullable=True),
    # set on payment facts only
    sa.Column("payee", sa.String(200), nullable=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=True),
    sa.Column("account", sa.String(200), nullable=True),
    sa.Column("summary", sa.String(200), nullable=True),
    sa.Index("ix_quality_facts_lookup", "scheme", "kind", "key", "at"),
    sa.Index(
        "ix_quality_facts_payee",
        "scheme",
        "payee",
        "record_id",
        postgresql_where=sa.text("payee IS NOT NULL"),
        sqlite_where=sa.text("payee IS NOT NULL"),
    ),
    sa.Index(
        "ix_quality_facts_account",
        "scheme",
        "payee",
        "account",
        postgresql_where=sa.text("payee IS NOT NULL"),
        sqlite_where=sa.text("payee IS NOT NULL"),
    ),
)

# Every finding ever made about a record (warn, block, error), and what a person decided about a hold.
findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "record_id", BigId, sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("scheme", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("verdict", sa.String(10), nullable=False),
    sa.Column("severity", sa.String(12), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    # the values looked at and the ledger ids of the records matched
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("payee", sa.String(200), nullable=True),
    # released or rejected, by whom, when and why (a hold's verdict)
    sa.Column("resolution", sa.String(20), nullable=True),
    sa.Column("resolved_by", sa.String(200), nullable=True),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("resolved_reason", sa.Text, nullable=True),
    sa.Index("ix_findings_scheme_at", "scheme", "at"),
    sa.Index("ix_findings_at", "at"),
)
