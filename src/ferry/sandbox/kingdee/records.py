"""A bill and the results of operating on it: MsgCodes, per-package outcomes, request-level errors, links."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ferry.sandbox.kingdee.values import get_ci, norm

# MsgCode values (reference §5)
MSG_OK = 0
MSG_EXCEPTION = 4
MSG_PARAM = 8
MSG_NO_FIELD = 9
MSG_NOT_FOUND = 10
MSG_VALIDATION = 11
MSG_NOT_OPERABLE = 12

STATUS_LABELS = {"Z": "暂存", "A": "创建", "B": "审核中", "C": "已审核", "D": "重新审核"}


@dataclass(frozen=True, slots=True)
class Message:
    """One line of ``Errors`` / ``SuccessMessages``."""

    message: str
    field_name: str | None = None


@dataclass(slots=True)
class Outcome:
    """The result for one input package (``DIndex``)."""

    index: int
    ok: bool
    bill_id: int | None = None
    number: str = ""
    errors: list[Message] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    msg_code: int = MSG_OK
    #: Push only: the source's id/number (for ConvertResponseStatus) and whether the target was kept as draft
    source_id: int | None = None
    source_number: str = ""
    converted: bool = False
    draft: bool = False
    need_return: dict[str, Any] = field(default_factory=dict)


class OperationError(Exception):
    """A whole request is refused (not per bill): bad parameters, unknown form, unknown rule."""

    def __init__(self, message: str, msg_code: int, field_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.msg_code = msg_code
        self.field_name = field_name


@dataclass(slots=True)
class Link:
    """A target row pushed from a source entry row (the BOTP link table)."""

    source_form: str
    source_id: int
    source_number: str
    source_entry_id: int
    amount: float


@dataclass(slots=True)
class Bill:
    """One document. ``model`` keeps the caller's keys and their order; system fields live beside it."""

    form_id: str
    fid: int
    number: str
    status: str
    model: dict[str, Any]
    created: str
    modified: str
    approved: str | None = None
    #: source side: amount pushed so far per entry id
    pushed: dict[int, float] = field(default_factory=dict)
    #: target side: the source rows this bill was pushed from
    links: list[Link] = field(default_factory=list)

    def entry_rows(self, entry: str) -> list[dict[str, Any]]:
        """The rows of one entry (empty if none)."""
        rows = get_ci(self.model, entry)
        if isinstance(rows, list):
            return [r for r in rows if isinstance(r, dict)]
        if isinstance(rows, dict):
            return [rows]
        return []

    def system_value(self, key: str) -> Any:
        """A system field's value, or ``KeyError`` if ``key`` is not one."""
        k = norm(key)
        if k == "fid":
            return self.fid
        if k == "fbillno":
            return self.number
        if k == "fdocumentstatus":
            return self.status
        if k == "fcreatedate":
            return self.created
        if k == "fmodifydate":
            return self.modified
        if k == "fapprovedate":
            return self.approved
        if k == "fformid":
            return self.form_id
        raise KeyError(key)

    def package(self) -> dict[str, Any]:
        """The full bill as View returns it: ORM-style ids first, then the F-keys as saved."""
        out: dict[str, Any] = {
            "Id": self.fid,
            "BillNo": self.number,
            "DocumentStatus": self.status,
            "FID": self.fid,
            "FBillNo": self.number,
            "FDocumentStatus": self.status,
            "FCreateDate": self.created,
            "FModifyDate": self.modified,
            "FApproveDate": self.approved,
        }
        out.update(copy.deepcopy(self.model))
        return out
