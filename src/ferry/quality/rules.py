"""The scheme's declarative rules (``quality:``), compiled once: each gives a :class:`Finding` or None.

Kinds: ``expression`` (today's ``_function`` checks), ``required``, ``type``, ``regex``, ``range``, ``enum``,
``length``, ``date`` (not in the future, not in a closed period), ``lookup`` (an ``enrich`` step found a
row) and ``unique`` (no other record of the scheme with the same value within a window; it needs the
history and runs in :mod:`.checker`). A rule's error (it cannot be evaluated) is a finding with verdict
``error`` that acts at the rule's severity, never a pass.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ferry import expr
from ferry.errors import StoreError
from ferry.quality.config import RuleSpec
from ferry.quality.text import decimal
from ferry.quality.values import as_date, dotted, empty
from ferry.quality.verdict import Finding

#: what each kind says when the rule has no message of its own
_DEFAULT = {
    "required": "{field} is required",
    "type": "{field} must be a {type}, got {value!r}",
    "regex": "{field} {value!r} does not match {pattern}",
    "range": "{field} {value} is outside [{min}, {max}]",
    "enum": "{field} {value!r} is not one of {values}",
    "length": "{field} has length {length}, outside [{min_length}, {max_length}]",
    "date": "{field} {value} is {why}",
    "lookup": "the lookup {lookup} found nothing",
    "unique": "{field} {value!r} was already used by record {other} within {window_days:g} days",
}


def as_function(text: str) -> str:
    return text if text.lstrip().startswith("_function") else f"_function {text}"


def truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() not in {"", "0", "false", "null", "none"}
    return bool(v)


def why(e: BaseException) -> str:
    if isinstance(e, expr.ExprError):
        return str(e)
    text = str(e)
    return f"{type(e).__name__}: {text}"[:500] if text else type(e).__name__


class Rule:
    """One compiled rule."""

    def __init__(self, spec: RuleSpec, tz: ZoneInfo) -> None:
        self.spec = spec
        self.tz = tz
        self.name = spec.name
        self.kind = spec.kind
        self._check = expr.compile_template(as_function(spec.check)) if spec.check else None
        self._when = expr.compile_template(as_function(spec.when)) if spec.when else None
        self._message = expr.compile_template(spec.message) if spec.message else None
        self._pattern = re.compile(spec.pattern) if spec.pattern else None
        self.fields: tuple[str, ...] = tuple(spec.fields or ([spec.field] if spec.field else []))
        self._test: Callable[[Any, dt.datetime], str | None] = getattr(
            self, f"_{spec.kind}", lambda _v, _n: None
        )

    @property
    def needs_history(self) -> bool:
        return self.kind == "unique"

    def applies(self, content: Mapping[str, Any], ctx: expr.Context) -> bool:
        return self._when is None or truthy(self._when.render(content, ctx))

    def evaluate(self, content: Mapping[str, Any], ctx: expr.Context, now: dt.datetime) -> Finding | None:
        """This rule's verdict about ``content`` with the values it looked at (``pass`` included), or None
        when the rule does not apply (its ``when`` is false; ``unique`` rules are made by the checker)."""
        try:
            if not self.applies(content, ctx):
                return None
            if self.kind == "expression":
                assert self._check is not None
                if truthy(self._check.render(content, ctx)):
                    return self.passed({})
                return self._failed(content, ctx, {}, legacy=True)
            if self.kind in ("required", "lookup"):
                problem = self._required(content) if self.kind == "required" else self._lookup(content)
                if problem is None:
                    return self.passed({"fields": list(self.fields)} if self.kind == "required" else {})
                return self._failed(content, ctx, problem)
            if self.kind == "unique":
                return None
            assert self.spec.field is not None
            value = dotted(content, self.spec.field)
            if empty(value):
                return self.passed({"value": None})  # absence is the required rule's business
            why_not = self._test(value, now)
            if why_not is None:
                return self.passed({"value": _plain(value)})
            seen: dict[str, Any] = {"value": _plain(value), "why": why_not}
            if self.kind == "length":
                seen["length"] = len(value) if isinstance(value, str | list | dict) else len(str(value))
            return self._failed(content, ctx, seen)
        except StoreError:
            raise  # the ledger is unreachable (a lookup): not this record's fault, retry later
        except Exception as e:  # an unexpected error fails the rule for this record only
            return Finding(
                rule=self.name,
                kind=self.kind,
                verdict="error",
                severity=self.spec.severity,
                message=f"quality rule '{self.name}' could not be evaluated: {why(e)}",
            )

    def passed(self, values: dict[str, Any]) -> Finding:
        return Finding(
            self.name, self.kind, "pass", self.spec.severity, "", {k: _plain(v) for k, v in values.items()}
        )

    def failure(self, content: Mapping[str, Any], ctx: expr.Context, values: dict[str, Any]) -> Finding:
        return self._failed(content, ctx, values)

    def _failed(
        self, content: Mapping[str, Any], ctx: expr.Context, values: dict[str, Any], *, legacy: bool = False
    ) -> Finding:
        spec = self.spec
        if self._message is not None:
            try:
                text = str(self._message.render({**content, **values}, ctx))
            except Exception:
                text = spec.message or ""
        elif legacy:
            text = ""
        else:
            fill = {
                "field": ", ".join(self.fields),
                "type": spec.type,
                "pattern": spec.pattern,
                "min": spec.min,
                "max": spec.max,
                "values": spec.values,
                "min_length": spec.min_length,
                "max_length": spec.max_length,
                "lookup": spec.lookup,
                "window_days": spec.window_days,
                "value": None,
                "why": "",
                "length": None,
                "other": None,
                **values,
            }
            text = _DEFAULT[self.kind].format(**fill)
        if legacy and spec.severity == "quarantine":
            # today's reason, word for word
            text = f"quality rule '{self.name}' failed" + (f": {text}" if text else "")
        return Finding(
            rule=self.name,
            kind=self.kind,
            verdict="warn" if spec.severity == "warn" else "block",
            severity=spec.severity,
            message=text or f"quality rule '{self.name}' failed",
            values={k: _plain(v) for k, v in values.items()},
        )

    # --- one test per kind: the reason the value fails, or None --------------------------------

    def _required(self, content: Mapping[str, Any]) -> dict[str, Any] | None:
        missing = [f for f in self.fields if empty(dotted(content, f))]
        return {"field": ", ".join(missing), "missing": missing} if missing else None

    def _lookup(self, content: Mapping[str, Any]) -> dict[str, Any] | None:
        assert self.spec.lookup is not None
        return None if not empty(dotted(content, self.spec.lookup)) else {"lookup": self.spec.lookup}

    def _type(self, value: Any, now: dt.datetime) -> str | None:
        wanted = self.spec.type
        number = None if isinstance(value, bool) else decimal(value)
        ok = {
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool) or str(value).lower() in ("true", "false"),
            "number": number is not None,
            "integer": number is not None and number == number.to_integral_value(),
            "date": as_date(value, self.tz) is not None,
        }[str(wanted)]
        return None if ok else f"not a {wanted}"

    def _regex(self, value: Any, now: dt.datetime) -> str | None:
        assert self._pattern is not None
        return None if self._pattern.fullmatch(str(value)) else "no match"

    def _range(self, value: Any, now: dt.datetime) -> str | None:
        number = decimal(value)
        if number is None:
            return "not a number"
        low, high = self.spec.min, self.spec.max
        if low is not None and number < Decimal(str(low)):
            return "too small"
        if high is not None and number > Decimal(str(high)):
            return "too large"
        return None

    def _enum(self, value: Any, now: dt.datetime) -> str | None:
        allowed = self.spec.values or []
        return None if value in allowed or str(value) in {str(a) for a in allowed} else "not allowed"

    def _length(self, value: Any, now: dt.datetime) -> str | None:
        n = len(value) if isinstance(value, str | list | dict) else len(str(value))
        low, high = self.spec.min_length, self.spec.max_length
        if (low is not None and n < low) or (high is not None and n > high):
            return "bad length"
        return None

    def _date(self, value: Any, now: dt.datetime) -> str | None:
        day = as_date(value, self.tz)
        if day is None:
            return "not a date"
        today = now.astimezone(self.tz).date()
        if self.spec.not_future and day > today:
            return "in the future"
        if self.spec.closed_before and day < dt.date.fromisoformat(self.spec.closed_before):
            return f"in a closed period (before {self.spec.closed_before})"
        if day.strftime("%Y-%m") in (self.spec.closed_months or ()):
            return f"in the closed period {day:%Y-%m}"
        return None

    def unique_key(self, content: Mapping[str, Any]) -> str | None:
        """The value a ``unique`` rule keys on (several fields joined), or None when any is empty."""
        values = [dotted(content, f) for f in self.fields]
        if any(empty(v) for v in values):
            return None
        return json.dumps([_plain(v) for v in values], ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date):
        return str(value)
    return value


def compile_rules(specs: Sequence[RuleSpec], tz: ZoneInfo) -> list[Rule]:
    return [Rule(s, tz) for s in specs]


__all__ = ["Rule", "as_function", "compile_rules", "truthy", "why"]
