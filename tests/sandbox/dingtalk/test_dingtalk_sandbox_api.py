"""The sandbox's two hosts answer with the real shapes: tokens, listing, detail, limits and errors."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ferry.sandbox.dingtalk.payment import TEMPLATE, money_upper

DAY_MS = 86_400_000
LEGACY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
V1_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$")


def now_ms() -> int:
    return int(time.time() * 1000)


def legacy_list(sb: Any, token: str, **body: Any) -> dict[str, Any]:
    payload = {
        "process_code": sb.config.process_code,
        "start_time": now_ms() - 100 * DAY_MS,
        "size": 20,
        **body,
    }
    r = sb.http.post("/topapi/processinstance/listids", params={"access_token": token}, json=payload)
    assert r.status_code == 200  # the legacy host answers 200 whatever happened
    return dict(r.json())


def v1_list(sb: Any, token: str, **body: Any) -> httpx.Response:
    payload = {
        "processCode": sb.config.process_code,
        "startTime": now_ms() - 100 * DAY_MS,
        "nextToken": 0,
        "maxResults": 20,
        **body,
    }
    return sb.http.post(
        "/v1.0/workflow/processes/instanceIds/query",
        headers={"x-acs-dingtalk-access-token": token},
        json=payload,
    )


def test_token_is_reused_within_its_life_and_wrong_credentials_are_refused(sandbox: Any) -> None:
    first = sandbox.http.get(
        "/gettoken", params={"appkey": sandbox.config.app_key, "appsecret": sandbox.config.app_secret}
    ).json()
    assert first["errcode"] == 0 and first["expires_in"] == 7200 and first["errmsg"] == "ok"
    assert sandbox.legacy_token() == first["access_token"]
    assert sandbox.v1_token() == first["access_token"]
    bad = sandbox.http.get("/gettoken", params={"appkey": sandbox.config.app_key, "appsecret": "nope"}).json()
    assert (bad["errcode"], bad["errmsg"]) == (40096, "不合法的appKey或appSecret")
    r = sandbox.http.post("/v1.0/oauth2/accessToken", json={"appKey": "x", "appSecret": "y"})
    assert r.status_code == 400
    assert r.json()["code"] == "invalidClientIdOrSecret" and r.json()["requestid"]


def test_expired_and_missing_tokens_answer_like_each_host(start_sandbox: Any) -> None:
    sb = start_sandbox(token_ttl_s=60)
    token = sb.legacy_token()
    assert legacy_list(sb, token)["errcode"] == 0
    sb.http.post("/_sandbox/clock", json={"advance_s": 61})
    expired = legacy_list(sb, token)
    assert (expired["errcode"], expired["sub_code"]) == (88, "40014")
    assert expired["errmsg"] == "ding talk error[subcode=40014,submsg=不合法的access_token]"
    sb.http.put("/_sandbox/faults", json={"legacy_token_error": "42001"})
    assert legacy_list(sb, token)["errcode"] == 42001
    r = v1_list(sb, token)
    assert r.status_code == 400 and r.json()["code"] == "InvalidAuthentication"
    missing = sb.http.post("/v1.0/workflow/processes/instanceIds/query", json={})
    assert missing.status_code == 400 and missing.json()["code"] == "AuthenticationFailed.MissingParameter"
    assert legacy_list(sb, "")["sub_code"] == "40000"
    fresh = sb.legacy_token()
    assert fresh != token and legacy_list(sb, fresh)["errcode"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"size": 21}, "size"),
        ({"start_time": now_ms() - 130 * DAY_MS, "end_time": now_ms()}, "120天"),
        ({"start_time": now_ms() - 130 * DAY_MS}, "120天"),
        ({"start_time": now_ms() - 370 * DAY_MS, "end_time": now_ms() - 300 * DAY_MS}, "365天"),
        ({"start_time": now_ms(), "end_time": now_ms() - DAY_MS}, "结束时间"),
        ({"userid_list": ",".join(str(i) for i in range(11))}, "userid_list"),
        ({"process_code": ""}, "process_code"),
    ],
)
def test_legacy_list_validation_errors(sandbox: Any, body: dict[str, Any], message: str) -> None:
    answer = legacy_list(sandbox, sandbox.legacy_token(), **body)
    assert answer["errcode"] == 40035
    assert message in answer["errmsg"] and answer["request_id"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"maxResults": 21}, "invalidMaxResults"),
        ({"maxResults": None}, "invalidMaxResults"),
        ({"nextToken": None}, "invalidNextToken"),
        ({"processCode": None}, "invalidProcessCode"),
        ({"startTime": None}, "invalidInstanceListIdsStartTime"),
        ({"startTime": now_ms() - 130 * DAY_MS, "endTime": now_ms()}, "invalidEndTime"),
        (
            {"startTime": now_ms() - 370 * DAY_MS, "endTime": now_ms() - 300 * DAY_MS},
            "invalidInstanceListIdsStartTime",
        ),
        ({"userIds": [str(i) for i in range(11)]}, "invalidUserIds"),
    ],
)
def test_v1_list_validation_errors(sandbox: Any, body: dict[str, Any], code: str) -> None:
    r = v1_list(sandbox, sandbox.v1_token(), **body)
    assert r.status_code == 400
    assert r.json()["code"] == code and r.json()["message"] and r.json()["requestid"]


def test_listing_filters_by_create_time_and_pages_to_the_end(sandbox: Any) -> None:
    token = sandbox.legacy_token()
    seen: list[str] = []
    cursor: int | None = 0
    while cursor is not None:
        answer = legacy_list(sandbox, token, size=7, cursor=cursor)
        seen += answer["result"]["list"]
        cursor = answer["result"].get("next_cursor")
    everything = [
        i["process_instance_id"] for i in sandbox.http.get("/_sandbox/instances").json()["instances"]
    ]
    assert seen == everything and len(seen) == 30
    # v1 pages the same IDs with a string nextToken, absent at the end
    v1_seen: list[str] = []
    token_v1: int | None = 0
    while token_v1 is not None:
        result = v1_list(sandbox, token, maxResults=9, nextToken=token_v1).json()["result"]
        v1_seen += result["list"]
        nxt = result.get("nextToken")
        assert nxt is None or isinstance(nxt, str)
        token_v1 = int(nxt) if nxt else None
    assert v1_seen == everything
    # a window before every creation holds nothing, whatever happened to the instances later
    old = legacy_list(sandbox, token, start_time=now_ms() - 110 * DAY_MS, end_time=now_ms() - 60 * DAY_MS)
    assert old["result"] == {"list": []}


def test_v1_status_filter(sandbox: Any) -> None:
    token = sandbox.v1_token()
    running = v1_list(sandbox, token, statuses=["RUNNING"]).json()["result"]["list"]
    admin = sandbox.http.get("/_sandbox/instances", params={"status": "RUNNING"}).json()["instances"]
    assert running == [i["process_instance_id"] for i in admin][:20] and running


def test_seeded_data_is_reproducible_and_covers_every_status(start_sandbox: Any) -> None:
    anchor = 1_780_000_000_000
    a = start_sandbox(seed_instances=80, random_seed=3, anchor_ms=anchor)
    b = start_sandbox(seed_instances=80, random_seed=3, anchor_ms=anchor)
    c = start_sandbox(seed_instances=80, random_seed=4, anchor_ms=anchor)
    ia = a.http.get("/_sandbox/instances").json()["instances"]
    assert ia == b.http.get("/_sandbox/instances").json()["instances"]
    assert ia != c.http.get("/_sandbox/instances").json()["instances"]
    outcomes = {(i["status"], i["result"]) for i in ia}
    assert outcomes == {
        ("RUNNING", ""),
        ("COMPLETED", "agree"),
        ("COMPLETED", "refuse"),
        ("TERMINATED", ""),
        ("CANCELED", ""),
    }
    creates = [i["create_time_ms"] for i in ia]
    assert max(creates) - min(creates) > 21 * DAY_MS  # created over weeks
    late = [i for i in ia if i["finish_time_ms"] and i["finish_time_ms"] - i["create_time_ms"] > 7 * DAY_MS]
    assert late, "some instances are approved long after creation"
    assert all(i["finish_time_ms"] is None for i in ia if i["status"] == "RUNNING")


def test_detail_shapes_on_both_hosts(sandbox: Any) -> None:
    token = sandbox.legacy_token()
    ids = [i["process_instance_id"] for i in sandbox.http.get("/_sandbox/instances").json()["instances"]]
    nulls = 0
    for iid in ids[:10]:
        legacy = sandbox.http.post(
            "/topapi/processinstance/get", params={"access_token": token}, json={"process_instance_id": iid}
        ).json()
        assert legacy["errcode"] == 0 and legacy["request_id"]
        pi = legacy["process_instance"]
        assert LEGACY_TIME.match(pi["create_time"])
        assert pi["status"] in ("RUNNING", "COMPLETED", "TERMINATED", "CANCELED")
        assert re.fullmatch(r"\d{21}", pi["business_id"])
        assert (
            pi["business_id"][:12]
            == pi["create_time"].replace("-", "").replace(" ", "").replace(":", "")[:12]
        )
        names = [c.get("name") for c in pi["form_component_values"]]
        assert [n for n in names if n] == [t[2] for t in TEMPLATE if t[2]]
        for comp in pi["form_component_values"]:
            assert isinstance(comp["value"], str) and "biz_alias" not in comp
            assert "ext_value" not in comp or isinstance(comp["ext_value"], str)
            nulls += comp["value"] == "null"
        by_name = {c.get("name"): c for c in pi["form_component_values"]}
        money = by_name["付款金额"]
        assert json.loads(money["ext_value"]) == {
            "upper": money_upper(money["value"]),
            "componentName": "MoneyField",
        }
        rows = json.loads(by_name["费用明细"]["value"])
        assert rows and all(set(r) == {"rowValue", "rowNumber"} for r in rows)
        total = sum(Decimal(c["value"]) for r in rows for c in r["rowValue"] if c["label"] == "金额（元）")
        assert total == Decimal(money["value"])
        assert by_name["金蝶单据编号"]["value"].startswith("FKSQ")
        v1 = sandbox.http.get(
            "/v1.0/workflow/processInstances",
            params={"processInstanceId": iid},
            headers={"x-acs-dingtalk-access-token": token},
        )
        assert v1.status_code == 200 and v1.json()["success"] is True
        r = v1.json()["result"]
        assert V1_TIME.match(r["createTime"]) and r["createTime"][:16] == pi["create_time"][:16].replace(
            " ", "T"
        )
        assert r["status"] == pi["status"] and r["businessId"] == pi["business_id"]
        aliases = {c["name"]: c.get("bizAlias") for c in r["formComponentValues"] if c.get("name")}
        assert aliases["付款金额"] == "amount" and aliases["金蝶单据编号"] == "kingdeeBillNo"
        assert all(isinstance(t["taskId"], int) for t in r["tasks"])
        assert [c["value"] for c in r["formComponentValues"]] == [
            c["value"] for c in pi["form_component_values"]
        ]
    assert nulls > 0, 'empty fields come back as the string "null"'


def test_unknown_instance_on_both_hosts(sandbox: Any) -> None:
    token = sandbox.legacy_token()
    legacy = sandbox.http.post(
        "/topapi/processinstance/get", params={"access_token": token}, json={"process_instance_id": "nope"}
    ).json()
    assert (legacy["errcode"], legacy["sub_code"]) == (88, "aflowProcessInstNotExist")
    r = sandbox.http.get(
        "/v1.0/workflow/processInstances",
        params={"processInstanceId": "nope"},
        headers={"x-acs-dingtalk-access-token": token},
    )
    assert r.status_code == 400 and r.json()["code"] == "processInstanceNotExist"


def test_qps_limit_throttles_with_each_hosts_answer_and_is_not_metered(start_sandbox: Any) -> None:
    sb = start_sandbox(qps=4)
    token = sb.legacy_token()
    # align to the start of a second so both bursts land in one window (each API has its own limit)
    time.sleep(1 - time.time() % 1 + 0.02)
    answers = [legacy_list(sb, token) for _ in range(8)]
    v1 = [v1_list(sb, token) for _ in range(8)]
    throttled = [a for a in answers if a["errcode"] != 0]
    assert len(throttled) >= 3
    for a in throttled:
        assert (a["errcode"], a["sub_code"]) == (88, "90018")
        assert a["errmsg"].startswith("ding talk error[subcode=90018,")
    limited = [r for r in v1 if r.status_code == 403]
    assert len(limited) >= 3
    assert {r.json()["code"] for r in limited} == {"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}
    calls = sb.http.get("/_sandbox/calls").json()
    assert calls["metered_used"] == 16 - len(throttled) - len(limited)


@pytest.mark.parametrize(
    ("fault", "legacy_answer", "v1_answer"),
    [
        ("throttle", (88, "90018"), (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")),
        ("throttle_bare", (90018, None), (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")),
        ("throttle_global", (88, "90002"), (403, "Forbidden.AccessDenied.QpsLimitForApi")),
        ("busy", (-1, None), (500, "systemError")),
    ],
)
def test_faults_answer_like_each_host(
    sandbox: Any, fault: str, legacy_answer: tuple[Any, Any], v1_answer: tuple[int, str]
) -> None:
    token = sandbox.legacy_token()
    sandbox.http.put("/_sandbox/faults", json={"rates": {fault: 1.0}}).raise_for_status()
    answer = legacy_list(sandbox, token)
    assert (answer["errcode"], answer.get("sub_code")) == legacy_answer
    r = v1_list(sandbox, token)
    assert (r.status_code, r.json()["code"]) == v1_answer
    if fault == "throttle_global":
        assert (
            "处罚将在" in answer["sub_msg"]
            and "apiPath(dingtalk.oapi.processinstance.listids)" in answer["sub_msg"]
        )


def test_gateway_error_drop_and_latency(sandbox: Any) -> None:
    token = sandbox.legacy_token()
    sandbox.http.put("/_sandbox/faults", json={"rates": {"gateway_error": 1.0}})
    r = sandbox.http.post("/topapi/processinstance/listids", params={"access_token": token}, json={})
    assert r.status_code == 502 and "Bad Gateway" in r.text
    sandbox.http.put("/_sandbox/faults", json={"rates": {"drop": 1.0}})
    for _ in range(5):
        # closed without a byte of answer: "Server disconnected without sending a response"
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            sandbox.http.post("/topapi/processinstance/listids", params={"access_token": token}, json={})
    # the admin API is never dropped
    assert sandbox.http.get("/_sandbox/faults").json()["rates"] == {"drop": 1.0}
    sandbox.http.put("/_sandbox/faults", json={"rates": {}, "latency_ms": [150, 160]})
    started = time.perf_counter()
    assert legacy_list(sandbox, token)["errcode"] == 0
    assert time.perf_counter() - started >= 0.15
    bad = sandbox.http.put("/_sandbox/faults", json={"rates": {"nonsense": 1}})
    assert bad.status_code == 400


def test_monthly_quota_answers_and_stops_metering(start_sandbox: Any) -> None:
    sb = start_sandbox(monthly_quota=3)
    token = sb.legacy_token()
    assert [legacy_list(sb, token)["errcode"] for _ in range(3)] == [0, 0, 0]
    over = legacy_list(sb, token)
    assert over["errcode"] == 90020 and "额度:3次" in over["errmsg"]
    r = v1_list(sb, token)
    assert r.status_code == 403 and r.json()["code"] == "Forbidden.AccessDenied.ApiCountLimitForOrg"
    # tokens are not metered, and still work
    assert sb.v1_token() == token
    assert sb.http.get("/_sandbox/calls").json()["metered_used"] == 3
    sb.http.put("/_sandbox/quota", json={"used": 0})
    assert legacy_list(sb, token)["errcode"] == 0


def test_reset_restores_the_seeded_state(sandbox: Any) -> None:
    before = sandbox.http.get("/_sandbox/instances").json()
    created = sandbox.http.post("/_sandbox/instances", json={"form": {"付款金额": "88.00"}})
    assert created.status_code == 201
    assert len(sandbox.http.get("/_sandbox/instances").json()["instances"]) == 31
    sandbox.http.post("/_sandbox/reset", json={})
    assert sandbox.http.get("/_sandbox/instances").json() == before
