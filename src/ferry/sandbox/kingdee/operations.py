"""The DynamicFormService operations: Save/BatchSave/Draft, the life cycle, View, Push, queries, form info."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ferry.sandbox.kingdee.bills import Bill, OperationError, Outcome, get_ci, truthy
from ferry.sandbox.kingdee.envelopes import DYNAMIC_OPS, str_list
from ferry.sandbox.kingdee.query import parse_query, run_query
from ferry.sandbox.kingdee.replies import Replies

_FORM_DATA_OPS = frozenset(
    {"save", "batchsave", "draft", "view", "submit", "audit", "unaudit", "delete", "push", "cancelassign"}
)


class Operations(Replies):
    """Runs one decoded business call against the bill store and shapes its answer."""

    def _execute(self, op_key: str, form_id: str, op_number: str, data: dict[str, Any]) -> Response:
        store = self.store
        if op_key in _FORM_DATA_OPS or op_key in ("excuteoperation", "executeoperation"):
            store.spec(form_id)
        if op_key in ("save", "draft"):
            model = get_ci(data, "Model")
            if not isinstance(model, dict):
                raise OperationError("data 数据包中的参数 Model 不能为空", 8, "Model")
            outcome = store.save_one(
                form_id,
                model,
                0,
                draft=op_key == "draft",
                need_update_fields=str_list(get_ci(data, "NeedUpDateFields")),
                need_return_fields=str_list(get_ci(data, "NeedReturnFields")),
                auto_submit_audit=truthy(get_ci(data, "IsAutoSubmitAndAudit")),
            )
            return self._save_reply([outcome], single=True)
        if op_key == "batchsave":
            models = get_ci(data, "Model")
            if not isinstance(models, list) or not models:
                raise OperationError("data 数据包中的参数 Model 必须是非空数组", 8, "Model")
            outcomes = [
                store.save_one(
                    form_id,
                    m if isinstance(m, dict) else {},
                    i,
                    need_update_fields=str_list(get_ci(data, "NeedUpDateFields")),
                    need_return_fields=str_list(get_ci(data, "NeedReturnFields")),
                    auto_submit_audit=truthy(get_ci(data, "IsAutoSubmitAndAudit")),
                )
                for i, m in enumerate(models)
            ]
            return self._save_reply(outcomes, single=False)
        if op_key in ("submit", "audit", "unaudit", "delete", "cancelassign"):
            outcomes = store.operate(
                form_id, DYNAMIC_OPS[op_key], get_ci(data, "Ids"), get_ci(data, "Numbers")
            )
            return self._json({"Result": {"ResponseStatus": self._status(outcomes)}})
        if op_key in ("excuteoperation", "executeoperation"):
            op = op_number.strip()
            known = {
                "submit": "Submit",
                "audit": "Audit",
                "unaudit": "UnAudit",
                "delete": "Delete",
                "cancelassign": "CancelAssign",
            }
            if op.casefold() not in known:
                raise OperationError(
                    f"操作“{op}”不存在或未启用（沙箱支持：{', '.join(known.values())}）", 4, "opNumber"
                )
            outcomes = store.operate(
                form_id, known[op.casefold()], get_ci(data, "Ids"), get_ci(data, "Numbers")
            )
            return self._json({"Result": {"ResponseStatus": self._status(outcomes)}})
        if op_key == "view":
            return self._view(form_id, data)
        if op_key == "push":
            outcomes = store.push(form_id, data)
            return self._json(
                {
                    "Result": {
                        "ResponseStatus": self._push_status(outcomes),
                        "ConvertResponseStatus": self._convert_status(outcomes),
                    }
                }
            )
        if op_key == "executebillquery":
            try:
                _, rows = run_query(store, parse_query(data))
            except OperationError as exc:
                return self._failure(exc.message, exc.msg_code, wrap=True, field_name=exc.field_name)
            return self._json(rows)
        if op_key == "billquery":
            keys, rows = run_query(store, parse_query(data))
            return self._json([dict(zip(keys, row, strict=True)) for row in rows])
        if op_key == "querybusinessinfo":
            spec = store.spec(str(get_ci(data, "FormId") or ""))
            return self._json(
                {
                    "Result": {
                        "ResponseStatus": self._status([Outcome(0, True)]),
                        "NeedReturnData": {
                            "Id": spec.form_id,
                            "Name": [{"Key": 2052, "Value": spec.name}],
                            "Entrys": [
                                {"Key": e, "Fields": list(spec.entry_fields.get(e, ()))} for e in spec.entries
                            ],
                            "Fields": list(spec.header_fields),
                        },
                    }
                }
            )
        if op_key == "switchorg":
            return self._json({"Result": {"ResponseStatus": self._status([Outcome(0, True)])}})
        raise OperationError(f"沙箱未实现操作 {op_key}", 4)

    def _view(self, form_id: str, data: dict[str, Any]) -> Response:
        spec = self.store.spec(form_id)
        number = str(get_ci(data, "Number") or "").strip()
        raw_id = get_ci(data, "Id")
        bill: Bill | None = None
        with self.store.lock:
            if raw_id not in (None, "", 0, "0"):
                try:
                    bill = self.store.get(spec.form_id, fid=int(raw_id))
                except (TypeError, ValueError):
                    bill = None
            elif number:
                bill = self.store.get(spec.form_id, number=number)
            else:
                raise OperationError("Number 和 Id 不能同时为空", 8, "Number")
            if bill is None:
                return self._failure(f"单据“{number or raw_id}”不存在或已被删除（{spec.name}）", 10)
            package = bill.package()
        return self._json(
            {
                "Result": {
                    "ResponseStatus": self._status([Outcome(0, True, bill.fid, bill.number)]),
                    "Result": package,
                }
            }
        )
