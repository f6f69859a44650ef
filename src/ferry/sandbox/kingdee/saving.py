"""Save / Draft: create or update one model, with the save-time checks and partial updates."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ferry.sandbox.kingdee.forms import FormSpec
from ferry.sandbox.kingdee.lifecycle import LifeCycle
from ferry.sandbox.kingdee.records import (
    MSG_NOT_FOUND,
    MSG_PARAM,
    MSG_VALIDATION,
    STATUS_LABELS,
    Bill,
    Message,
    Outcome,
)
from ferry.sandbox.kingdee.values import base_number, get_ci, norm, now_text, pop_ci


class Saving(LifeCycle):
    """Save and its validation; an auto-submitted save goes on through the life cycle."""

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
        wanted = {norm(k) for k in only}
        for key, value in new.items():
            if norm(key) not in wanted and not isinstance(value, list):
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
                            {k: v for k, v in row.items() if norm(k) in wanted or norm(k) == "fentryid"}
                        )
                    else:
                        rows.append(row)
                pop_ci(merged, key)
                merged[key] = rows
            else:
                pop_ci(merged, key)
                merged[key] = value
        return merged
