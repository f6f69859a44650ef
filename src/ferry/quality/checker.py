"""One scheme's rules and checks over a batch of records: what the engine calls before any target call.

Order per batch: each record's own rules; then every record's facts are stored at once (so concurrent
workers see each other, see :mod:`.history`); then each record's history checks; then the findings are
stored. A rule or check a person already released for a record only warns when it is made again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ferry import expr
from ferry.errors import StoreError
from ferry.quality.anomaly import Payment, PaymentChecks
from ferry.quality.config import ChecksSpec, RuleSpec
from ferry.quality.history import BatchHistory, Fact, History, PayeeMemory
from ferry.quality.rules import compile_rules, why
from ferry.quality.verdict import Assessment, Finding

#: takes a batch's findings to store, by record id (``Finding.as_dict()`` plus ``payee``)
FindingsSink = Callable[[dict[int, list[dict[str, Any]]]], None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch's own-rule findings, payments and facts, by record id (see :meth:`Checker.prepare`)."""

    own: dict[int, list[Finding]]
    payments: dict[int, Payment]
    facts: dict[int, list[Fact]]


class Checker:
    """Compiled ``quality:`` rules and ``checks:`` of one scheme."""

    def __init__(
        self,
        scheme_id: str,
        rules: Sequence[RuleSpec],
        checks: ChecksSpec | None,
        *,
        tz: ZoneInfo,
        history: History | None = None,
    ) -> None:
        self.scheme_id = scheme_id
        self.rules = compile_rules(rules, tz)
        self.payments = PaymentChecks(checks, tz) if checks is not None else None
        self.history = history
        self._unique = [r for r in self.rules if r.needs_history]
        self._memory = PayeeMemory()

    @property
    def uses_history(self) -> bool:
        return self.history is not None and (self.payments is not None or bool(self._unique))

    @property
    def active(self) -> bool:
        return bool(self.rules) or self.payments is not None

    def rules_only(self, content: Mapping[str, Any], ctx: expr.Context, now: dt.datetime) -> Assessment:
        """The record's own rules, without history (to rebuild a request for the probe)."""
        return Assessment.of([f for r in self.rules if (f := r.evaluate(content, ctx, now)) is not None])

    def prepare(
        self, items: Sequence[tuple[int, Mapping[str, Any]]], ctx: expr.Context, now: dt.datetime
    ) -> Prepared:
        """Each record's own rules and the facts it adds to history, before any history is read (never
        raises for a record's content). Dispatch calls it inside the claim, whose transaction stores
        the facts (:meth:`ferry.store.Ledger.claim`), then hands it to :meth:`assess`."""
        own: dict[int, list[Finding]] = {}
        payments: dict[int, Payment] = {}
        facts: dict[int, list[Fact]] = {}
        for record_id, content in items:
            found = [f for r in self.rules if (f := r.evaluate(content, ctx, now)) is not None]
            own[record_id] = found
            if any(f.effect == "quarantine" for f in found) or not self.uses_history:
                continue  # an invalid record adds nothing to history: it is not paid
            record_facts: list[Fact] = []
            if self.payments is not None:
                try:
                    p = self.payments.payment(content)
                except Exception as e:  # reading a value must never stop the batch
                    found.append(_error("payment", e))
                    continue
                payments[record_id] = p
                record_facts += self.payments.facts(p)
            for rule in self._unique:
                if rule.applies(content, ctx) and (key := rule.unique_key(content)) is not None:
                    record_facts.append(Fact(kind=f"unique:{rule.name}", key=key, at=now))
            facts[record_id] = record_facts
        return Prepared(own, payments, facts)

    def assess(
        self,
        items: Sequence[tuple[int, Mapping[str, Any]]],
        ctx: expr.Context,
        now: dt.datetime,
        *,
        prepared: Prepared | None = None,
        keep: FindingsSink | None = None,
    ) -> dict[int, Assessment]:
        """Every record's assessment; facts and findings are stored on the way (raises StoreError when
        the ledger cannot be reached: nobody's record's fault, the batch is retried). ``prepared``: what
        :meth:`prepare` made of some of the items, their facts already stored; the rest are prepared
        and their facts stored now. ``keep`` takes the findings to store instead of the history (dispatch
        stores them with the batch's outcomes)."""
        done = prepared if prepared is not None else Prepared({}, {}, {})
        fresh = self.prepare([(rid, c) for rid, c in items if rid not in done.own], ctx, now)
        own = {rid: list(done.own[rid]) if rid in done.own else fresh.own[rid] for rid, _ in items}
        payments = {rid: p for part in (done, fresh) for rid, p in part.payments.items() if rid in own}
        facts = {rid: fs for part in (done, fresh) for rid, fs in part.facts.items() if rid in own}
        if self.history is None:
            return {rid: Assessment.of(found) for rid, found in own.items()}
        if not self.uses_history:
            return self._kept(own, payments, keep)
        history = self.history
        if fresh.facts:
            history.note_facts(self.scheme_id, fresh.facts)
        view = BatchHistory(history, self.scheme_id, own, self._memory)
        if self.payments is not None:
            self.payments.prefetch(view, payments)
        for rule in self._unique:
            keys = {f.key for fs in facts.values() for f in fs if f.kind == f"unique:{rule.name}"}
            view.prefetch(f"unique:{rule.name}", keys, since=now - dt.timedelta(days=rule.spec.window_days))
        contents = dict(items)
        for record_id in facts:
            found = own[record_id]
            try:
                if record_id in payments and self.payments is not None:
                    found += self.payments.check(record_id, contents[record_id], payments[record_id], view)
                found += self._unique_findings(record_id, contents[record_id], ctx, now, view)
            except StoreError:
                raise
            except Exception as e:  # one record's check failure is that record's
                found.append(_error("checks", e))
        return self._kept(own, payments, keep)

    def _kept(
        self, own: dict[int, list[Finding]], payments: Mapping[int, Payment], keep: FindingsSink | None
    ) -> dict[int, Assessment]:
        """The assessments: a hold a person released before only warns; the findings are stored (every
        finding ever made shows in the record's story)."""
        assert self.history is not None
        holding = [rid for rid, found in own.items() if any(f.effect == "hold" for f in found)]
        released = self.history.released_rules(holding) if holding else {}
        for rid, rules in released.items():
            own[rid] = [_released(f) if f.rule in rules and f.effect == "hold" else f for f in own[rid]]
        assessments = {rid: Assessment.of(found) for rid, found in own.items()}
        stored = {
            rid: [
                {**f.as_dict(), "payee": payments[rid].payee if rid in payments else None} for f in a.findings
            ]
            for rid, a in assessments.items()
            if a.findings
        }
        if stored and keep is not None:
            keep(stored)
        elif stored:
            self.history.store_findings(self.scheme_id, stored)
        return assessments

    def _unique_findings(
        self,
        record_id: int,
        content: Mapping[str, Any],
        ctx: expr.Context,
        now: dt.datetime,
        view: BatchHistory,
    ) -> list[Finding]:
        out: list[Finding] = []
        for rule in self._unique:
            if not rule.applies(content, ctx) or (key := rule.unique_key(content)) is None:
                continue
            since = now - dt.timedelta(days=rule.spec.window_days)
            same = view.matches(f"unique:{rule.name}", [key], record_id, since=since)
            if same:
                finding = rule.failure(content, ctx, {"value": key, "other": same[0].record_id})
                out.append(_with_matches(finding, tuple(m.record_id for m in same)))
            else:
                out.append(rule.passed({"value": key}))
        return out


def _with_matches(f: Finding, matched: tuple[int, ...]) -> Finding:
    return Finding(f.rule, f.kind, f.verdict, f.severity, f.message, f.values, matched)


def _released(f: Finding) -> Finding:
    return Finding(
        f.rule, f.kind, "warn", "warn", f"{f.message} (released for review before)", f.values, f.matched
    )


def _error(what: str, e: Exception) -> Finding:
    return Finding(what, what, "error", "block", f"the {what} check could not be made: {why(e)}")


__all__ = ["Checker", "Prepared"]
