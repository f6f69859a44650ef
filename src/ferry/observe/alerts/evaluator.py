"""What is wrong right now: each rule kind is one read of the ledger that returns the alerts it sees.

An evaluation is stateless: it says which alerts hold at ``now``; :mod:`.lifecycle` turns that into
firing, repeating and resolved. Every query is bounded (a window, a LIMIT), so a ledger of millions of
records costs a few indexed reads per tick.

"A limiter held at its floor" is not here: the limiters live in memory and the ledger records no floor,
so there is nothing to read (docs/alerts.md says so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from ferry.observe.alerts.rules import Rule, Rules
from ferry.observe.redact import redact
from ferry.store import Ledger
from ferry.store.schema import api_calls, records, runs

#: records listed in one alert at most (the link to the console lists them all)
MAX_RECORDS = 1000


@dataclass(frozen=True)
class Firing:
    """An alert that holds now: its rule, labels (which make its fingerprint), words and records."""

    rule: Rule
    labels: dict[str, str]
    summary: str
    #: records: [{"scheme", "source_id", "number", "status", "reason"}], link: the console's list
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def group_key(self) -> str:
        return group_key(self.rule, self.labels)


def fingerprint(labels: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:32]


def group_key(rule: Rule, labels: Mapping[str, str]) -> str:
    return "|".join(f"{k}={labels.get(k, '')}" for k in rule.group_by)[:400]


def records_link(console_url: str, **query: str) -> str:
    return f"{console_url}/records?{urlencode({k: v for k, v in query.items() if v})}"


Check = Callable[[Ledger, Rule, Rules, dt.datetime, Mapping[str, float]], list[Firing]]


def evaluate(
    ledger: Ledger,
    rules: Rules,
    now: dt.datetime,
    intervals: Mapping[str, float] | None = None,
    failed: dict[str, str] | None = None,
) -> list[Firing]:
    """Every alert that holds at ``now``, over all enabled rules.

    A rule whose read fails is left out and named in ``failed`` (rule -> error): the others still count,
    and the caller must not take its missing alerts as resolved."""
    out: list[Firing] = []
    for rule in rules.rules:
        try:
            out.extend(CHECKS[rule.kind](ledger, rule, rules, now, intervals or {}))
        except Exception as e:
            if failed is None:
                raise
            failed[rule.name] = redact(f"rule {rule.name}: {type(e).__name__}: {e}")[:500]
    return out


def _labels(rule: Rule, **values: str) -> dict[str, str]:
    return {**rule.labels, "rule": rule.name, **values}


def _scheme_ok(rule: Rule, scheme: str) -> bool:
    return rule.schemes is None or scheme in rule.schemes


def _record(row: Any) -> dict[str, Any]:
    return {
        "scheme": row.scheme,
        "source_id": row.source_id,
        "number": row.number,
        "status": row.status,
        "reason": (row.reason or row.last_error_message or "")[:200],
    }


_RECORD_COLS = (
    records.c.scheme,
    records.c.source_id,
    records.c.number,
    records.c.status,
    records.c.reason,
    records.c.last_error_message,
)


def _record_dead(ledger: Ledger, rule: Rule, rules: Rules, now: dt.datetime, _: Any) -> list[Firing]:
    """One alert per record that went dead or was quarantined within the window."""
    c = records.c
    since = now - dt.timedelta(seconds=rule.window or 86400)
    query = (
        sa.select(*_RECORD_COLS, c.updated_at)
        .where(c.status.in_(("dead", "quarantined")), c.updated_at >= since)
        .order_by(c.id)
        .limit(MAX_RECORDS * 5)
    )
    out = []
    with ledger.engine.connect() as conn:
        for row in conn.execute(query):
            if not _scheme_ok(rule, row.scheme):
                continue
            rec = _record(row)
            what = "went dead" if row.status == "dead" else "was quarantined"
            out.append(
                Firing(
                    rule,
                    _labels(rule, scheme=row.scheme, record=row.source_id),
                    f"{row.scheme}: record {row.source_id} {what}: {rec['reason']}",
                    {
                        "records": [rec],
                        "link": records_link(rules.console_url, scheme=row.scheme, status=row.status),
                    },
                )
            )
    return out


def _failure_rate(ledger: Ledger, rule: Rule, rules: Rules, now: dt.datetime, _: Any) -> list[Firing]:
    """A scheme whose records touched in the window mostly fail (failed, dead, in doubt)."""
    c = records.c
    since = now - dt.timedelta(seconds=rule.window or 900)
    failing = ("failed", "dead", "in_doubt")
    counts = (
        sa.select(c.scheme, c.status, sa.func.count())
        .where(c.updated_at >= since, c.status.in_((*failing, "written")))
        .group_by(c.scheme, c.status)
    )
    by_scheme: dict[str, dict[str, int]] = {}
    out = []
    with ledger.engine.connect() as conn:
        for scheme, status, n in conn.execute(counts):
            by_scheme.setdefault(scheme, {})[status] = int(n)
        for scheme, n in sorted(by_scheme.items()):
            bad = sum(n.get(s, 0) for s in failing)
            total = bad + n.get("written", 0)
            if (
                not _scheme_ok(rule, scheme)
                or bad < (rule.min_count or 1)
                or bad / total < (rule.threshold or 0.5)
            ):
                continue
            rows = conn.execute(
                sa.select(*_RECORD_COLS)
                .where(c.scheme == scheme, c.updated_at >= since, c.status.in_(failing))
                .order_by(c.id)
                .limit(MAX_RECORDS)
            ).all()
            minutes = round((rule.window or 900) / 60)
            out.append(
                Firing(
                    rule,
                    _labels(rule, scheme=scheme),
                    f"{scheme}: {bad} of {total} records failed in the last {minutes} min",
                    {
                        "records": [_record(r) for r in rows],
                        "count": bad,
                        "link": records_link(rules.console_url, scheme=scheme, status="failed"),
                    },
                )
            )
    return out


def _scheme_late(
    ledger: Ledger, rule: Rule, rules: Rules, now: dt.datetime, intervals: Mapping[str, float]
) -> list[Firing]:
    """A scheme with an interval whose last successful pass is older than ``factor`` intervals."""
    c = runs.c
    out = []
    with ledger.engine.connect() as conn:
        for scheme, interval in sorted(intervals.items()):
            if not _scheme_ok(rule, scheme):
                continue
            last = conn.execute(
                sa.select(sa.func.max(c.ended_at)).where(c.scheme == scheme, c.status == "ok")
            ).scalar()
            first = conn.execute(sa.select(sa.func.min(c.started_at)).where(c.scheme == scheme)).scalar()
            since = last or first
            late = (rule.factor or 3) * interval
            if since is not None and (now - since).total_seconds() > late:
                ago = round((now - since).total_seconds() / 60)
                out.append(
                    Firing(
                        rule,
                        _labels(rule, scheme=scheme),
                        f"{scheme}: no successful pass for {ago} min (it runs every {round(interval)} s)",
                        {"link": f"{rules.console_url}/runs?scheme={scheme}"},
                    )
                )
    return out


def _source_quiet(ledger: Ledger, rule: Rule, rules: Rules, now: dt.datetime, _: Any) -> list[Firing]:
    """No new source records for ``factor`` times the usual gap (and at least ``older_than``)."""
    c = records.c
    window = rule.window or 7 * 86400
    query = (
        sa.select(c.scheme, sa.func.count(), sa.func.max(c.created_at))
        .where(c.created_at >= now - dt.timedelta(seconds=window))
        .group_by(c.scheme)
    )
    out = []
    with ledger.engine.connect() as conn:
        for scheme, n, last in conn.execute(query):
            if not _scheme_ok(rule, scheme) or n < 10:
                continue  # too few records to know what is usual
            usual = window / n
            quiet = (now - last).total_seconds()
            if quiet > max((rule.factor or 5) * usual, rule.older_than or 3600):
                out.append(
                    Firing(
                        rule,
                        _labels(rule, scheme=scheme),
                        f"{scheme}: no new source records for {round(quiet / 60)} min "
                        f"(usually one every {round(usual / 60)} min)",
                        {"link": records_link(rules.console_url, scheme=scheme)},
                    )
                )
    return out


def _in_doubt_old(ledger: Ledger, rule: Rule, rules: Rules, now: dt.datetime, _: Any) -> list[Firing]:
    """Records in doubt for longer than ``older_than``: the probe has not settled them."""
    c = records.c
    cutoff = now - dt.timedelta(seconds=rule.older_than or 1800)
    query = (
        sa.select(*_RECORD_COLS)
        .where(c.status == "in_doubt", c.updated_at < cutoff)
        .order_by(c.id)
        .limit(MAX_RECORDS * 5)
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    with ledger.engine.connect() as conn:
        for row in conn.execute(query):
            if _scheme_ok(rule, row.scheme):
                grouped.setdefault(row.scheme, []).append(_record(row))
    minutes = round((rule.older_than or 1800) / 60)
    return [
        Firing(
            rule,
            _labels(rule, scheme=scheme),
            f"{scheme}: {len(recs)} records in doubt for over {minutes} min",
            {
                "records": recs[:MAX_RECORDS],
                "count": len(recs),
                "link": records_link(rules.console_url, scheme=scheme, status="in_doubt"),
            },
        )
        for scheme, recs in sorted(grouped.items())
    ]


def _auth_failing(ledger: Ledger, rule: Rule, rules: Rules, now: dt.datetime, _: Any) -> list[Firing]:
    """A connection whose recent calls ask to re-authenticate and whose last call did not succeed."""
    ledger.flush()
    c = api_calls.c
    since = now - dt.timedelta(seconds=rule.window or 600)
    out = []
    with ledger.engine.connect() as conn:
        failing = conn.execute(
            sa.select(c.connection, sa.func.count(), sa.func.max(c.at), sa.func.max(c.scheme))
            .where(c.at >= since, c.status == "reauthenticate")
            .group_by(c.connection)
        ).all()
        for connection, n, last_failure, scheme in failing:
            if n < (rule.min_count or 3) or (rule.connections and connection not in rule.connections):
                continue
            ok_after = conn.execute(
                sa.select(sa.func.count()).where(
                    c.connection == connection, c.at > last_failure, c.status == "ok"
                )
            ).scalar_one()
            if ok_after:
                continue
            labels = _labels(rule, connection=connection)
            if scheme:
                labels["scheme"] = scheme
            out.append(Firing(rule, labels, f"{connection}: authentication failing ({n} calls refused)", {}))
    return out


def _quota(ledger: Ledger, rule: Rule, rules: Rules, now: dt.datetime, _: Any) -> list[Firing]:
    """A connection's metered calls this month (DingTalk's clock: Asia/Shanghai) over a share of its allowance."""
    ledger.flush()
    c = api_calls.c
    with ledger.engine.connect() as conn:
        metered = [
            r[0]
            for r in conn.execute(
                sa.select(c.connection)
                .where(c.metered.is_(True), c.at >= now - dt.timedelta(days=32))
                .distinct()
            )
        ]
    out = []
    for connection in sorted(set(metered) | set(rules.quota)):
        if rule.connections and connection not in rule.connections:
            continue
        used = ledger.metered_this_month(connection, now=now)
        allowance = rules.allowance(connection)
        share = rule.threshold or 0.8
        if allowance > 0 and used >= share * allowance:
            out.append(
                Firing(
                    rule,
                    _labels(rule, connection=connection),
                    f"{connection}: {used} of {allowance} metered calls used this month "
                    f"({100 * used / allowance:.0f}%, over {100 * share:.0f}%)",
                    {"used": used, "allowance": allowance},
                )
            )
    return out


def _run_stalled(ledger: Ledger, rule: Rule, rules: Rules, now: dt.datetime, _: Any) -> list[Firing]:
    """A run still running long after it started (started, never ended)."""
    c = runs.c
    cutoff = now - dt.timedelta(seconds=rule.older_than or 7200)
    query = sa.select(c.id, c.scheme, c.kind, c.started_at).where(
        c.status == "running", c.started_at < cutoff
    )
    out = []
    with ledger.engine.connect() as conn:
        for run_id, scheme, kind, started in conn.execute(query.limit(100)):
            if not _scheme_ok(rule, scheme):
                continue
            out.append(
                Firing(
                    rule,
                    _labels(rule, scheme=scheme, run=str(run_id)),
                    f"{scheme}: {kind} run {run_id} started {round((now - started).total_seconds() / 60)} min "
                    "ago and has not ended",
                    {"link": f"{rules.console_url}/runs?scheme={scheme}"},
                )
            )
    return out


CHECKS: dict[str, Check] = {
    "record_dead": _record_dead,
    "failure_rate": _failure_rate,
    "scheme_late": _scheme_late,
    "source_quiet": _source_quiet,
    "in_doubt_old": _in_doubt_old,
    "auth_failing": _auth_failing,
    "quota": _quota,
    "run_stalled": _run_stalled,
}

__all__ = ["CHECKS", "Firing", "evaluate", "fingerprint", "group_key", "records_link"]
