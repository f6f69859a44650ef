"""ExecuteBillQuery / BillQuery for the sandbox: FieldKeys, FilterString, OrderString, paging.

A query that names an entry field yields one row per entry row (left join), else one per bill. The field keys
are resolved in :mod:`.catalog` and the FilterString language lives in :mod:`.filters`; the names they define
are re-exported here, the import path callers have always used.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ferry.sandbox.kingdee.bills import Bill, BillStore, get_ci
from ferry.sandbox.kingdee.catalog import Catalog, FieldRef, QueryError, Row
from ferry.sandbox.kingdee.filters import (
    NUMERIC_COMPARE,
    FilterParser,
    Predicate,
    Token,
    compare,
    filter_from_json,
    like_regex,
    tokenize,
)
from ferry.sandbox.kingdee.records import MSG_EXCEPTION, MSG_NO_FIELD, MSG_PARAM

#: default and maximum page size (reference §7.4: "默认最大2000行，可调整至10000")
DEFAULT_LIMIT = 2000
MAX_LIMIT = 10000


# ---- running a query -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QuerySpec:
    """The ``data`` of ExecuteBillQuery / BillQuery, parsed."""

    form_id: str
    field_keys: list[str]
    filter_string: str
    order_string: str
    start_row: int
    limit: int
    top_row_count: int


def parse_query(data: Mapping[str, Any]) -> QuerySpec:
    """Read FormId, FieldKeys, FilterString, OrderString, StartRow, Limit, TopRowCount; refuse bad ones."""
    form_id = str(get_ci(data, "FormId") or "").strip()
    if not form_id:
        raise QueryError("data 数据包中的参数 FormId 的值不能为空", 5, "FormId")
    raw_keys = get_ci(data, "FieldKeys")
    if isinstance(raw_keys, list):
        keys = [str(k).strip() for k in raw_keys if str(k).strip()]
    else:
        keys = [k.strip() for k in str(raw_keys or "").split(",") if k.strip()]
    if not keys:
        raise QueryError("data 数据包中的参数 FieldKeys 的值不能为空", MSG_PARAM, "FieldKeys")
    raw_filter = get_ci(data, "FilterString")
    if isinstance(raw_filter, list):
        filter_string = filter_from_json(raw_filter)
    else:
        filter_string = str(raw_filter or "").strip()

    def number(name: str) -> int:
        value = get_ci(data, name)
        try:
            return max(0, int(value or 0))
        except (TypeError, ValueError) as exc:
            raise QueryError(f"参数 {name} 必须是整数", MSG_PARAM, name) from exc

    return QuerySpec(
        form_id=form_id,
        field_keys=keys,
        filter_string=filter_string,
        order_string=str(get_ci(data, "OrderString") or "").strip(),
        start_row=number("StartRow"),
        limit=number("Limit"),
        top_row_count=number("TopRowCount"),
    )


def _order_keys(order_string: str, catalog: Catalog) -> list[tuple[FieldRef, bool]]:
    out: list[tuple[FieldRef, bool]] = []
    for part in order_string.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise QueryError(f"OrderString “{part.strip()}” 无效", MSG_PARAM, "OrderString")
        out.append((catalog.resolve(words[0]), len(words) == 2 and words[1].lower() == "desc"))
    return out


def _expand(bill: Bill, entries: Iterable[str]) -> list[Row]:
    choices: list[list[tuple[str, tuple[int, dict[str, Any]] | None]]] = []
    for entry in entries:
        rows = bill.entry_rows(entry)
        picked: list[tuple[int, dict[str, Any]] | None] = [(i, r) for i, r in enumerate(rows, start=1)] or [
            None
        ]
        choices.append([(entry.casefold(), p) for p in picked])
    return [Row(bill, dict(combo)) for combo in itertools.product(*choices)]


def _sort_key(value: Any) -> tuple[int, Any]:
    # NULLs first in ascending order, as SQL Server sorts them
    if value is None:
        return (0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value))
    return (2, str(value).casefold())


def run_query(store: BillStore, query: QuerySpec) -> tuple[list[str], list[list[Any]]]:
    """Evaluate a query; returns the field keys as written and the rows (list of lists, FieldKeys order)."""
    spec = store.spec(query.form_id)
    with store.lock:
        bills = store.bills(spec.form_id)
        catalog = Catalog(spec, bills)
        refs = [catalog.resolve(k) for k in query.field_keys]
        predicate: Predicate | None = None
        filter_refs: list[FieldRef] = []
        if query.filter_string:
            parser = FilterParser(query.filter_string, catalog)
            predicate = parser.parse()
            filter_refs = parser.refs
        order = _order_keys(query.order_string, catalog)
        entries: list[str] = []
        for ref in [*refs, *filter_refs, *(r for r, _ in order)]:
            if ref.entry is not None and ref.entry not in entries:
                entries.append(ref.entry)
        rows: list[Row] = []
        for bill in bills:
            rows.extend(_expand(bill, entries))
        if predicate is not None:
            rows = [r for r in rows if predicate(r)]
        for ref, desc in reversed(order):
            rows.sort(key=lambda r, ref=ref: _sort_key(r.value(ref)), reverse=desc)  # type: ignore[misc]
        if query.top_row_count:
            rows = rows[: query.top_row_count]
        limit = min(query.limit or DEFAULT_LIMIT, MAX_LIMIT)
        rows = rows[query.start_row : query.start_row + limit]
        return query.field_keys, [[r.value(ref) for ref in refs] for r in rows]


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MSG_EXCEPTION",
    "MSG_NO_FIELD",
    "MSG_PARAM",
    "NUMERIC_COMPARE",
    "Catalog",
    "FieldRef",
    "FilterParser",
    "Predicate",
    "QueryError",
    "QuerySpec",
    "Row",
    "Token",
    "compare",
    "filter_from_json",
    "like_regex",
    "parse_query",
    "run_query",
    "tokenize",
]
