"""``beatFlat``: one record per child row (拍平).

Owns :func:`beat_flat`. For ``["details_list"]`` each row of ``details_list`` becomes its own
record: the header fields are copied, the row's fields are added as ``details_list_<key>``
(a dotted table path ``a.b`` gives the prefix ``a_b_``), the array itself is removed, and the
record id (``id_field``, a dotted path) gets the suffix ``-0``, ``-1``, ... -- the row's index,
counted from 0 (the sources disagree between ``-0`` and ``-1``; 0-based matches the row index
everywhere else in Ferry). A scalar row becomes ``details_list_value``. A record whose table is
empty or missing is kept once, unchanged apart from the removed key and without a suffix, so no
document silently disappears. Several tables explode one after another (a cross product).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ferry.expr.errors import ExprError
from ferry.expr.limits import DEFAULT_LIMITS, bounded, budget
from ferry.expr.paths import MISSING, resolve


def _without(record: Mapping[str, Any], segs: list[str]) -> dict[str, Any]:
    copy = dict(record)
    if len(segs) == 1:
        copy.pop(segs[0], None)
    else:
        inner = copy.get(segs[0])
        if isinstance(inner, Mapping):
            copy[segs[0]] = _without(inner, segs[1:])
    return copy


def _set(record: dict[str, Any], segs: list[str], value: Any) -> dict[str, Any]:
    if len(segs) == 1:
        record[segs[0]] = value
        return record
    inner = record.get(segs[0])
    record[segs[0]] = _set(dict(inner) if isinstance(inner, Mapping) else {}, segs[1:], value)
    return record


def _explode(record: Mapping[str, Any], table: str, id_field: str | None) -> list[dict[str, Any]]:
    if not isinstance(record, Mapping):
        raise ExprError(f"beatFlat applies to a record (an object), got {type(record).__name__}")
    rows = resolve(record, table)
    base = _without(record, table.split("."))
    if rows is MISSING or rows is None or rows == []:
        return [base]
    if not isinstance(rows, list):
        raise ExprError(f"beatFlat: {table!r} is a {type(rows).__name__}, not a list of rows")
    budget().items(len(rows), f"beatFlat: the table {table!r}")
    prefix = table.replace(".", "_") + "_"
    record_id = resolve(record, id_field) if id_field else MISSING
    out = []
    for index, row in enumerate(rows):
        flat = dict(base)
        if isinstance(row, Mapping):
            for key, value in row.items():
                flat[prefix + str(key)] = value
        else:
            flat[prefix + "value"] = row
        if id_field and record_id is not MISSING and record_id is not None:
            flat = _set(flat, id_field.split("."), f"{record_id}-{index}")
        out.append(flat)
    return out


def beat_flat(
    record: Mapping[str, Any], tables: Sequence[str] | str, *, id_field: str | None = None
) -> list[dict[str, Any]]:
    """Explode ``record`` over each table in ``tables``; see the module docstring.

    Raises only ``ExprError``; the records made (several tables multiply) count against
    ``Limits.max_items`` of the default limits.
    """
    return bounded(DEFAULT_LIMITS, _beat_flat, record, tables, id_field)


def _beat_flat(
    record: Mapping[str, Any], tables: Sequence[str] | str, id_field: str | None
) -> list[dict[str, Any]]:
    if isinstance(tables, str):
        tables = [tables]
    if not isinstance(tables, Sequence) or not all(isinstance(table, str) and table for table in tables):
        raise ExprError("beatFlat names its tables as a list of field paths, e.g. ['details_list']")
    if id_field is not None and not isinstance(id_field, str):
        raise ExprError(f"beatFlat's id field is a field path, got {type(id_field).__name__}")
    if not isinstance(record, Mapping):
        raise ExprError(f"beatFlat applies to a record (an object), got {type(record).__name__}")
    records: list[dict[str, Any]] = [dict(record)]
    checks = budget()
    for table in tables:
        records = [flat for item in records for flat in _explode(item, table, id_field)]
        checks.items(len(records), "beatFlat's records")
    return records
