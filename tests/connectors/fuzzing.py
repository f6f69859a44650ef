"""Shared hypothesis strategies for the connectors' fuzz tests: JSON shaped like hostile API answers.

Keys mix the names the parsers look for (``success``, ``errcode``, ``ResponseStatus``, ``DIndex``...) with
arbitrary text, so generated answers reach the interesting branches rather than only the "unknown key" one.
Budgets are fixed and the runs derandomised, so a file takes the same (short) time on every run.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

INTERESTING_KEYS = [
    # REST markers and paths
    "success",
    "ok",
    "succeeded",
    "error",
    "errors",
    "code",
    "errcode",
    "error_code",
    "errorCode",
    "status",
    "message",
    "msg",
    "retryable",
    "index",
    "id",
    "number",
    "items",
    "results",
    "data",
    "next",
    "next_cursor",
    "total",
    "has_more",
    # DingTalk
    "result",
    "list",
    "nextToken",
    "process_instance",
    "form_component_values",
    "component_type",
    "value",
    "ext_value",
    "tasks",
    "operation_records",
    "create_time",
    "finish_time",
    "createTime",
    "formComponentValues",
    "componentType",
    "rowValue",
    "label",
    "key",
    "extendValue",
    "sub_code",
    "sub_msg",
    "requestid",
    "request_id",
    "EventType",
    "eventId",
    "processInstanceId",
    "type",
    "processCode",
    "expires_in",
    "access_token",
    "accessToken",
    "expireIn",
    # Kingdee
    "Result",
    "ResponseStatus",
    "IsSuccess",
    "Errors",
    "SuccessEntitys",
    "SuccessMessages",
    "MsgCode",
    "ErrorCode",
    "DIndex",
    "Id",
    "Number",
    "Message",
    "FieldName",
    "ConvertResponseStatus",
    "NeedReturnData",
    "LoginResultType",
    "KDSVCSessionId",
]

keys = st.sampled_from(INTERESTING_KEYS) | st.text(max_size=12)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [
            "",
            "0",
            "200",
            "true",
            "false",
            "null",
            "ok",
            "2026-01-01 10:00:00",
            "2026-13-45T99:99Z",
            "1e300",
            "NaN",
            "-1",
            "处罚将在 2018-99-99 99:99:99 结束",
            "会话信息已丢失",
        ]
    )
    | st.text(max_size=24)
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, nested a few levels."""
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
        max_leaves=max_leaves,
    )


json_objects = st.dictionaries(keys, json_values(6), max_size=6)

#: a fixed budget, derandomised (the same examples every run), no example database on disk
FAST = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
#: for examples that cross real HTTP on loopback
OVER_HTTP = settings(FAST, max_examples=60)
