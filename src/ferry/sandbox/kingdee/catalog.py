"""The field keys of a bill query: which ones a form knows, and where each one's value lives in a result row.

Field keys: header fields (``FBillNo``), base data sub-fields (``FCONTACTUNIT.FNumber``), entry fields either
bare (``FSRCBILLNO``) or entry-qualified (``FPAYBILLSRCENTRY_FSRCBILLNO``), and ``<Entry>_FEntryId`` /
``<Entry>_FSeq``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferry.sandbox.kingdee.forms import SYSTEM_FIELDS, FormSpec
from ferry.sandbox.kingdee.records import MSG_NO_FIELD, Bill, OperationError
from ferry.sandbox.kingdee.values import get_ci


class QueryError(OperationError):
    """A query is refused as a whole (bad field, bad filter)."""


# ---- field resolution ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldRef:
    """A resolved field key: where its value lives."""

    key: str
    entry: str | None  # entry key, or None for a header field
    name: str  # field key inside header/entry; "FEntryID" / "FSeq" for entry ids and row numbers
    sub: str | None  # base data property (FNumber, FName) if dotted


class Catalog:
    """The field keys a form knows: declared in its spec plus every key seen in a stored bill."""

    def __init__(self, spec: FormSpec, bills: Sequence[Bill]) -> None:
        self.spec = spec
        self.header: dict[str, str] = {f.casefold(): f for f in SYSTEM_FIELDS}
        self.header.update({f.casefold(): f for f in spec.header_fields})
        self.entries: dict[str, str] = {e.casefold(): e for e in spec.entries}
        self.entry_fields: dict[str, dict[str, str]] = {
            e.casefold(): {f.casefold(): f for f in spec.entry_fields.get(e, ())} for e in spec.entries
        }
        for bill in bills:
            for key, value in bill.model.items():
                if isinstance(value, list) and all(isinstance(r, dict) for r in value):
                    self.entries.setdefault(key.casefold(), key)
                    fields = self.entry_fields.setdefault(key.casefold(), {})
                    for row in value:
                        for fk in row:
                            fields.setdefault(fk.casefold(), fk)
                else:
                    self.header.setdefault(key.casefold(), key)
        for fields in self.entry_fields.values():
            fields.setdefault("fentryid", "FEntryID")

    def resolve(self, key: str) -> FieldRef:
        """Resolve a field key or raise MsgCode 9 with the real server's wording."""
        text = key.strip()
        base, _, sub = text.partition(".")
        folded = base.casefold()
        # entry-qualified: <ENTRY>_<FIELD>, the entry key may itself contain underscores
        for entry_folded, entry in self.entries.items():
            prefix = entry_folded + "_"
            if folded.startswith(prefix):
                rest = folded[len(prefix) :]
                if rest == "fentryid":
                    return FieldRef(text, entry, "FEntryID", None)
                if rest == "fseq":
                    return FieldRef(text, entry, "FSeq", None)
                name = self.entry_fields.get(entry_folded, {}).get(rest)
                if name is not None:
                    return FieldRef(text, entry, name, sub or None)
        if folded in self.header:
            return FieldRef(text, None, self.header[folded], sub or None)
        owners = [e for e, fields in self.entry_fields.items() if folded in fields and folded != "fentryid"]
        if len(owners) == 1:
            entry_folded = owners[0]
            return FieldRef(
                text, self.entries[entry_folded], self.entry_fields[entry_folded][folded], sub or None
            )
        raise QueryError(f"元数据中标识为{base}的字段不存在", MSG_NO_FIELD, base)


@dataclass(slots=True)
class Row:
    """One result row before projection: a bill and, per referenced entry, one of its rows (or None)."""

    bill: Bill
    entry_rows: dict[str, tuple[int, dict[str, Any]] | None]

    def value(self, ref: FieldRef) -> Any:
        """The value of a resolved field in this row."""
        if ref.entry is None:
            try:
                value = self.bill.system_value(ref.name)
            except KeyError:
                value = get_ci(self.bill.model, ref.name)
        else:
            picked = self.entry_rows.get(ref.entry.casefold())
            if picked is None:
                return None
            seq, row = picked
            if ref.name == "FSeq":
                return seq
            value = get_ci(row, ref.name)
        if isinstance(value, Mapping):
            # base data: a real server answers the internal id for a bare key; we have no ids, so the number
            return get_ci(value, ref.sub or "FNumber")
        if isinstance(value, list):
            return None
        return value


__all__ = ["Catalog", "FieldRef", "QueryError", "Row"]
