"""The sandbox's bill store: documents, their Z/A/B/C/D life cycle, and Push (下推) with link tracking.

Everything here is plain Python on in-memory dicts; :mod:`ferry.sandbox.kingdee.app` turns the results into
Kingdee envelopes. Each operation returns :class:`Outcome` rows (one per input package, by ``DIndex``) so a
batch succeeds and fails per bill, as on a real server.

:class:`BillStore` is assembled from one layer per seam: :mod:`.store` (forms, lookup, numbering),
:mod:`.lifecycle` (statuses and their transitions), :mod:`.saving` (Save/Draft) and :mod:`.push` (Push);
the forms, records and value helpers live in :mod:`.forms`, :mod:`.records` and :mod:`.values`. The names
they define are re-exported here, the import path callers have always used.
"""

from __future__ import annotations

from collections.abc import Sequence

from ferry.sandbox.kingdee.forms import AP_PAYBILL, CN_PAYAPPLY, GENERIC_FORMS, SYSTEM_FIELDS, FormSpec
from ferry.sandbox.kingdee.push import PAYAPPLY_TO_PAYBILL_RULE, Pushing
from ferry.sandbox.kingdee.records import (
    MSG_EXCEPTION,
    MSG_NO_FIELD,
    MSG_NOT_FOUND,
    MSG_NOT_OPERABLE,
    MSG_OK,
    MSG_PARAM,
    MSG_VALIDATION,
    STATUS_LABELS,
    Bill,
    Link,
    Message,
    OperationError,
    Outcome,
)
from ferry.sandbox.kingdee.values import as_float, base_number, get_ci, now_text, pop_ci, split_ids, truthy


class BillStore(Pushing):
    """All bills of all forms, with numbering, life cycle and Push. Thread-safe through one lock."""

    def paybill_counts(self, sources: Sequence[str] = (), include_drafts: bool = True) -> dict[str, int]:
        """How many AP_PAYBILL bills link to each source bill number."""
        counts: dict[str, int] = {s: 0 for s in sources}
        for bill in self.bills(AP_PAYBILL.form_id):
            if bill.status == "Z" and not include_drafts:
                continue
            numbers = {link.source_number for link in bill.links}
            numbers |= {
                str(get_ci(r, "FSRCBILLNO"))
                for r in bill.entry_rows("FPAYBILLSRCENTRY")
                if get_ci(r, "FSRCBILLNO")
            }
            for number in numbers:
                if sources and number not in counts:
                    continue
                counts[number] = counts.get(number, 0) + 1
        return counts

    def add_seeded(self, bill: Bill) -> Bill:
        """Insert a ready-made bill (seeding); assigns ids."""
        with self.lock:
            spec = self.spec(bill.form_id)
            bill.fid = next(self._ids)
            if not bill.number and bill.status != "Z":
                bill.number = self.next_number(spec)
            self._assign_entry_ids(spec, bill.model)
            self._bills[bill.fid] = bill
            return bill


__all__ = [
    "AP_PAYBILL",
    "CN_PAYAPPLY",
    "GENERIC_FORMS",
    "MSG_EXCEPTION",
    "MSG_NOT_FOUND",
    "MSG_NOT_OPERABLE",
    "MSG_NO_FIELD",
    "MSG_OK",
    "MSG_PARAM",
    "MSG_VALIDATION",
    "PAYAPPLY_TO_PAYBILL_RULE",
    "STATUS_LABELS",
    "SYSTEM_FIELDS",
    "Bill",
    "BillStore",
    "FormSpec",
    "Link",
    "Message",
    "OperationError",
    "Outcome",
    "as_float",
    "base_number",
    "get_ci",
    "now_text",
    "pop_ci",
    "split_ids",
    "truthy",
]
