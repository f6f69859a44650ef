"""``_findCollection``: reading a field from rows another scheme has already stored.

Owns: the :class:`Lookup` protocol (the ledger implements it later), the in-memory
:class:`MemoryLookup`, and compiling ``_findCollection find <field> from <schemeId> where
A={{a}} B={{b}}`` into a closure. Conditions are space-separated ``KEY=VALUE`` pairs joined by
AND (no ``AND`` keyword, as in Qingyi); a value is a template (``{{x}}``, ``{VAR}`` or text).
``where`` may be omitted (first stored row). Result: the field of the first matching row in
insertion order, or ``None`` when nothing matches. A lookup that fails (its store is down) raises
:class:`ferry.errors.StoreError`, not an ``ExprError``: the record is not at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ferry.errors import FerryError, StoreError
from ferry.expr.errors import ExprError
from ferry.expr.interpolate import CompiledText, compile_text
from ferry.expr.paths import MISSING, Resolver, Scope, resolve


@runtime_checkable
class Lookup(Protocol):
    """Where ``_findCollection`` reads from: rows stored by other schemes."""

    def find(self, scheme_id: str, field: str, where: Mapping[str, Any]) -> Any:
        """The value of ``field`` in the first row of ``scheme_id`` matching all of ``where``; None if none."""
        ...


def values_match(stored: Any, wanted: Any) -> bool:
    """Equality for lookups: exact, or equal as text when one side is a string (``1`` matches ``'1'``)."""
    if stored == wanted and type(stored) is not bool and type(wanted) is not bool:
        return True
    if stored is None or wanted is None:
        return stored is wanted
    if isinstance(stored, str) or isinstance(wanted, str):
        from ferry.expr.variables import to_text

        return to_text(stored) == to_text(wanted)
    return bool(stored == wanted)


class MemoryLookup:
    """An in-memory :class:`Lookup`: ``{scheme_id: [row, ...]}``; paths may be dotted."""

    def __init__(self, data: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> None:
        self._rows: dict[str, list[Mapping[str, Any]]] = {}
        for scheme_id, rows in (data or {}).items():
            self._rows[scheme_id] = list(rows)

    def add(self, scheme_id: str, row: Mapping[str, Any]) -> None:
        """Store one more row for ``scheme_id`` (after the existing ones)."""
        self._rows.setdefault(scheme_id, []).append(row)

    def find(self, scheme_id: str, field: str, where: Mapping[str, Any]) -> Any:
        """The field of the first row of ``scheme_id`` matching ``where`` (None when none does)."""
        for row in self._rows.get(scheme_id, ()):
            if all(values_match(_get(row, key), value) for key, value in where.items()):
                value = _get(row, field)
                return None if value is MISSING else value
        return None


def _get(row: Mapping[str, Any], path: str) -> Any:
    if not isinstance(row, Mapping):
        return MISSING
    value = row.get(path, MISSING)
    if value is MISSING and "." in path:
        value = resolve(row, path)
    return value


# ----------------------------------------------------------------------------- compiling

_HEAD = re.compile(r"_findCollection\s+find\s+(\S+)\s+from\s+(\S+)(?:\s+where\b)?", re.S)
_PAIR_KEY = re.compile(r"([^\s=]+)=")


@dataclass(frozen=True, slots=True)
class FindSpec:
    """A compiled ``_findCollection``."""

    field: str
    scheme_id: str
    where: tuple[tuple[str, CompiledText], ...]


def parse_find(text: str, *, full_text: str | None = None, offset: int = 0) -> FindSpec:
    """Parse one ``_findCollection ...`` (without ``_endFind``). Positions refer to ``full_text``."""
    anchor = full_text if full_text is not None else text
    head = _HEAD.match(text)
    if not head:
        raise ExprError(
            "malformed _findCollection: expected '_findCollection find <field> from <schemeId> where A={{a}} ...'",
            text=anchor,
            position=offset,
        )
    rest = text[head.end() :]
    rest_offset = offset + head.end()
    pairs: list[tuple[str, CompiledText]] = []
    for token, start in _split_conditions(rest):
        key_match = _PAIR_KEY.match(token)
        if not key_match:
            raise ExprError(
                f"malformed _findCollection condition {token!r}: expected KEY=VALUE",
                text=anchor,
                position=rest_offset + start,
            )
        try:
            value = compile_text(token[key_match.end() :])
        except ExprError as exc:
            raise exc.with_text(anchor, rest_offset + start + key_match.end()) from None
        pairs.append((key_match.group(1), value))
    return FindSpec(field=head.group(1), scheme_id=head.group(2), where=tuple(pairs))


def _split_conditions(rest: str) -> list[tuple[str, int]]:
    """Whitespace-separated tokens, not splitting inside ``{{ }}``."""
    tokens: list[tuple[str, int]] = []
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and not rest[i].isspace():
            if rest.startswith("{{", i):
                close = rest.find("}}", i)
                i = n if close < 0 else close + 2
            else:
                i += 1
        tokens.append((rest[start:i], start))
    return tokens


def compile_find(spec: FindSpec, *, text: str, position: int) -> Resolver:
    """A resolver performing the lookup through ``scope.ctx.lookup``."""
    field, scheme_id = spec.field, spec.scheme_id
    where = tuple((key, value.render) for key, value in spec.where)

    def find(scope: Scope) -> Any:
        lookup = scope.ctx.lookup
        if lookup is None:
            raise ExprError(
                "_findCollection needs a lookup, but none is configured", text=text, position=position
            )
        conditions = {}
        for key, render in where:
            value = render(scope)
            conditions[key] = None if value is MISSING else value
        try:
            return lookup.find(scheme_id, field, conditions)
        except FerryError:
            raise
        except Exception as exc:
            # The lookup's store failing is not a fault of this record: it is reported as the
            # store's error (retry later), not as an expression error that would quarantine it.
            raise StoreError(
                f"_findCollection could not read rows of {scheme_id!r}: the lookup failed "
                f"({type(exc).__name__})"
            ) from exc

    return find
