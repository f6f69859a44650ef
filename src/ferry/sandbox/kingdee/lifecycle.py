"""The life cycle: Submit / CancelAssign / Audit / UnAudit / Delete on bills addressed by id or number.

Statuses (reference §8.4): ``Z`` 暂存 draft, ``A`` 创建 created, ``B`` 审核中 submitted, ``C`` 已审核 audited,
``D`` 重新审核 unaudited. Save: Z→A; Submit: A/D→B; CancelAssign: B→A; Audit: B→C; UnAudit: C→D;
Delete only in Z/A/D; Push needs a C source.
"""

from __future__ import annotations

from typing import Any

from ferry.sandbox.kingdee.forms import FormSpec
from ferry.sandbox.kingdee.records import (
    MSG_EXCEPTION,
    MSG_NOT_FOUND,
    MSG_PARAM,
    MSG_VALIDATION,
    STATUS_LABELS,
    Bill,
    Message,
    OperationError,
    Outcome,
)
from ferry.sandbox.kingdee.store import StoreCore
from ferry.sandbox.kingdee.values import now_text, split_ids


class LifeCycle(StoreCore):
    """Status transitions, one outcome per addressed bill."""

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
