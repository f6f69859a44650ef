"""Sending notifications once, within each channel's limit: claim, digest, finish, and the delivery log.

Contract notes:
- A notification is sent only by the process that claimed it: :meth:`Outbox.claim` moves it to ``sending``
  under one owner with a claim deadline, in a transaction that no other claim on the channel runs beside
  (SQLite ``BEGIN IMMEDIATE``; on PostgreSQL a per-channel advisory lock). :meth:`Outbox.finish` applies
  only while the owner still holds the claim.
- A claim whose deadline passed (its process died mid-send) is due again; the message's id (DingTalk's
  ``msgUuid``) is the notification's, so a robot that got the first copy takes the second as the same.
- The minute budget counts the channel's delivery attempts in the last 60 s and the live claims. When more
  is due than the budget allows, all but one slot go out one by one and the rest become one digest
  (status ``merged``, ``merged_into`` the digest), so nothing is dropped and the limit is never passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ferry.observe.alerts.lifecycle import AlertBook
from ferry.store.schema import alert_deliveries, alert_notifications

#: attempts before a notification is given up (dead); back-off 10 s, 40 s, 160 s, ... at most 10 min
MAX_ATTEMPTS = 8
CLAIM_S = 60.0


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    kind: str
    body: dict[str, Any]
    attempts: int

    @property
    def message_id(self) -> str:
        """Stable across retries and processes: the robot's idempotency key."""
        return f"ferry-{self.id}-{hashlib.sha256(str(self.id).encode()).hexdigest()[:12]}"


def backoff(attempts: int) -> float:
    return float(min(600, 10 * 4 ** max(0, attempts - 1)))


class Outbox:
    def __init__(self, book: AlertBook) -> None:
        self.book = book

    def claim(self, channel: str, owner: str, per_minute: int, now: dt.datetime) -> list[Claimed]:
        """Claim what may go out now on ``channel`` (folding the overflow into one digest)."""
        n, d = alert_notifications.c, alert_deliveries.c
        minute_ago = now - dt.timedelta(seconds=60)
        with self.book.locked(zlib.crc32(channel.encode())) as conn:
            attempts = conn.execute(
                sa.select(sa.func.count()).where(d.channel == channel, d.at > minute_ago)
            ).scalar_one()
            live = conn.execute(
                sa.select(sa.func.count()).where(
                    n.channel == channel, n.status == "sending", n.claim_until > now
                )
            ).scalar_one()
            budget = per_minute - int(attempts) - int(live)
            if budget <= 0:
                return []
            due = conn.execute(
                sa.select(alert_notifications)
                .where(
                    n.channel == channel,
                    sa.or_(
                        sa.and_(n.status.in_(("pending", "failed")), n.next_attempt_at <= now),
                        sa.and_(n.status == "sending", n.claim_until <= now),
                    ),
                )
                .order_by(n.id)
                .limit(5000)
            ).all()
            if not due:
                return []
            chosen = list(due)
            if len(due) > budget:
                chosen = list(due[: budget - 1])
                chosen.append(self._digest(conn, channel, due[budget - 1 :], now))
            ids = [r.id for r in chosen]
            conn.execute(
                sa.update(alert_notifications)
                .where(n.id.in_(ids))
                .values(
                    status="sending",
                    claimed_by=owner[:200],
                    claimed_at=now,
                    claim_until=now + dt.timedelta(seconds=CLAIM_S),
                    attempts=n.attempts + 1,
                )
            )
        return [Claimed(r.id, channel, r.kind, r.body, r.attempts + 1) for r in chosen]

    def _digest(self, conn: sa.Connection, channel: str, rows: Any, now: dt.datetime) -> Any:
        parts: list[dict[str, Any]] = []
        for r in rows:
            parts.extend(r.body.get("parts", [r.body]) if r.kind == "digest" else [r.body])
        ids = [r.id for r in rows]
        body = {
            "title": f"{len(parts)} alert messages in one digest",
            "kind": "digest",
            "severity": max(
                (p.get("severity", "info") for p in parts), key=["info", "warning", "critical"].index
            ),
            "parts": parts,
            "link": parts[0].get("link"),
        }
        key = hashlib.sha256(f"digest:{channel}:{ids}".encode()).hexdigest()
        digest_id = conn.execute(
            sa.insert(alert_notifications)
            .values(
                dedup_key=key,
                channel=channel,
                group_key="digest",
                kind="digest",
                body=body,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .returning(alert_notifications.c.id)
        ).scalar_one()
        n = alert_notifications.c
        conn.execute(
            sa.update(alert_notifications).where(n.id.in_(ids)).values(status="merged", merged_into=digest_id)
        )
        return conn.execute(sa.select(alert_notifications).where(n.id == digest_id)).one()

    def finish(
        self,
        claimed: Claimed,
        owner: str,
        *,
        ok: bool,
        error: str | None,
        latency_ms: float,
        now: dt.datetime,
        retry_after: float | None = None,
    ) -> str:
        """Record the attempt and settle the notification: sent, failed (retried later) or dead."""
        n = alert_notifications.c
        if ok:
            values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
        elif claimed.attempts >= MAX_ATTEMPTS:
            values = {"status": "dead", "last_error": error}
        else:
            wait = retry_after if retry_after is not None else backoff(claimed.attempts)
            values = {
                "status": "failed",
                "last_error": error,
                "next_attempt_at": now + dt.timedelta(seconds=wait),
            }
        with self.book.locked(zlib.crc32(claimed.channel.encode())) as conn:
            conn.execute(
                sa.insert(alert_deliveries).values(
                    notification_id=claimed.id,
                    channel=claimed.channel,
                    at=now,
                    ok=ok,
                    error=error,
                    latency_ms=latency_ms,
                )
            )
            done = conn.execute(
                sa.update(alert_notifications)
                .where(n.id == claimed.id, n.status == "sending", n.claimed_by == owner[:200])
                .values(claim_until=None, **values)
            )
        return str(values["status"]) if done.rowcount else "lost"

    def log_attempt(
        self, channel: str, *, ok: bool, error: str | None, latency_ms: float, now: dt.datetime
    ) -> None:
        """Log a send outside the outbox (``ferry alerts test``) in the channel's delivery log (notification 0)."""
        with self.book.locked(zlib.crc32(channel.encode())) as conn:
            conn.execute(
                sa.insert(alert_deliveries).values(
                    notification_id=0, channel=channel, at=now, ok=ok, error=error, latency_ms=latency_ms
                )
            )

    # ------------------------------------------------------------------ reads
    def notifications(self, *, channel: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        n = alert_notifications.c
        query = sa.select(alert_notifications).order_by(n.id.desc()).limit(limit)
        if channel:
            query = query.where(n.channel == channel)
        with self.book.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def deliveries(self, *, channel: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        d = alert_deliveries.c
        query = sa.select(alert_deliveries).order_by(d.id.desc()).limit(limit)
        if channel:
            query = query.where(d.channel == channel)
        with self.book.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


__all__ = ["MAX_ATTEMPTS", "Claimed", "Outbox", "backoff"]
