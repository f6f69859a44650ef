"""Push (下推) CN_PAYAPPLY → AP_PAYBILL with BOTP link tracking and over-push control."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ferry.sandbox.kingdee.forms import AP_PAYBILL, CN_PAYAPPLY
from ferry.sandbox.kingdee.records import (
    MSG_EXCEPTION,
    MSG_NOT_FOUND,
    MSG_PARAM,
    MSG_VALIDATION,
    STATUS_LABELS,
    Bill,
    Link,
    Message,
    OperationError,
    Outcome,
)
from ferry.sandbox.kingdee.saving import Saving
from ferry.sandbox.kingdee.values import as_float, base_number, get_ci, norm, now_text, split_ids, truthy

#: the conversion rule the sandbox implements (reference §6: the likely real RuleId)
PAYAPPLY_TO_PAYBILL_RULE = "CN_PAYAPPLYTOPAYBILL"


class Pushing(Saving):
    """Push and the target model it builds; a target is validated as a Save would be."""

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
        if target_form and norm(target_form) != norm(AP_PAYBILL.form_id):
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
