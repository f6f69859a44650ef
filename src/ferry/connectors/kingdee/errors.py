"""Kingdee answers → Ferry's typed connector errors, by meaning (reference §5, §7b).

| answer                                              | error                                  |
|-----------------------------------------------------|----------------------------------------|
| MsgCode 1 (session lost)                            | Reauthenticate (the client re-logs once) |
| MsgCode 13 网控冲突, 14 调用限制, HTTP 429           | SlowDown                               |
| MsgCode 6 数据库操作失败                              | RetryLater                             |
| MsgCode 2 no permission, 11 validation, 10 not found, 4/8/9 bad request, anything else | GiveUp |
| HTTP 5xx, ``response_error:`` body                  | RetryLater (504 on a write: OutcomeUnknown) |
| other HTTP 4xx                                      | GiveUp                                 |
| timeout / connection dropped after sending          | OutcomeUnknown on writes, RetryLater on reads |
| connect failure / nothing sent                      | RetryLater                             |
"""

from __future__ import annotations

from ferry.connectors.errors import (
    ConnectorError,
    GiveUp,
    OutcomeUnknown,
    Reauthenticate,
    RetryLater,
    SlowDown,
)
from ferry.connectors.kingdee.envelope import ResponseStatus
from ferry.observe.redact import redact

#: a reply's own words are kept to this length in an error (a hostile reply can list thousands)
MESSAGE_LIMIT = 1000

MSG_SESSION_LOST = 1
MSG_NO_PERMISSION = 2
MSG_DB_FAILURE = 6
MSG_NOT_FOUND = 10
MSG_VALIDATION = 11
MSG_CONFLICT = 13
MSG_CALL_LIMIT = 14

#: MsgCode meanings for messages (reference §5 table)
MSG_MEANING = {
    0: "failed",
    1: "session lost",
    2: "no permission",
    3: "operation id empty",
    4: "server exception",
    5: "form id empty",
    6: "database operation failed",
    7: "license error",
    8: "bad parameter",
    9: "field or value does not exist",
    10: "data not found",
    11: "validation failed",
    12: "operation not allowed",
    13: "network-control conflict",
    14: "call limit",
    15: "administrator login forbidden",
}


def msg_code_label(code: int | None) -> str:
    """``"MsgCode=11"`` for the ledger's error-code column (``"MsgCode=?"`` when the server sent none)."""
    return f"MsgCode={code if code is not None else '?'}"


def error_for_status(status: ResponseStatus, api: str) -> ConnectorError:
    """The typed error for an unsuccessful ``ResponseStatus`` (the whole call failed)."""
    code = status.msg_code
    meaning = MSG_MEANING.get(code if code is not None else 0, "failed")
    message = redact(f"Kingdee {api} {meaning}: {status.error_text()}"[:MESSAGE_LIMIT])
    label = msg_code_label(code)
    if status.session_lost:
        return Reauthenticate(message, code=label, api=api)
    if code in (MSG_CONFLICT, MSG_CALL_LIMIT):
        return SlowDown(message, code=label, api=api)
    if code == MSG_DB_FAILURE:
        return RetryLater(message, code=label, api=api)
    return GiveUp(message, code=label, api=api)


def error_for_http(status_code: int, body: str, api: str, *, write: bool) -> ConnectorError:
    """The typed error for a non-2xx HTTP answer; ``body`` is only used after redaction by the caller."""
    snippet = body.strip().replace("\n", " ")[:200]
    message = redact(f"Kingdee {api} answered HTTP {status_code}: {snippet}")
    code = f"HTTP {status_code}"
    if "Fail to verify thirty passport" in body:
        # wrong data-centre id in signed-header mode: configuration, not a transient fault (reference §4)
        return GiveUp(message, code=code, api=api)
    if status_code == 429:
        return SlowDown(message, code=code, api=api)
    if status_code == 504 and write:
        # a gateway timeout: the server behind it may have finished the write
        return OutcomeUnknown(message, code=code, api=api)
    if status_code >= 500:
        return RetryLater(message, code=code, api=api)
    return GiveUp(message, code=code, api=api)


__all__ = [
    "MSG_CALL_LIMIT",
    "MSG_CONFLICT",
    "MSG_MEANING",
    "MSG_SESSION_LOST",
    "MSG_VALIDATION",
    "error_for_http",
    "error_for_status",
    "msg_code_label",
]
