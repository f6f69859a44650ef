"""Property tests over DingTalk answer parsing: instance and form decoding, error classification, events,
and the client over real HTTP. Whatever DingTalk (or something pretending to be it) answers, only typed
connector errors come out, and one malformed instance never crashes the decoding of a page."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from fuzzing import FAST, OVER_HTTP, json_objects, json_values, scalars
from hostile import Hostile, Reply
from hypothesis import given
from hypothesis import strategies as st

from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings
from ferry.connectors.dingtalk.errors import classify_http, classify_oapi, classify_v1, penalty_seconds
from ferry.connectors.dingtalk.events import EventIntake, dedup_key, event_type, parse_instance_change
from ferry.connectors.dingtalk.forms import decode_table, decode_value, flatten_form
from ferry.connectors.dingtalk.instance import from_oapi, from_v1, parse_time
from ferry.connectors.errors import ConnectorError

COMPONENT_TYPES = [
    "TextField",
    "NumberField",
    "MoneyField",
    "DDDateField",
    "DDDateRangeField",
    "DDMultiSelectField",
    "DDPhotoField",
    "RelateField",
    "DDAttachment",
    "InnerContactField",
    "DepartmentField",
    "TableField",
    "PhoneField",
    None,
    "Unknown",
]
encoded = json_values().map(json.dumps) | scalars


@FAST
@given(body=json_objects, inner=json_values())
def test_instance_normalisation_never_raises(body: dict[str, Any], inner: Any) -> None:
    for shaped in (body, {**body, "process_instance": inner}, {**body, "result": inner}):
        for instance in (from_oapi("i", shaped), from_v1("i", shaped)):
            assert instance["process_instance_id"] == "i"
            assert isinstance(instance["form_component_values"], list)
            flatten_form(instance["form_component_values"])


@FAST
@given(kind=st.sampled_from(COMPONENT_TYPES), value=encoded, ext=encoded)
def test_form_values_decode_without_raising(kind: str | None, value: Any, ext: Any) -> None:
    decode_value(kind, value, ext)
    decode_table(value)


@FAST
@given(text=scalars)
def test_times_parse_or_are_none(text: Any) -> None:
    got = parse_time(text)
    assert got is None or isinstance(got, str)


@FAST
@given(body=json_objects, status=st.integers(100, 599), message=st.text(max_size=80))
def test_error_classification_is_none_or_a_typed_error(
    body: dict[str, Any], status: int, message: str
) -> None:
    for verdict in (
        classify_oapi(body, "api"),
        classify_v1(status, body, "api"),
        classify_http(status, "api"),
    ):
        assert verdict is None or isinstance(verdict, ConnectorError)
        if verdict is not None and verdict.retry_after is not None:
            assert 0 <= verdict.retry_after <= 32 * 86400
    wait = penalty_seconds(message)
    assert wait is None or 0 <= wait <= 60


@FAST
@given(event=json_objects)
def test_any_event_is_parsed_typed_or_ignored(event: dict[str, Any]) -> None:
    event_type(event)
    dedup_key(event)
    change = parse_instance_change(event)
    assert change is None or isinstance(change.instance_id, str)

    async def run() -> None:
        intake = EventIntake(_ignore, background=False)
        await intake.accept(event)

    asyncio.run(run())


async def _ignore(process_code: str, instance_id: str) -> None:
    return None


# -- the client over real HTTP ---------------------------------------------------------------------

TOKEN = {"errcode": 0, "access_token": "fuzz-token-0001", "expires_in": 7200}


@OVER_HTTP
@given(
    style=st.sampled_from(["oapi", "v1"]),
    status=st.sampled_from([200, 400, 403, 429, 500]),
    body=json_values(),
    raw=st.none() | st.binary(max_size=40),
)
def test_the_client_turns_any_answer_into_a_result_or_a_typed_error(
    hostile: Hostile, style: str, status: int, body: Any, raw: bytes | None
) -> None:
    payload = raw if raw is not None else json.dumps(body).encode()
    hostile.state.on("/gettoken", Reply(200, TOKEN))
    hostile.state.on(
        "/v1.0/oauth2/accessToken", Reply(200, {"accessToken": "fuzz-token-0002", "expireIn": 7200})
    )
    for path in (
        "/topapi/processinstance/listids",
        "/topapi/processinstance/get",
        "/v1.0/workflow/processes/instanceIds/query",
        "/v1.0/workflow/processInstances",
    ):
        hostile.state.on(path, Reply(status, payload))
    settings = DingTalkSettings(
        # an app of its own per example: the process-wide limiter store keeps each app's throttle pause and
        # step-down (as it must for clients sharing one app), so one fuzzed 429 must not slow the next example
        app_key=f"fuzzkey-{uuid.uuid4().hex[:8]}",
        app_secret="fuzz-secret-value",
        api_style=style,  # type: ignore[arg-type]
        oapi_base=hostile.url,
        api_base=hostile.url,
        timeout_s=5,
        qps=10_000,
    )

    async def run() -> None:
        async with DingTalkClient(settings) as client:
            for call in (lambda: client.list_instance_ids("P", 0, 1, 0), lambda: client.get_instance("i")):
                try:
                    result = await call()
                except ConnectorError:
                    continue
                assert isinstance(result, tuple | dict)

    asyncio.run(run())
