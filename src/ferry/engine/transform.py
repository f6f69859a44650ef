"""The scheme's transformations, compiled once per run: the only place the engine touches ``ferry.expr``.

Collect side: the source request (or the omission remedy's, with its ``takeOverRequest`` fields),
then ``formatResponse`` -> ``beatFlat`` -> ``condition`` -> id and number. Dispatch side:
the target request built from ``request`` + ``otherRequest`` in written order (the quality rules and
checks before it are :mod:`ferry.quality`'s, called by dispatch).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ferry import expr
from ferry.connectors.base import RecordState, Window
from ferry.errors import FerryError, StoreError
from ferry.scheme import FieldSpec, Scheme
from ferry.store import Collected


class RenderError(FerryError):
    """The target request could not be built from a record (the reason is shown to people)."""


def to_nodes(fields: Sequence[FieldSpec]) -> list[expr.FieldNode]:
    """The scheme's (already nested) field specs as the expression language's request nodes."""
    return [
        expr.FieldNode(
            field=f.field,
            type=f.type,
            value=f.value,
            children=tuple(to_nodes(f.children)),
            parser={"name": f.parser.name, "params": f.parser.params} if f.parser else None,
            value_map=f.value_map,
            required=f.is_required,
            default=f.default,
            label=f.label,
        )
        for f in fields
    ]


def dotted(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``a.b.c``), or None; a key containing dots is tried whole first."""
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


class Transform:
    """Compiled transformations of one scheme; cheap to call per record."""

    def __init__(
        self,
        scheme: Scheme,
        *,
        lookup: expr.Lookup | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.scheme = scheme
        self.tz = ZoneInfo(scheme.timezone)
        self.lookup = lookup
        self.variables = dict(variables or {})
        src, tgt = scheme.source, scheme.target
        self._source_request = expr.compile_request(to_nodes([*src.request, *src.other_request]))
        remedy = src.omission_remedy
        self._remedy_request = (
            expr.compile_request(
                to_nodes(take_over([*src.request, *src.other_request], remedy.take_over_request))
            )
            if remedy is not None and remedy.take_over_request
            else None
        )
        self._target_request = expr.compile_request(to_nodes([*tgt.request, *tgt.other_request]))
        self._condition = (
            expr.compile_condition(
                [[t.model_dump() for t in g] for g in src.condition], strict_mode=src.strict_mode
            )
            if src.condition
            else None
        )
        self._format = (
            expr.compile_format_response([r.model_dump() for r in src.format_response])
            if src.format_response
            else None
        )
        self._ctx = self.context()

    def context(
        self, extra: Mapping[str, Any] | None = None, *, now: dt.datetime | None = None
    ) -> expr.Context:
        return expr.Context(
            variables={**self.variables, **(extra or {})},
            tz=self.tz,
            now=now,
            lookup=self.lookup,
            compat=self.scheme.compat,
        )

    # --- collect side -------------------------------------------------------------------------

    def window_variables(self, window: Window) -> dict[str, Any]:
        """``LAST_SYNC_TIME`` and ``CURRENT_TIME`` are the window's bounds, in Unix seconds."""
        return {
            "LAST_SYNC_TIME": int(window.start.timestamp()),
            "CURRENT_TIME": int(window.end.timestamp()),
            "WINDOW_START": window.start,
            "WINDOW_END": window.end,
        }

    def source_request(
        self, variables: Mapping[str, Any], *, remedy: bool = False, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """The source request for one page. ``remedy``: the omission-remedy pass, whose
        ``take_over_request`` fields (if any) replace the usual ones; ``now`` fixes ``DAYS_AGO_n``."""
        built = self._remedy_request if remedy and self._remedy_request is not None else self._source_request
        return built.build({}, self.context(variables, now=now))

    def collect_items(
        self,
        raw: Sequence[Mapping[str, Any]],
        *,
        partition: str = "",
        states: Sequence[RecordState | None] | None = None,
    ) -> list[Collected]:
        """The page's records as the ledger takes them. Each record is handled on its own: one that
        cannot be formatted, flattened, identified or filtered is quarantined with the reason, and
        the rest of the page goes on (so one bad value never holds a watermark back)."""
        items: list[Collected] = []
        for index, record in enumerate(raw):
            state = states[index] if states is not None and index < len(states) else None
            if not isinstance(record, Mapping):
                items.append(
                    self._malformed(record, partition, "the source returned a record that is not an object")
                )
                continue
            try:
                rows = self._rows(record)
            except Exception as e:  # one record's failure is that record's, whatever it is
                items.append(self._unusable(record, partition, f"cannot read the record: {_why(e)}"))
                continue
            for row in rows:
                items.append(self._collected(row, partition, state))
        return items

    def _rows(self, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``formatResponse`` then ``beatFlat``: the rows one source record becomes."""
        src = self.scheme.source
        rec = dict(record)
        if self._format is not None:
            rec = self._format(rec, self._ctx)
        return expr.beat_flat(rec, src.beat_flat, id_field=src.id) if src.beat_flat else [rec]

    def _collected(self, row: dict[str, Any], partition: str, state: RecordState | None) -> Collected:
        src = self.scheme.source
        try:
            source_id = canonical_id(dotted(row, src.id))
        except ValueError as e:
            return self._malformed(row, partition, f"record id at '{src.id}' {e}")
        if source_id is None:
            return self._malformed(row, partition, f"record has no id at '{src.id}'")
        number = dotted(row, src.number) if src.number else None
        status: Any = state.status if state else "pending"
        reason = state.reason if state else None
        if self._condition is not None and status == "pending":
            try:
                verdict = self._condition.apply(row, self._ctx)
            except Exception as e:
                status, reason = "quarantined", f"the source condition cannot be evaluated: {_why(e)}"
            else:
                if verdict.record is None:
                    status, reason = "skipped", f"filtered: {verdict.reason}"
                else:
                    row = verdict.record
        return Collected(
            source_id=source_id,
            number=None if number is None else str(number),
            content=row,
            status=status,
            reason=reason,
            partition=partition,
            watch_next_at=state.watch_next_at if state else None,
            watch_until=state.watch_until if state else None,
        )

    def _unusable(self, record: Mapping[str, Any], partition: str, reason: str) -> Collected:
        """A record that failed before its rows existed: kept under its own id when it has a usable
        one (so a person finds it by the id they know), else under a digest."""
        try:
            source_id = canonical_id(dotted(record, self.scheme.source.id))
        except ValueError:
            source_id = None
        if source_id is None:
            return self._malformed(record, partition, reason)
        return Collected(
            source_id=source_id,
            number=None,
            content=dict(record),
            status="quarantined",
            reason=reason,
            partition=partition,
        )

    def _malformed(self, record: Any, partition: str, reason: str) -> Collected:
        # keyed by content so the same bad record is not stored twice; kept whole for diagnosis
        digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]
        content = record if isinstance(record, dict) else {"_raw": record}
        return Collected(
            source_id=f"malformed:{digest}",
            number=None,
            content=content,
            status="quarantined",
            reason=reason,
            partition=partition,
        )

    # --- dispatch side ------------------------------------------------------------------------

    def enrich_queries(self, content: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Each ``enrich`` step's query rendered for this record (raises RenderError)."""
        try:
            return {e.name: expr.render(e.query, content, self._ctx) for e in self.scheme.enrich}
        except StoreError:
            raise
        except Exception as e:
            raise RenderError(_why(e)) from None

    def target_request(self, content: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._target_request.build(content, self._ctx)
        except StoreError:
            raise  # a _findCollection lookup could not reach the ledger: the batch is retried
        except Exception as e:
            raise RenderError(_why(e)) from None


def take_over(fields: Sequence[FieldSpec], overrides: Sequence[FieldSpec]) -> list[FieldSpec]:
    """``fields`` with each one named in ``overrides`` replaced in place; new names are appended.

    The omission remedy's ``takeOverRequest`` usually names only the window fields (Qingyi's
    ``start_date``/``end_date``); the rest of the request, such as the page number, stays.
    """
    by_name = {f.field: f for f in overrides}
    out = [by_name.pop(f.field, f) for f in fields]
    return [*out, *(f for f in overrides if f.field in by_name)]


def canonical_id(value: Any) -> str | None:
    """A source id as the ledger keys it, or None when there is none.

    Numbers are written canonically, so ``1``, ``1.0`` and ``Decimal("1.00")`` are one record (an
    upstream system that sends the same id as an integer once and as a float the next time must not
    get two documents). Text is kept exactly as sent. Raises ``ValueError`` (with the reason) for an
    id that cannot be one: a non-finite number, a boolean, an object or a list.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("is a boolean, not an id")
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        # a float's shortest repr is what the source meant (0.1, not 0.1000000000000000055...)
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise ValueError(f"is not a finite number ({value})")
        if number.adjusted() > 60:
            raise ValueError("is a number too large to be an id")
        if number == number.to_integral_value():
            return str(int(number))
        return format(number.normalize(), "f")
    raise ValueError(f"must be text or a number, got {type(value).__name__}")


def _why(e: BaseException) -> str:
    """An error as a reason a person can read: its message, or its type for a bare exception."""
    if isinstance(e, expr.ExprError | RenderError):
        return str(e)
    text = str(e)
    # an error we did not expect: say what kind, so the record's story explains itself
    return f"{type(e).__name__}: {text}"[:500] if text else type(e).__name__


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)
