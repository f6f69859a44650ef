"""The bill table under every operation: the form registry, lookup, numbering and entry ids."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ferry.sandbox.kingdee.forms import AP_PAYBILL, CN_PAYAPPLY, GENERIC_FORMS, FormSpec
from ferry.sandbox.kingdee.records import MSG_EXCEPTION, Bill, OperationError
from ferry.sandbox.kingdee.values import get_ci, norm, pop_ci


class StoreCore:
    """Bills by id, the known forms and the counters; the operations' mixins build on it."""

    def __init__(self, extra_forms: Iterable[str] = (), *, push_control: bool = True) -> None:
        #: Kingdee refuses to push more than a source's amount (BOTP over-push control)
        self.push_control = push_control
        self.lock = threading.RLock()
        self.specs: dict[str, FormSpec] = {}
        for spec in (CN_PAYAPPLY, AP_PAYBILL):
            self.specs[norm(spec.form_id)] = spec
        for form in (*GENERIC_FORMS, *extra_forms):
            self.register_form(form)
        self._bills: dict[int, Bill] = {}
        self._ids = itertools.count(100001)
        self._entry_ids = itertools.count(200001)
        self._seq: dict[str, int] = {}

    # ---- forms -----------------------------------------------------------------------------------------
    def register_form(self, form_id: str, name: str | None = None) -> FormSpec:
        """Make a generic form known (numbering from the form id's letters)."""
        key = norm(form_id)
        if key in self.specs:
            return self.specs[key]
        letters = "".join(ch for ch in form_id.split("_")[-1] if ch.isalpha()).upper()[:4] or "BILL"
        spec = FormSpec(form_id=form_id, name=name or form_id, number_prefix=letters, number_width=6)
        self.specs[key] = spec
        return spec

    def spec(self, form_id: str | None) -> FormSpec:
        """The spec of a known form; ``OperationError`` (MsgCode 4) otherwise, with the real server's text."""
        if not form_id:
            raise OperationError("单据标识(FormId)不能为空", 5)
        spec = self.specs.get(norm(form_id))
        if spec is None:
            raise OperationError(f"标识为“{form_id}”的业务对象不存在，或者被删除", MSG_EXCEPTION)
        return spec

    # ---- lookup ----------------------------------------------------------------------------------------
    def bills(self, form_id: str) -> list[Bill]:
        """Bills of one form in id order."""
        key = norm(form_id)
        return [b for b in self._bills.values() if norm(b.form_id) == key]

    def get(self, form_id: str, *, fid: int | None = None, number: str | None = None) -> Bill | None:
        """One bill by internal id or by number."""
        key = norm(form_id)
        if fid is not None:
            bill = self._bills.get(fid)
            return bill if bill is not None and norm(bill.form_id) == key else None
        if number:
            for bill in self._bills.values():
                if norm(bill.form_id) == key and bill.number == number:
                    return bill
        return None

    def clear(self) -> None:
        """Forget every bill and restart numbering."""
        with self.lock:
            self._bills.clear()
            self._seq.clear()
            self._ids = itertools.count(100001)
            self._entry_ids = itertools.count(200001)

    def next_number(self, spec: FormSpec) -> str:
        """The next free number of a form (``FKSQ000001``...)."""
        taken = {b.number for b in self.bills(spec.form_id)}
        while True:
            n = self._seq.get(spec.form_id, 0) + 1
            self._seq[spec.form_id] = n
            number = f"{spec.number_prefix}{n:0{spec.number_width}d}"
            if number not in taken:
                return number

    # ---- entry ids -------------------------------------------------------------------------------------
    def _assign_entry_ids(self, spec: FormSpec, model: dict[str, Any]) -> None:
        for key, value in model.items():
            rows = value if isinstance(value, list) else None
            is_entry = any(norm(key) == norm(e) for e in spec.entries) or (
                rows is not None and all(isinstance(r, dict) for r in rows) and rows != []
            )
            if not is_entry or rows is None:
                continue
            for row in rows:
                entry_id = get_ci(row, "FEntryID")
                if not entry_id:
                    pop_ci(row, "FEntryID")
                    # FEntryID first, as Kingdee returns it
                    items = list(row.items())
                    row.clear()
                    row["FEntryID"] = next(self._entry_ids)
                    row.update(items)

    # ---- fields for queries --------------------------------------------------------------------------
    def field_value(self, bill: Bill, key: str) -> Any:
        """A header value (system fields included; base data as its number) for NeedReturnFields."""
        base, _, sub = key.partition(".")
        try:
            return bill.system_value(base)
        except KeyError:
            pass
        value = get_ci(bill.model, base)
        if isinstance(value, Mapping):
            return get_ci(value, sub or "FNumber")
        return value
