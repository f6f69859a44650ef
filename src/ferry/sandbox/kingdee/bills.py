"""The sandbox's bill store: documents, their Z/A/B/C/D life cycle, and Push (下推) with link tracking.

Everything here is plain Python on in-memory dicts; :mod:`ferry.sandbox.kingdee.app` turns the results into
Kingdee envelopes. Each operation returns :class:`Outcome` rows (one per input package, by ``DIndex``) so a
batch succeeds and fails per bill, as on a real server.

Statuses (reference §8.4): ``Z`` 暂存 draft, ``A`` 创建 created, ``B`` 审核中 submitted, ``C`` 已审核 audited,
``D`` 重新审核 unaudited. Save: Z→A; Submit: A/D→B; CancelAssign: B→A; Audit: B→C; UnAudit: C→D;
Delete only in Z/A/D; Push needs a C source.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
class FormSpec:
    """What the sandbox knows about one business object (form)."""

    form_id: str
    name: str
    number_prefix: str
    number_width: int
    #: entry (单据体) keys, e.g. ``FPAYAPPLYENTRY``
    entries: tuple[str, ...] = ()
    #: declared header field keys (queries accept them even when no bill carries a value)
    header_fields: tuple[str, ...] = ()
    #: declared entry field keys per entry
    entry_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: entry fields a Save must find filled: (entry, field key, label for the message)
    required_entry_fields: tuple[tuple[str, str, str], ...] = ()
    #: label of the main entry in messages (单据体“明细”)
    entry_label: str = "明细"


CN_PAYAPPLY = FormSpec(
    form_id="CN_PAYAPPLY",
    name="付款申请单",
    number_prefix="FKSQ",
    number_width=6,
    entries=("FPAYAPPLYENTRY",),
    header_fields=(
        "FBILLTYPEID",
        "FDATE",
        "FCONTACTUNITTYPE",
        "FCONTACTUNIT",
        "FRECTUNITTYPE",
        "FRECTUNIT",
        "FCURRENCYID",
        "FPAYORGID",
        "FSETTLEORGID",
        "FPURCHASEORGID",
        "FPURCHASEDEPTID",
        "FPURCHASERGROUPID",
        "FPURCHASERID",
        "FSALEORGID",
        "FSALEDEPTID",
        "FSALEGROUPID",
        "FSALEERID",
        "FDEPARTMENT",
        "FScanPoint",
        "FCANCELSTATUS",
        "FSOURCESYSTEM",
        "FIsCredit",
        "FBankActID",
        "FAPPLYORGID",
        "FSETTLECUR",
        "FPAYAMOUNTFOR_H",
        "FAPPLYAMOUNTFOR_H",
        "FCLOSESTATUS",
        "FCREATORID",
        "FREMARK",
    ),
    entry_fields={
        "FPAYAPPLYENTRY": (
            "FEntryID",
            "FCOSTID",
            "FSETTLETYPEID",
            "FPAYPURPOSEID",
            "FARPURPOSEID",
            "FENDDATE",
            "FEXPECTPAYDATE",
            "FAPPLYAMOUNTFOR",
            "FPAYAMOUNTFOR",
            "FTAXAMOUNT",
            "FApplyPclAmount",
            "FApplyInstAmount",
            "FEACHBANKACCOUNT",
            "FEACHCCOUNTNAME",
            "FEACHBANKNAME",
            "FSwiftCode",
            "FDescription",
            "FPRICE",
            "FQTY",
            "FPRICEUNITID",
            "FSRCBILLNO",
            "FSOURCETYPE",
            "FMATERIALID",
            "FORDERENTRYID",
            "FUnpaidAmount",
            "FRELATEPAYAMOUNT",
        )
    },
)

AP_PAYBILL = FormSpec(
    form_id="AP_PAYBILL",
    name="付款单",
    number_prefix="FKD",
    number_width=8,
    entries=("FPAYBILLENTRY", "FPAYBILLSRCENTRY"),
    header_fields=(
        "FBillTypeID",
        "FDATE",
        "FCONTACTUNITTYPE",
        "FCONTACTUNIT",
        "FRECTUNITTYPE",
        "FRECTUNIT",
        "FDepartment",
        "FISINIT",
        "FCURRENCYID",
        "FEXCHANGERATE",
        "FSETTLERATE",
        "FSETTLEORGID",
        "FPURCHASEORGID",
        "FPURCHASEDEPTID",
        "FPURCHASERGROUPID",
        "FPURCHASERID",
        "FBUSINESSTYPE",
        "FScanPoint",
        "FCancelStatus",
        "FPAYORGID",
        "FISSAMEORG",
        "FIsCredit",
        "FSETTLECUR",
        "FIsWriteOff",
        "FMatchMethodID",
        "FREALPAY",
        "FREMARK",
        "FBookingDate",
        "FTHIRDBILLNO",
        "FWBSETTLENO",
        "FISCARRYRATE",
        "FSETTLEMAINBOOKID",
        "FREALPAYAMOUNTFOR",
    ),
    entry_fields={
        "FPAYBILLENTRY": (
            "FEntryID",
            "FSETTLETYPEID",
            "FPURPOSEID",
            "FPAYITEMTYPE",
            "FPAYITEM",
            "FPAYTOTALAMOUNTFOR",
            "FPAYAMOUNTFOR_E",
            "FSETTLEDISTAMOUNTFOR",
            "FSETTLEPAYAMOUNTFOR",
            "FOVERSHORTAGEFOR",
            "FHANDLINGCHARGEFOR",
            "FREALPAYAMOUNTFOR_D",
            "FACCOUNTID",
            "FINNERACCOUNTID",
            "FOPPOSITEBANKACCOUNT",
            "FOPPOSITECCOUNTNAME",
            "FOPPOSITEBANKNAME",
            "FCashAccount",
            "FSETTLENO",
            "FCOMMENT",
            "FPURCHASEORDERID",
            "FCOSTID",
            "FEXPENSEDEPTID_E",
            "FPAYAMOUNT_E",
            "FPOSTDATE",
            "FMATERIALID",
            "FPRICEUNITID",
            "FPRICE",
            "FPURCHASEORDERNO",
            "FORDERENTRYID",
            "FSwiftCode",
        ),
        "FPAYBILLSRCENTRY": (
            "FEntryID",
            "FTAXAMOUNT",
            "FPAYPURPOSEID",
            "FSRCCOSTID",
            "FEXPENSEDEPTID",
            "FSRCPRICEUNITID",
            "FSRCPRICE",
            "FSRCQTY",
            "FTAXAMOUNTLOC",
            "FPLANPAYAMOUNTLOC",
            "FREALPAYAMOUNTLOC",
            "FSRCREMARK",
            "FSOURCETYPE",
            "FSRCBILLID",
            "FSRCBILLNO",
            "FSRCROWID",
            "FPLANPAYAMOUNT",
            "FREALPAYAMOUNT",
        ),
    },
    required_entry_fields=(
        ("FPAYBILLENTRY", "FSETTLETYPEID", "结算方式"),
        ("FPAYBILLENTRY", "FPURPOSEID", "付款用途"),
    ),
    entry_label="明细",
)

#: forms the generic store accepts out of the box (more can be registered through the admin API)
GENERIC_FORMS = (
    "BD_Supplier",
    "BD_Customer",
    "BD_MATERIAL",
    "BD_Empinfo",
    "BD_Department",
    "BD_BANK",
    "AP_Payable",
    "AR_receivable",
    "AR_RECEIVEBILL",
    "PUR_PurchaseOrder",
    "SAL_SaleOrder",
    "STK_InStock",
    "STK_MISCELLANEOUS",
    "CN_PAYAPPLYBILL",
    "ER_ExpReimbursement",
    "GL_VOUCHER",
)

#: header fields every bill has, whatever its form (values live on the Bill, not in the model)
SYSTEM_FIELDS = ("FID", "FBillNo", "FDocumentStatus", "FCreateDate", "FModifyDate", "FApproveDate", "FFormId")

#: the conversion rule the sandbox implements (reference §6: the likely real RuleId)
PAYAPPLY_TO_PAYBILL_RULE = "CN_PAYAPPLYTOPAYBILL"


def _norm(key: str) -> str:
    return key.casefold()


def get_ci(mapping: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """``mapping[key]`` with the key matched case-insensitively (Kingdee keys are not case-significant)."""
    if key in mapping:
        return mapping[key]
    folded = _norm(key)
    for k, v in mapping.items():
        if _norm(k) == folded:
            return v
    return default


def pop_ci(mapping: dict[str, Any], key: str) -> Any:
    """Remove and return ``key`` matched case-insensitively (``None`` if absent)."""
    folded = _norm(key)
    for k in list(mapping):
        if _norm(k) == folded:
            return mapping.pop(k)
    return None


def truthy(value: Any, default: bool = False) -> bool:
    """Kingdee booleans arrive as JSON booleans or as the strings ``"true"``/``"false"``."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() in ("true", "1", "yes")


def base_number(value: Any) -> str | None:
    """The number of a base-data reference ``{"FNumber": "..."}`` (or a bare string)."""
    if isinstance(value, Mapping):
        number = get_ci(value, "FNumber")
        return None if number in (None, "") else str(number)
    if value in (None, ""):
        return None
    return str(value)


def now_text() -> str:
    """Kingdee's date-time text form, ``2019-01-10T00:00:00``."""
    return dt.datetime.now().replace(microsecond=0).isoformat()


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
        k = _norm(key)
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


class BillStore:
    """All bills of all forms, with numbering, life cycle and Push. Thread-safe through one lock."""

    def __init__(self, extra_forms: Iterable[str] = (), *, push_control: bool = True) -> None:
        #: Kingdee refuses to push more than a source's amount (BOTP over-push control)
        self.push_control = push_control
        self.lock = threading.RLock()
        self.specs: dict[str, FormSpec] = {}
        for spec in (CN_PAYAPPLY, AP_PAYBILL):
            self.specs[_norm(spec.form_id)] = spec
        for form in (*GENERIC_FORMS, *extra_forms):
            self.register_form(form)
        self._bills: dict[int, Bill] = {}
        self._ids = itertools.count(100001)
        self._entry_ids = itertools.count(200001)
        self._seq: dict[str, int] = {}

    # ---- forms -----------------------------------------------------------------------------------------
    def register_form(self, form_id: str, name: str | None = None) -> FormSpec:
        """Make a generic form known (numbering from the form id's letters)."""
        key = _norm(form_id)
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
        spec = self.specs.get(_norm(form_id))
        if spec is None:
            raise OperationError(f"标识为“{form_id}”的业务对象不存在，或者被删除", MSG_EXCEPTION)
        return spec

    # ---- lookup ----------------------------------------------------------------------------------------
    def bills(self, form_id: str) -> list[Bill]:
        """Bills of one form in id order."""
        key = _norm(form_id)
        return [b for b in self._bills.values() if _norm(b.form_id) == key]

    def get(self, form_id: str, *, fid: int | None = None, number: str | None = None) -> Bill | None:
        """One bill by internal id or by number."""
        key = _norm(form_id)
        if fid is not None:
            bill = self._bills.get(fid)
            return bill if bill is not None and _norm(bill.form_id) == key else None
        if number:
            for bill in self._bills.values():
                if _norm(bill.form_id) == key and bill.number == number:
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

    # ---- saving ----------------------------------------------------------------------------------------
    def _assign_entry_ids(self, spec: FormSpec, model: dict[str, Any]) -> None:
        for key, value in model.items():
            rows = value if isinstance(value, list) else None
            is_entry = any(_norm(key) == _norm(e) for e in spec.entries) or (
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

    def validate(self, spec: FormSpec, model: Mapping[str, Any]) -> list[Message]:
        """Save-time checks (required fields); drafts skip them, as on a real server."""
        errors: list[Message] = []
        for entry, field_key, label in spec.required_entry_fields:
            rows = get_ci(model, entry)
            if not isinstance(rows, list):
                continue
            for i, row in enumerate(rows, start=1):
                if not isinstance(row, dict):
                    continue
                value = get_ci(row, field_key)
                if value in (None, "") or (isinstance(value, Mapping) and base_number(value) is None):
                    errors.append(
                        Message(
                            f"单据体“{spec.entry_label}”第{i}行字段“{label}”是必填项", field_name=field_key
                        )
                    )
        if spec.required_entry_fields:
            main_entry = spec.required_entry_fields[0][0]
            rows = get_ci(model, main_entry)
            if not isinstance(rows, list) or not rows:
                errors.append(
                    Message(f"单据体“{spec.entry_label}”至少需要录入一行数据", field_name=main_entry)
                )
        return errors

    def save_one(
        self,
        form_id: str,
        model: Mapping[str, Any],
        index: int,
        *,
        draft: bool = False,
        need_update_fields: Sequence[str] = (),
        need_return_fields: Sequence[str] = (),
        auto_submit_audit: bool = False,
    ) -> Outcome:
        """Save (or Draft) one model: create when ``FID`` is 0/absent, else update."""
        spec = self.spec(form_id)
        with self.lock:
            data = copy.deepcopy(dict(model))
            fid_value = pop_ci(data, "FID")
            number_value = pop_ci(data, "FBillNo")
            pop_ci(data, "FDocumentStatus")
            try:
                fid = int(fid_value or 0)
            except (TypeError, ValueError):
                return Outcome(index, False, errors=[Message("FID 必须是整数", "FID")], msg_code=MSG_PARAM)
            number = str(number_value).strip() if number_value not in (None, "") else ""
            existing: Bill | None = None
            if fid:
                existing = self.get(spec.form_id, fid=fid)
                if existing is None:
                    return Outcome(
                        index,
                        False,
                        errors=[Message(f"单据内码为“{fid}”的{spec.name}不存在", "FID")],
                        msg_code=MSG_NOT_FOUND,
                    )
                if existing.status in ("B", "C"):
                    return Outcome(
                        index,
                        False,
                        errors=[
                            Message(
                                f"单据编号为“{existing.number}”的{spec.name}当前状态为{STATUS_LABELS[existing.status]}，不能修改！"
                            )
                        ],
                        msg_code=MSG_VALIDATION,
                    )
                merged = self._merge(existing.model, data, need_update_fields)
            else:
                merged = data
            if number:
                clash = self.get(spec.form_id, number=number)
                if clash is not None and clash is not existing:
                    return Outcome(
                        index,
                        False,
                        errors=[
                            Message(
                                f"违反字段唯一性要求：编码唯一。[{number}]在当前系统中已经被使用。", "FBillNo"
                            )
                        ],
                        msg_code=MSG_VALIDATION,
                    )
            if not draft:
                errors = self.validate(spec, merged)
                if errors:
                    return Outcome(index, False, errors=errors, msg_code=MSG_VALIDATION)
            self._assign_entry_ids(spec, merged)
            stamp = now_text()
            if existing is None:
                if not number and not draft:
                    number = self.next_number(spec)
                bill = Bill(
                    spec.form_id, next(self._ids), number, "Z" if draft else "A", merged, stamp, stamp
                )
                self._bills[bill.fid] = bill
            else:
                bill = existing
                bill.model = merged
                bill.modified = stamp
                if number:
                    bill.number = number
                elif not draft and not bill.number:
                    bill.number = self.next_number(spec)
                if not draft and bill.status == "Z":
                    bill.status = "A"
            outcome = Outcome(index, True, bill.fid, bill.number)
            outcome.need_return = {k: self.field_value(bill, k) for k in need_return_fields}
            if auto_submit_audit and not draft:
                for op in ("Submit", "Audit"):
                    step = self.transition(bill, op, index)
                    if not step.ok:
                        outcome.errors.extend(step.errors)
                        outcome.msg_code = step.msg_code
                        break
            return outcome

    @staticmethod
    def _merge(old: dict[str, Any], new: dict[str, Any], only: Sequence[str]) -> dict[str, Any]:
        if not only:
            return new
        merged = copy.deepcopy(old)
        wanted = {_norm(k) for k in only}
        for key, value in new.items():
            if _norm(key) not in wanted and not isinstance(value, list):
                continue
            if isinstance(value, list):
                current = get_ci(merged, key)
                rows = current if isinstance(current, list) else []
                by_id = {get_ci(r, "FEntryID"): r for r in rows if isinstance(r, dict)}
                for row in value:
                    if not isinstance(row, dict):
                        continue
                    target = by_id.get(get_ci(row, "FEntryID"))
                    if target is not None and get_ci(row, "FEntryID"):
                        target.update(
                            {k: v for k, v in row.items() if _norm(k) in wanted or _norm(k) == "fentryid"}
                        )
                    else:
                        rows.append(row)
                pop_ci(merged, key)
                merged[key] = rows
            else:
                pop_ci(merged, key)
                merged[key] = value
        return merged

    # ---- operations by id or number ------------------------------------------------------------------
    def resolve_targets(self, spec: FormSpec, ids: Any, numbers: Any) -> list[tuple[str, Bill | None]]:
        """The bills a Submit/Audit/... addresses, in DIndex order; ``Ids`` wins over ``Numbers``."""
        id_list = split_ids(ids)
        if id_list:
            out: list[tuple[str, Bill | None]] = []
            for raw in id_list:
                try:
                    out.append((raw, self.get(spec.form_id, fid=int(raw))))
                except ValueError:
                    out.append((raw, None))
            return out
        number_list = (
            [str(n) for n in (numbers or []) if str(n).strip()]
            if isinstance(numbers, list)
            else ([s.strip() for s in str(numbers).split(",") if s.strip()] if numbers else [])
        )
        if not number_list:
            raise OperationError("Numbers 和 Ids 不能同时为空", MSG_PARAM, "Numbers")
        return [(n, self.get(spec.form_id, number=n)) for n in number_list]

    def operate(self, form_id: str, op: str, ids: Any, numbers: Any) -> list[Outcome]:
        """Submit / Audit / UnAudit / Delete / CancelAssign on each addressed bill, one outcome per DIndex."""
        spec = self.spec(form_id)
        with self.lock:
            outcomes: list[Outcome] = []
            for index, (key, bill) in enumerate(self.resolve_targets(spec, ids, numbers)):
                if bill is None:
                    outcomes.append(
                        Outcome(
                            index,
                            False,
                            errors=[Message(f"单据“{key}”不存在或已被删除（{spec.name}）")],
                            msg_code=MSG_NOT_FOUND,
                        )
                    )
                    continue
                outcomes.append(self.transition(bill, op, index))
            return outcomes

    def transition(self, bill: Bill, op: str, index: int) -> Outcome:
        """Apply one life-cycle step to one bill."""
        spec = self.spec(bill.form_id)
        who = f"单据编号为“{bill.number or bill.fid}”的{spec.name}"
        status = bill.status

        def refuse(text: str) -> Outcome:
            return Outcome(
                index,
                False,
                bill.fid,
                bill.number,
                errors=[Message(f"{who}，{text}")],
                msg_code=MSG_VALIDATION,
            )

        def done(text: str) -> Outcome:
            bill.modified = now_text()
            return Outcome(index, True, bill.fid, bill.number, messages=[Message(f"{who}，{text}")])

        op_key = op.casefold()
        if op_key == "submit":
            if status == "Z":
                return refuse("暂存的单据不能提交，请先保存！")
            if status == "B":
                return refuse("单据已经提交！")
            if status == "C":
                return refuse("单据已经审核！")
            bill.status = "B"
            return done("提交成功！")
        if op_key == "cancelassign":
            if status != "B":
                return refuse("只有审核中的单据才能撤销！")
            bill.status = "A"
            return done("撤销成功！")
        if op_key == "audit":
            if status == "C":
                return refuse("单据已经审核！")
            if status != "B":
                return refuse("单据未提交，不能审核！")
            bill.status = "C"
            bill.approved = now_text()
            return done("审核成功！")
        if op_key == "unaudit":
            if status != "C":
                return refuse("单据未审核，不能反审核！")
            if any(v > 0 for v in bill.pushed.values()):
                return refuse("已经存在下游单据，不能反审核！")
            bill.status = "D"
            bill.approved = None
            return done("反审核成功！")
        if op_key == "delete":
            if status in ("B", "C"):
                return refuse(f"当前状态为{STATUS_LABELS[status]}，不能删除！")
            self._release_links(bill)
            del self._bills[bill.fid]
            return done("删除成功！")
        raise OperationError(f"操作“{op}”不存在或未启用", MSG_EXCEPTION)

    def _release_links(self, target: Bill) -> None:
        # deleting a pushed target gives the linked amount back to its source rows (BOTP write-back)
        for link in target.links:
            source = self._bills.get(link.source_id)
            if source is not None and link.source_entry_id in source.pushed:
                left = round(source.pushed[link.source_entry_id] - link.amount, 2)
                source.pushed[link.source_entry_id] = max(0.0, left)

    # ---- push --------------------------------------------------------------------------------------
    def push(self, form_id: str, data: Mapping[str, Any]) -> list[Outcome]:
        """Push (下推) source bills to their target form; one outcome per source bill (DIndex)."""
        spec = self.spec(form_id)
        target_form = str(get_ci(data, "TargetFormId") or "").strip()
        rule_id = str(get_ci(data, "RuleId") or "").strip()
        use_default = truthy(get_ci(data, "IsEnableDefaultRule"), False)
        keep_draft = truthy(get_ci(data, "IsDraftWhenSaveFail"), False)
        if not use_default and not rule_id:
            raise OperationError("未启用默认转换规则时，RuleId 不能为空", MSG_PARAM, "RuleId")
        if use_default and not target_form and not rule_id:
            raise OperationError("启用默认转换规则时，TargetFormId 不能为空", MSG_PARAM, "TargetFormId")
        if rule_id and rule_id.casefold() != PAYAPPLY_TO_PAYBILL_RULE.casefold():
            raise OperationError(f"转换规则“{rule_id}”不存在或未启用", MSG_EXCEPTION, "RuleId")
        if target_form and _norm(target_form) != _norm(AP_PAYBILL.form_id):
            raise OperationError(
                f"未找到从“{spec.name}”到“{target_form}”的转换规则", MSG_EXCEPTION, "TargetFormId"
            )
        if spec is not CN_PAYAPPLY:
            raise OperationError(f"未找到从“{spec.name}”到“{AP_PAYBILL.name}”的转换规则", MSG_EXCEPTION)
        bill_type = base_number(get_ci(data, "TargetBillTypeId"))
        with self.lock:
            entry_ids = {int(x) for x in split_ids(get_ci(data, "EntryIds")) if x.isdigit()}
            if entry_ids:
                sources: list[tuple[str, Bill | None]] = []
                for bill in self.bills(spec.form_id):
                    rows = bill.entry_rows("FPAYAPPLYENTRY")
                    if any(int(get_ci(r, "FEntryID") or 0) in entry_ids for r in rows):
                        sources.append((bill.number, bill))
                if not sources:
                    raise OperationError("按分录下推时，未找到指定的分录内码", MSG_NOT_FOUND, "EntryIds")
            else:
                sources = self.resolve_targets(spec, get_ci(data, "Ids"), get_ci(data, "Numbers"))
            return [
                self._push_one(i, key, bill, keep_draft, bill_type, entry_ids)
                for i, (key, bill) in enumerate(sources)
            ]

    def _push_one(
        self,
        index: int,
        key: str,
        source: Bill | None,
        keep_draft: bool,
        bill_type: str | None,
        entry_ids: set[int],
    ) -> Outcome:
        if source is None:
            return Outcome(
                index,
                False,
                errors=[Message(f"下推失败：未找到单据编号为“{key}”的{CN_PAYAPPLY.name}")],
                msg_code=MSG_NOT_FOUND,
                source_number=key,
            )
        out = Outcome(index, False, source_id=source.fid, source_number=source.number)
        if source.status != "C":
            out.errors.append(
                Message(
                    f"下推失败：单据编号为“{source.number}”的{CN_PAYAPPLY.name}未审核"
                    f"（当前状态：{STATUS_LABELS.get(source.status, source.status)}），只有已审核的单据才能下推"
                )
            )
            out.msg_code = MSG_VALIDATION
            return out
        rows: list[tuple[dict[str, Any], int, float]] = []
        for row in source.entry_rows("FPAYAPPLYENTRY"):
            entry_id = int(get_ci(row, "FEntryID") or 0)
            if entry_ids and entry_id not in entry_ids:
                continue
            amount = as_float(get_ci(row, "FAPPLYAMOUNTFOR"))
            # without over-push control (a conversion rule whose write-back check is off) every Push
            # converts the whole amount again: nothing on Kingdee's side stops a duplicate payment bill
            left = round(amount - source.pushed.get(entry_id, 0.0), 2) if self.push_control else amount
            if left > 0:
                rows.append((row, entry_id, left))
        if not rows:
            out.errors.append(
                Message(
                    f"下推失败：单据编号为“{source.number}”的{CN_PAYAPPLY.name}已全部下推生成{AP_PAYBILL.name}"
                    "（关联金额已满），不能重复下推"
                )
            )
            out.msg_code = MSG_VALIDATION
            return out
        out.converted = True
        model = self._paybill_model(source, rows, bill_type)
        errors = self.validate(AP_PAYBILL, model)
        if errors and not keep_draft:
            out.errors.extend(errors)
            out.msg_code = MSG_VALIDATION
            return out
        self._assign_entry_ids(AP_PAYBILL, model)
        stamp = now_text()
        draft = bool(errors)
        number = "" if draft else self.next_number(AP_PAYBILL)
        target = Bill(AP_PAYBILL.form_id, next(self._ids), number, "Z" if draft else "A", model, stamp, stamp)
        for row, entry_id, left in rows:
            source.pushed[entry_id] = round(source.pushed.get(entry_id, 0.0) + left, 2)
            target.links.append(Link(CN_PAYAPPLY.form_id, source.fid, source.number, entry_id, left))
            row["FRELATEPAYAMOUNT"] = source.pushed[entry_id]
        self._bills[target.fid] = target
        out.bill_id = target.fid
        out.number = number
        if draft:
            # the target exists as a draft without a number ("暂存的单据是没有编码的"); report why and that it is kept
            out.draft = True
            out.errors.extend(errors)
            out.msg_code = MSG_VALIDATION
            out.messages.append(
                Message(f"下游单据保存失败，已暂存（暂存的单据没有编码）：{AP_PAYBILL.name}内码 {target.fid}")
            )
        else:
            out.ok = True
        return out

    @staticmethod
    def _paybill_model(
        source: Bill, rows: list[tuple[dict[str, Any], int, float]], bill_type: str | None
    ) -> dict[str, Any]:
        src = source.model
        model: dict[str, Any] = {"FBillTypeID": {"FNUMBER": bill_type or "FKDLX01_SYS"}}
        model["FDATE"] = get_ci(src, "FDATE") or now_text()
        for key in (
            "FCONTACTUNITTYPE",
            "FCONTACTUNIT",
            "FRECTUNITTYPE",
            "FRECTUNIT",
            "FCURRENCYID",
            "FPAYORGID",
            "FSETTLEORGID",
            "FPURCHASEORGID",
            "FDEPARTMENT",
            "FSETTLECUR",
            "FREMARK",
        ):
            value = get_ci(src, key)
            if value not in (None, ""):
                model[key] = copy.deepcopy(value)
        model["FEXCHANGERATE"] = 1.0
        model["FSETTLERATE"] = 1.0
        model["FREALPAYAMOUNTFOR"] = round(sum(left for _, _, left in rows), 2)
        pay_rows: list[dict[str, Any]] = []
        src_rows: list[dict[str, Any]] = []
        for seq, (row, entry_id, left) in enumerate(rows, start=1):
            pay: dict[str, Any] = {}
            settle = get_ci(row, "FSETTLETYPEID")
            if settle not in (None, "") and base_number(settle):
                pay["FSETTLETYPEID"] = copy.deepcopy(settle)
            pay["FPURPOSEID"] = copy.deepcopy(get_ci(row, "FPAYPURPOSEID") or {"FNumber": "SFKYT01_SYS"})
            pay["FPAYTOTALAMOUNTFOR"] = left
            pay["FPAYAMOUNTFOR_E"] = left
            pay["FSETTLEPAYAMOUNTFOR"] = left
            pay["FREALPAYAMOUNTFOR_D"] = left
            for s_key, t_key in (
                ("FEACHBANKACCOUNT", "FOPPOSITEBANKACCOUNT"),
                ("FEACHCCOUNTNAME", "FOPPOSITECCOUNTNAME"),
                ("FEACHBANKNAME", "FOPPOSITEBANKNAME"),
                ("FDescription", "FCOMMENT"),
            ):
                value = get_ci(row, s_key)
                if value not in (None, ""):
                    pay[t_key] = value
            pay_rows.append(pay)
            src_rows.append(
                {
                    "FSOURCETYPE": CN_PAYAPPLY.form_id,
                    "FSRCBILLID": source.fid,
                    "FSRCBILLNO": source.number,
                    "FSRCROWID": entry_id,
                    "FSRCSEQ": seq,
                    "FPAYPURPOSEID": copy.deepcopy(get_ci(row, "FPAYPURPOSEID")),
                    "FPLANPAYAMOUNT": left,
                    "FREALPAYAMOUNT": left,
                    "FPLANPAYAMOUNTLOC": left,
                    "FREALPAYAMOUNTLOC": left,
                }
            )
        model["FPAYBILLENTRY"] = pay_rows
        model["FPAYBILLSRCENTRY"] = src_rows
        return model

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


def split_ids(ids: Any) -> list[str]:
    """``Ids`` as a list of strings: ``"1,2"`` (the documented form) or a JSON array."""
    if ids is None or ids == "":
        return []
    if isinstance(ids, (list, tuple)):
        return [str(i).strip() for i in ids if str(i).strip()]
    return [s.strip() for s in str(ids).split(",") if s.strip()]


def as_float(value: Any) -> float:
    """A number from JSON (number or numeric string); 0 if absent."""
    if value in (None, ""):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


__all__ = [
    "AP_PAYBILL",
    "CN_PAYAPPLY",
    "Bill",
    "BillStore",
    "FormSpec",
    "Link",
    "Message",
    "OperationError",
    "Outcome",
    "base_number",
    "get_ci",
    "truthy",
]
