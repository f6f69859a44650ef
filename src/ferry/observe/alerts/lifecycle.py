"""An alert's life in the ledger, as Alertmanager lives it: fire, group, wait, announce, repeat, resolve.

Contract notes:
- :meth:`AlertBook.sync` and :meth:`AlertBook.plan` each run in one write transaction under one lock
  (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction lock on PostgreSQL), so two processes ticking
  at once take turns: the second sees what the first marked and plans nothing twice.
- A notification is planned once per group and change: the alerts it announces are marked
  (``notified_at``, ``resolved_notified_at``) in the same transaction that inserts it, and its
  ``dedup_key`` is unique besides. A restart therefore neither forgets a firing alert (it is a row) nor
  announces it again (it is marked).
- Muted alerts (a silence, or an inhibiting alert firing) stay firing and are not announced; when the
  mute ends they are announced like new ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ferry.observe.alerts import metrics
from ferry.observe.alerts.evaluator import Firing
from ferry.observe.alerts.message import compose, ident
from ferry.observe.alerts.rules import DEFAULT_TIMING, Rules
from ferry.store import Ledger
from ferry.store.db import write_engine
from ferry.store.schema import alert_deliveries, alert_notifications, alert_silences, alerts

# one number for every alert bookkeeping transaction on PostgreSQL (pg_advisory_xact_lock)
_PG_LOCK = 0x0F3E2A1E


class AlertBook:
    """The alerts, silences and planned notifications of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.engine = ledger.engine
        self._writer = write_engine(ledger.engine)
        self._pg = self.engine.dialect.name == "postgresql"

    @contextmanager
    def locked(self, key: int = _PG_LOCK) -> Iterator[sa.Connection]:
        """One write transaction that no other alert bookkeeping runs beside."""
        with self._writer.begin() as conn:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            yield conn

    # ------------------------------------------------------------------ sync
    def sync(
        self, firings: Sequence[Firing], rules: Rules, now: dt.datetime, *, unknown: Iterable[str] = ()
    ) -> dict[str, int]:
        """Store what holds now: new alerts fire, gone ones resolve, muted ones are marked so. The alerts of
        the ``unknown`` rules (their read failed this time) are left as they are, not resolved."""
        unsure = set(unknown)
        current = {f.fingerprint: f for f in firings}
        with self.locked() as conn:
            silences = self._active_silences(conn, now)
            muted = _mutes(firings, rules, silences)
            a = alerts.c
            stored = {
                r.fingerprint: r
                for r in conn.execute(
                    sa.select(a.fingerprint, a.rule, a.state, a.muted, a.summary).where(a.state == "firing")
                )
            }
            for chunk in _chunks([fp for fp in current if fp not in stored]):
                for r in conn.execute(
                    sa.select(a.fingerprint, a.rule, a.state, a.muted, a.summary).where(
                        a.fingerprint.in_(chunk)
                    )
                ):
                    stored[r.fingerprint] = r
            inserts, refire, changed = [], [], []
            for fp, f in current.items():
                row = stored.get(fp)
                values = {
                    "summary": f.summary[:2000],
                    "detail": f.detail,
                    "muted": muted.get(fp),
                    "labels": f.labels,
                    "severity": f.rule.severity,
                    "group_key": f.group_key,
                }
                if row is None:
                    inserts.append(
                        {
                            "fingerprint": fp,
                            "rule": f.rule.name,
                            "state": "firing",
                            "started_at": now,
                            "last_seen_at": now,
                            **values,
                        }
                    )
                elif row.state != "firing":
                    refire.append(
                        {
                            "fp": fp,
                            "state": "firing",
                            "started_at": now,
                            "last_seen_at": now,
                            "resolved_at": None,
                            "notified_at": None,
                            "resolved_notified_at": None,
                            **values,
                        }
                    )
                elif row.summary != values["summary"] or row.muted != values["muted"]:
                    changed.append({"fp": fp, "last_seen_at": now, **values})
            if inserts:
                conn.execute(sa.insert(alerts), inserts)
            for batch in (refire, changed):
                if batch:
                    keys = [k for k in batch[0] if k != "fp"]
                    conn.execute(
                        sa.update(alerts)
                        .where(a.fingerprint == sa.bindparam("fp"))
                        .values({k: sa.bindparam(k) for k in keys}),
                        batch,
                    )
            gone = [
                fp
                for fp, r in stored.items()
                if r.state == "firing" and fp not in current and r.rule not in unsure
            ]
            for chunk in _chunks(gone):
                conn.execute(
                    sa.update(alerts)
                    .where(a.fingerprint.in_(chunk))
                    .values(state="resolved", resolved_at=now)
                )
        for started in [*(str(i["fingerprint"]) for i in inserts), *(str(r["fp"]) for r in refire)]:
            metrics.FIRED.labels(current[started].rule.name).inc()
        for ended in gone:
            metrics.RESOLVED.labels(stored[ended].rule).inc()
        return {"new": len(inserts) + len(refire), "resolved": len(gone), "firing": len(current)}

    # ------------------------------------------------------------------ plan
    def plan(self, rules: Rules, channels: Sequence[str], now: dt.datetime) -> int:
        """Insert the notifications that are due (one per group and channel); returns how many."""
        a = alerts.c
        by_name = {r.name: r for r in rules.rules}
        planned = 0
        with self.locked() as conn:
            rows = conn.execute(
                sa.select(alerts).where(
                    sa.or_(
                        a.state == "firing",
                        sa.and_(a.state == "resolved", a.resolved_notified_at.is_(None)),
                    )
                )
            ).all()
            groups: dict[str, list[Any]] = defaultdict(list)
            for r in rows:
                groups[r.group_key].append(r)
            for key, members in sorted(groups.items()):
                rule = by_name.get(members[0].rule)
                timing: Mapping[str, Any] = rule.model_dump() if rule else DEFAULT_TIMING
                firing = [r for r in members if r.state == "firing" and r.muted is None]
                new = [r for r in firing if r.notified_at is None]
                ended = [r for r in members if r.state == "resolved"]
                # an end is announced only if its start was, and it did not end while muted
                told = [r for r in ended if r.notified_at is not None and r.muted is None]
                marks = [t for r in members for t in (r.notified_at, r.resolved_notified_at) if t is not None]
                last = max(marks) if marks else None
                kind: str | None = None
                if new:
                    start = min(r.started_at for r in new)
                    due = (
                        start + _s(timing["group_wait"])
                        if last is None
                        else last + _s(timing["group_interval"])
                    )
                    kind = "firing" if now >= due else None
                elif told and timing["send_resolved"] and last is not None:
                    kind = "resolved" if now >= last + _s(timing["group_interval"]) else None
                elif firing and last is not None and now >= last + _s(timing["repeat_interval"]):
                    kind = "repeat"
                if ended:
                    # ends no one was told of the start of, or that are not to be announced: closed quietly
                    quiet = [
                        r.fingerprint
                        for r in ended
                        if r.notified_at is None or r.muted is not None or not timing["send_resolved"]
                    ]
                    if quiet:
                        conn.execute(
                            sa.update(alerts).where(a.fingerprint.in_(quiet)).values(resolved_notified_at=now)
                        )
                if kind is None:
                    continue
                announced = told if timing["send_resolved"] else []
                body = compose(kind, key, firing, new, announced, rules.console_url)
                targets = (rule.channels if rule and rule.channels is not None else None) or list(channels)
                key_of = ident(key, kind, firing, announced, now, _s(timing["repeat_interval"]))
                for channel in targets:
                    planned += self._insert(conn, channel, key, kind, body, f"{key_of}:{channel}", now)
                if firing:
                    conn.execute(
                        sa.update(alerts)
                        .where(a.fingerprint.in_([r.fingerprint for r in firing]))
                        .values(notified_at=now)
                    )
                if announced:
                    conn.execute(
                        sa.update(alerts)
                        .where(a.fingerprint.in_([r.fingerprint for r in announced]))
                        .values(resolved_notified_at=now)
                    )
        return planned

    def _insert(
        self,
        conn: sa.Connection,
        channel: str,
        key: str,
        kind: str,
        body: dict[str, Any],
        dedup: str,
        now: dt.datetime,
    ) -> int:
        values = {
            "dedup_key": hashlib.sha256(dedup.encode()).hexdigest(),
            "channel": channel,
            "group_key": key,
            "kind": kind,
            "body": body,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        if self._pg:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(alert_notifications).values(values).on_conflict_do_nothing()
        else:
            stmt = sa.insert(alert_notifications).values(values).prefix_with("OR IGNORE")
        # rowcount of an ignored conflict differs by driver; a returned id does not
        return 1 if conn.execute(stmt.returning(alert_notifications.c.id)).first() is not None else 0

    # ------------------------------------------------------------------ silences
    def silence(
        self,
        matchers: Mapping[str, str],
        ends_at: dt.datetime,
        *,
        by: str,
        comment: str = "",
        now: dt.datetime,
    ) -> int:
        """Mute alerts whose labels hold every matcher until ``ends_at``; returns the silence's id."""
        if not matchers:
            raise ValueError("a silence needs at least one matcher (label=value)")
        with self.locked() as conn:
            return int(
                conn.execute(
                    sa.insert(alert_silences)
                    .values(
                        matchers=dict(matchers),
                        starts_at=now,
                        ends_at=ends_at,
                        created_by=by[:200],
                        comment=comment,
                        created_at=now,
                    )
                    .returning(alert_silences.c.id)
                ).scalar_one()
            )

    def unsilence(self, silence_id: int, *, now: dt.datetime) -> bool:
        """End a silence now; False when there is no such silence still running."""
        s = alert_silences.c
        with self.locked() as conn:
            done = conn.execute(
                sa.update(alert_silences).where(s.id == silence_id, s.ends_at > now).values(ends_at=now)
            )
        return bool(done.rowcount)

    def silences(self, now: dt.datetime, *, active_only: bool = True) -> list[dict[str, Any]]:
        s = alert_silences.c
        query = sa.select(alert_silences).order_by(s.id.desc()).limit(200)
        if active_only:
            query = query.where(s.ends_at > now, s.starts_at <= now)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def _active_silences(self, conn: sa.Connection, now: dt.datetime) -> list[dict[str, Any]]:
        s = alert_silences.c
        return [
            dict(r._mapping)
            for r in conn.execute(sa.select(alert_silences).where(s.ends_at > now, s.starts_at <= now))
        ]

    # ------------------------------------------------------------------ retention
    def prune(self, older_than: dt.datetime) -> int:
        """Forget what ended before ``older_than``: resolved and announced alerts, settled notifications,
        their delivery attempts, ended silences. Firing alerts and unsent notifications are kept."""
        a, n, s = alerts.c, alert_notifications.c, alert_silences.c
        d = alert_deliveries.c
        with self.locked() as conn:
            gone = conn.execute(
                sa.delete(alerts).where(a.state == "resolved", a.resolved_notified_at < older_than)
            ).rowcount
            gone += conn.execute(
                sa.delete(alert_notifications).where(
                    n.status.in_(("sent", "dead", "merged")), n.created_at < older_than
                )
            ).rowcount
            gone += conn.execute(sa.delete(alert_deliveries).where(d.at < older_than)).rowcount
            gone += conn.execute(sa.delete(alert_silences).where(s.ends_at < older_than)).rowcount
        return int(gone)

    # ------------------------------------------------------------------ reads
    def list_alerts(self, state: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        a = alerts.c
        query = sa.select(alerts).order_by(a.started_at.desc()).limit(limit)
        if state == "silenced":
            query = query.where(a.state == "firing", a.muted.is_not(None))
        elif state is not None:
            query = query.where(a.state == state)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def _s(seconds: Any) -> dt.timedelta:
    return dt.timedelta(seconds=float(seconds))


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in matchers.items())


def _mutes(firings: Sequence[Firing], rules: Rules, silences: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """fingerprint -> 'silenced' or 'inhibited' for the alerts not to announce now."""
    out: dict[str, str] = {}
    for f in firings:
        if any(_matches(s["matchers"], f.labels) for s in silences):
            out[f.fingerprint] = "silenced"
    for inhibit in rules.inhibit:
        sources = [f for f in firings if f.rule.name == inhibit.source and f.fingerprint not in out]
        if not sources:
            continue
        for f in firings:
            if f.rule.name in inhibit.targets and f.fingerprint not in out:
                for src in sources:
                    if all(k in src.labels and src.labels.get(k) == f.labels.get(k) for k in inhibit.equal):
                        out[f.fingerprint] = "inhibited"
                        break
    return out


__all__ = ["AlertBook"]
