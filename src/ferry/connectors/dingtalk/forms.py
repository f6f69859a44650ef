"""Decode ``form_component_values`` into Python values (reference §3.2).

Every ``value`` arrives as a string; many hold JSON. The literal string ``"null"`` means empty.
Inside TableField rows, multi-value cells are real JSON arrays rather than strings, and cells name
their type only through their ``key`` prefix (``MoneyField_1S85…``) or an optional ``componentType``.

| component_type | decoded value |
|---|---|
| TextField, TextareaField, DDSelectField, TextNote, SignatureField | ``str`` |
| NumberField, MoneyField | ``Decimal`` |
| DDDateField | ``date`` or ``datetime`` (``yyyy-MM-dd HH:mm``) |
| DDDateRangeField | ``[date, date]`` |
| DDMultiSelectField, DDPhotoField, RelateField | ``list[str]`` |
| DDAttachment | ``list[dict]`` (``fileId``, ``fileName``, ``fileSize``, …) |
| InnerContactField | ``list[{"userid", "name"}]`` from ``ext_value`` (name only when absent) |
| DepartmentField | ``list[{"id", "name"}]`` from ``ext_value`` |
| PhoneField | ``str`` (the number); RecipientAccountField: ``str`` (the payee name) |
| TableField | ``list[dict]`` of rows keyed by cell label, cells decoded by type |

Decoding never raises: a value that does not decode as its type stays as it came (a money amount that
is not a finite number stays a string, for the quality rules to refuse).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == "null"


def _decimal(value: Any) -> Decimal | str:
    text = str(value)
    try:
        number = Decimal(text.replace(",", "").strip())
    except (InvalidOperation, ValueError):
        return text
    # NaN and Infinity are not amounts: leave the text for a quality rule to refuse
    return number if number.is_finite() else text


def _date(value: Any) -> dt.date | dt.datetime | str:
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.date() if fmt == "%Y-%m-%d" else parsed
    return text


def _strings(value: Any) -> list[Any]:
    decoded = _json(value)
    if isinstance(decoded, list):
        return decoded
    return [decoded]


def decode_value(component_type: str | None, value: Any, ext_value: Any = None) -> Any:
    """Decode one value (a component's or a table cell's) by its component type."""
    if _is_empty(value) and component_type not in ("InnerContactField", "DepartmentField"):
        return None
    kind = component_type or ""
    if kind in ("NumberField", "MoneyField"):
        return _decimal(value)
    if kind == "DDDateField":
        return _date(value)
    if not isinstance(kind, str):
        return value
    if kind == "DDDateRangeField":
        return [_date(v) for v in _strings(value)]
    if kind in ("DDMultiSelectField", "DDPhotoField", "RelateField", "DDAttachment"):
        return _strings(value)
    if kind == "InnerContactField":
        ext = _json(ext_value)
        if isinstance(ext, list) and ext:
            return [{"userid": p.get("emplId"), "name": p.get("name")} for p in ext if isinstance(p, dict)]
        return None if _is_empty(value) else [{"userid": None, "name": str(value)}]
    if kind == "DepartmentField":
        ext = _json(ext_value)
        if isinstance(ext, list) and ext:
            return [{"id": d.get("id"), "name": d.get("name")} for d in ext if isinstance(d, dict)]
        return None if _is_empty(value) else [{"id": None, "name": str(value)}]
    if kind == "TableField":
        return decode_table(value)
    if isinstance(value, str):
        return value
    return value


def _cell_type(cell: Mapping[str, Any]) -> str | None:
    if cell.get("componentType"):
        return str(cell["componentType"])[:64]
    key = str(cell.get("key") or "")
    return key.split("_", 1)[0] or None


def decode_table(value: Any) -> list[dict[str, Any]]:
    """TableField rows as dicts keyed by cell label; an empty table (or its schema) gives ``[]``."""
    rows = _json(value)
    if not isinstance(rows, list):
        return []
    out: list[dict[str, Any]] = []
    for row in rows:
        # a table with no rows once came back as its schema: items without rowValue (reference §3.2)
        if not isinstance(row, dict) or "rowValue" not in row:
            continue
        decoded: dict[str, Any] = {}
        cells = row.get("rowValue")
        for cell in cells if isinstance(cells, list) else []:
            if not isinstance(cell, dict) or not cell.get("label"):
                continue  # a TextNote cell has no label
            decoded[str(cell["label"])] = decode_value(
                _cell_type(cell), cell.get("value"), cell.get("extendValue")
            )
        out.append(decoded)
    return out


def decode_component(component: Mapping[str, Any]) -> Any:
    """Decode one normalised component (``component_type``, ``value``, ``ext_value``)."""
    return decode_value(component.get("component_type"), component.get("value"), component.get("ext_value"))


@dataclass
class FlatForm:
    """A form's decoded values, reachable by label, by bizAlias and by component id."""

    by_name: dict[str, Any] = field(default_factory=dict)
    by_alias: dict[str, Any] = field(default_factory=dict)
    by_id: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """Look ``key`` up by label, then bizAlias, then component id."""
        for table in (self.by_name, self.by_alias, self.by_id):
            if key in table:
                return table[key]
        return default


def flatten_form(components: Iterable[Mapping[str, Any]]) -> FlatForm:
    """Decode every component; nameless ones (TextNote) are reachable only by id."""
    flat = FlatForm()
    for component in components:
        if not isinstance(component, Mapping):
            continue
        value = decode_component(component)
        if component.get("name"):
            flat.by_name[str(component["name"])] = value
        if component.get("biz_alias"):
            flat.by_alias[str(component["biz_alias"])] = value
        if component.get("id"):
            flat.by_id[str(component["id"])] = value
    return flat
