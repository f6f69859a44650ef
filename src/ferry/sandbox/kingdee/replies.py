"""Kingdee's response envelopes: ResponseStatus per outcome, Save/Push results, failures, legacy styling."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from ferry.sandbox.kingdee.bills import Message, Outcome
from ferry.sandbox.kingdee.state import SandboxState


class Replies(SandboxState):
    """Builds the JSON answers; ``envelope_style`` picks modern or legacy status shapes."""

    def _json(self, payload: Any, status_code: int = 200) -> Response:
        return Response(
            json.dumps(payload, ensure_ascii=False),
            status_code=status_code,
            media_type="application/json; charset=utf-8",
        )

    def _shape(self, status: dict[str, Any]) -> dict[str, Any]:
        """Legacy servers omit MsgCode and empty arrays and send booleans as strings (reference §5)."""
        if self.envelope_style != "legacy":
            return status
        out: dict[str, Any] = {}
        for key, value in status.items():
            if key == "MsgCode" or value == []:
                continue
            out[key] = ("true" if value else "false") if isinstance(value, bool) else value
        return out

    @staticmethod
    def _messages(items: Sequence[tuple[int, Message]]) -> list[dict[str, Any]]:
        return [{"FieldName": m.field_name, "Message": m.message, "DIndex": i} for i, m in items]

    def _status(self, outcomes: Sequence[Outcome]) -> dict[str, Any]:
        errors = [(o.index, e) for o in outcomes for e in o.errors]
        ok = not errors and all(o.ok for o in outcomes)
        status: dict[str, Any] = {}
        if not ok:
            status["ErrorCode"] = 500
        status["IsSuccess"] = ok
        status["Errors"] = self._messages(errors)
        status["SuccessEntitys"] = [
            {"Id": o.bill_id, "Number": o.number, "DIndex": o.index} for o in outcomes if o.ok and o.bill_id
        ]
        status["SuccessMessages"] = self._messages(
            [(o.index, m) for o in outcomes if o.ok for m in o.messages]
        )
        status["MsgCode"] = 0 if ok else next((o.msg_code for o in outcomes if o.errors), 0)
        return self._shape(status)

    def _save_reply(self, outcomes: Sequence[Outcome], *, single: bool) -> Response:
        result: dict[str, Any] = {"ResponseStatus": self._status(outcomes)}
        if single:
            o = outcomes[0]
            result["Id"] = o.bill_id if o.ok else ""
            result["Number"] = o.number if o.ok else ""
            result["NeedReturnData"] = [o.need_return] if o.ok else []
        else:
            result["NeedReturnData"] = [o.need_return for o in outcomes if o.ok]
        return self._json({"Result": result})

    def _push_status(self, outcomes: Sequence[Outcome]) -> dict[str, Any]:
        # saving the generated targets: success per target; a kept draft is listed with its Id and an empty
        # Number, next to the errors that stopped the save and a message saying it was kept as a draft
        errors = [(o.index, e) for o in outcomes for e in o.errors]
        ok = not errors and all(o.ok for o in outcomes)
        status: dict[str, Any] = {}
        if not ok:
            status["ErrorCode"] = 500
        status["IsSuccess"] = ok
        status["Errors"] = self._messages(errors)
        status["SuccessEntitys"] = [
            {"Id": o.bill_id, "Number": o.number, "DIndex": o.index}
            for o in outcomes
            if o.bill_id is not None
        ]
        status["SuccessMessages"] = self._messages([(o.index, m) for o in outcomes for m in o.messages])
        status["MsgCode"] = 0 if ok else next((o.msg_code for o in outcomes if o.errors), 0)
        return self._shape(status)

    def _convert_status(self, outcomes: Sequence[Outcome]) -> dict[str, Any]:
        # the conversion itself: which sources were converted, and why the others were not
        failed = [o for o in outcomes if not o.converted]
        status: dict[str, Any] = {}
        if failed:
            status["ErrorCode"] = 500
        status["IsSuccess"] = not failed
        status["Errors"] = self._messages([(o.index, e) for o in failed for e in o.errors])
        status["SuccessEntitys"] = [
            {"Id": o.source_id, "Number": o.source_number, "DIndex": o.index} for o in outcomes if o.converted
        ]
        status["SuccessMessages"] = []
        status["MsgCode"] = next((o.msg_code for o in failed), 0)
        return self._shape(status)

    def _failure(
        self, message: str, msg_code: int, *, wrap: bool = False, field_name: str | None = None
    ) -> Response:
        status = self._shape(
            {
                "ErrorCode": 500,
                "IsSuccess": False,
                "Errors": [{"FieldName": field_name, "Message": message, "DIndex": 0}],
                "SuccessEntitys": [],
                "SuccessMessages": [],
                "MsgCode": msg_code,
            }
        )
        envelope: Any = {"Result": {"ResponseStatus": status}}
        # ExecuteBillQuery answers errors inside its list-of-lists shape (reference §7.4)
        return self._json([[envelope]] if wrap else envelope)
