"""Property tests over Kingdee reply parsing (envelope, statuses, per-bill results) and the client over
real HTTP: whatever the server answers, only typed connector errors come out, and a write is never
reported created without an entity that says so."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fuzzing import FAST, OVER_HTTP, json_objects, json_values
from hostile import Hostile, Reply
from hypothesis import given
from hypothesis import strategies as st

from ferry.connectors.errors import ConnectorError
from ferry.connectors.kingdee import AuthMode, KingdeeAuth, KingdeeClient
from ferry.connectors.kingdee.envelope import ServerException, find_status, parse_body, result_of
from ferry.connectors.kingdee.errors import error_for_http, error_for_status
from ferry.connectors.kingdee.results import PushStatus, entity_results

statuses = st.fixed_dictionaries(
    {},
    optional={
        "IsSuccess": st.sampled_from([True, False, "true", "false", "True", 1, 0, None, "yes"]),
        "MsgCode": st.sampled_from([0, 1, 2, 4, 6, 11, 13, 14, "1", "x", None, 10**30]),
        "ErrorCode": st.sampled_from([500, "500", None, ""]),
        "Errors": st.lists(
            st.fixed_dictionaries(
                {},
                optional={"Message": json_values(4), "DIndex": json_values(2), "FieldName": json_values(2)},
            ),
            max_size=4,
        )
        | json_values(4),
        "SuccessEntitys": st.lists(
            st.fixed_dictionaries(
                {}, optional={"Id": json_values(2), "Number": json_values(2), "DIndex": json_values(2)}
            ),
            max_size=4,
        )
        | json_values(4),
        "SuccessMessages": json_values(4),
    },
)
replies = (
    st.builds(lambda s: {"Result": {"ResponseStatus": s}}, statuses)
    | st.builds(
        lambda s, c: {"Result": {"ResponseStatus": s, "ConvertResponseStatus": c}}, statuses, statuses
    )
    | st.builds(lambda s: [[{"Result": {"ResponseStatus": s}}]], statuses)
    | json_values()
)


@FAST
@given(
    text=st.text(max_size=200)
    | st.sampled_from(["response_error:", "response_error:{", "\ufeff[", "[" * 5000])
)
def test_parse_body_gives_json_a_server_exception_or_a_value_error(text: str) -> None:
    try:
        got = parse_body(text)
    except ValueError:
        return
    assert got is None or isinstance(got, ServerException) or got is not ...


@FAST
@given(payload=replies, count=st.none() | st.integers(0, 5))
def test_statuses_and_results_parse_without_raising(payload: Any, count: int | None) -> None:
    for key in ("ResponseStatus", "ConvertResponseStatus"):
        status = find_status(payload, key)
        if status is None:
            continue
        results = entity_results(status, count)
        assert len({r.index for r in results}) == len(results)
        assert isinstance(error_for_status(status, "Push"), ConnectorError)
    result_of(payload)


@FAST
@given(status=st.integers(100, 599), body=st.text(max_size=300), write=st.booleans())
def test_http_errors_are_typed(status: int, body: str, write: bool) -> None:
    assert isinstance(error_for_http(status, body, "Save", write=write), ConnectorError)


# -- the client over real HTTP ---------------------------------------------------------------------

AUTH = KingdeeAuth.create(
    AuthMode.SIGNED_HEADERS,
    acct_id="65a0b1c2d3e4f5",
    username="demo",
    app_id="224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef",
    app_secret="0123456789abcdef0123456789abcdef",
)
SERVICE = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService"


@OVER_HTTP
@given(
    payload=replies,
    status=st.sampled_from([200, 200, 200, 206, 302, 404, 500, 504]),
    raw=st.none()
    | st.sampled_from([b"", b"response_error:{}", b"<html>", b"[" * 3000])
    | st.binary(max_size=30),
)
def test_the_client_turns_any_reply_into_a_result_or_a_typed_error(
    hostile: Hostile, payload: Any, status: int, raw: bytes | None
) -> None:
    body = raw if raw is not None else json.dumps(payload).encode()
    for op in ("Push", "Save", "ExecuteBillQuery", "BatchSave"):
        hostile.state.on(f"{SERVICE}.{op}.common.kdsvc", Reply(status, body))

    async def run() -> None:
        async with KingdeeClient(hostile.url + "/k3cloud/", AUTH, timeout=5) as client:
            try:
                pushed = await client.push("CN_PAYAPPLY", ["FKSQ1", "FKSQ2"], target_form_id="AP_PAYBILL")
            except ConnectorError:
                pass
            else:
                assert len(pushed.outcomes) == 2
                for outcome in pushed.outcomes:
                    # "created" only with a document number the reply gave for that very bill
                    if outcome.status is PushStatus.CREATED:
                        assert outcome.target_number and outcome.target_number[0] not in "[{"
                        assert b'"Number"' in body
            for call in (
                lambda: client.save("CN_PAYAPPLY", {"FBillNo": "X"}),
                lambda: client.execute_bill_query("AP_PAYBILL", ["FID"], "FBillNo='X'"),
                lambda: client.batch_save("CN_PAYAPPLY", [{"a": 1}, {"a": 2}]),
            ):
                with contextlib.suppress(ConnectorError):
                    await call()

    asyncio.run(run())


@FAST
@given(extra=json_objects)
def test_a_reply_without_a_status_is_never_a_success(extra: dict[str, Any]) -> None:
    payload = {k: v for k, v in extra.items() if k.casefold() not in ("result", "responsestatus")}
    assert find_status(payload) is None or not isinstance(payload.get("Result"), dict)
