"""The protocol client against both hosts of the sandbox, over real HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings, TokenCache, is_approved, is_final
from ferry.connectors.errors import AccessDenied, GiveUp, QuotaExhausted, Reauthenticate, RetryLater, SlowDown
from ferry.observe.calls import MemoryCallRecorder
from ferry.ratelimit.bucket import BucketSettings, RateLimiter

DAY_MS = 86_400_000
STYLES = ["oapi", "v1"]


def now_ms() -> int:
    return int(time.time() * 1000)


def client_for(sb: Any, style: str, recorder: MemoryCallRecorder | None = None, **kw: Any) -> DingTalkClient:
    extra = {k: kw.pop(k) for k in list(kw) if k in DingTalkSettings.model_fields}
    base = {
        "connection": "dt_test",
        "app_key": sb.config.app_key,
        "app_secret": sb.config.app_secret,
        "api_style": style,
        "oapi_base": sb.url,
        "api_base": sb.url,
    }
    settings = DingTalkSettings(**{**base, **extra})
    return DingTalkClient(settings, recorder or MemoryCallRecorder(), **kw)


async def list_all(client: DingTalkClient, sb: Any, size: int = 20, **kw: Any) -> list[str]:
    ids: list[str] = []
    cursor: int | None = 0
    while cursor is not None:
        page, cursor = await client.list_instance_ids(
            sb.config.process_code, now_ms() - 100 * DAY_MS, now_ms(), cursor, size, **kw
        )
        ids += page
    return ids


@pytest.mark.parametrize("style", STYLES)
async def test_pages_to_the_end_and_records_every_call(sandbox: Any, style: str) -> None:
    rec = MemoryCallRecorder()
    async with client_for(sandbox, style, rec) as client:
        ids = await list_all(client, sandbox, size=7)
    expected = [i["process_instance_id"] for i in sandbox.http.get("/_sandbox/instances").json()["instances"]]
    assert ids == expected
    pages = -(-len(expected) // 7)
    token_api = "gettoken" if style == "oapi" else "v1.0/oauth2/accessToken"
    list_api = (
        "topapi/processinstance/listids" if style == "oapi" else "v1.0/workflow/processes/instanceIds/query"
    )
    assert rec.count(token_api) == 1 and rec.count(list_api, "ok") == pages
    assert all(c.metered for c in rec.calls if c.api == list_api)
    assert not any(c.metered for c in rec.calls if c.api == token_api)
    assert all(c.connection == "dt_test" and c.http_status == 200 and c.request_id for c in rec.calls)
    # the recorder's metered count is what the sandbox charged against the month
    assert sandbox.http.get("/_sandbox/calls").json()["metered_used"] == sum(c.metered for c in rec.calls)


@pytest.mark.parametrize("style", STYLES)
async def test_normalised_instance_is_the_same_on_both_hosts(sandbox: Any, style: str) -> None:
    iid = sandbox.http.get("/_sandbox/instances", params={"status": "COMPLETED"}).json()["instances"][0][
        "process_instance_id"
    ]
    async with client_for(sandbox, "oapi") as legacy, client_for(sandbox, "v1") as v1:
        a = await legacy.get_instance(iid)
        b = await v1.get_instance(iid)
    assert a["api_style"] == "oapi" and b["api_style"] == "v1"
    assert a["raw"]["process_instance"]["business_id"] == b["raw"]["result"]["businessId"]
    for key in (
        "process_instance_id",
        "title",
        "status",
        "result",
        "business_id",
        "originator_userid",
        "cc_userids",
    ):
        assert a[key] == b[key], key
    # v1 times have minute precision, legacy second precision; both are Beijing time
    assert a["create_time"][:16] == b["create_time"][:16] and a["create_time"].endswith("+08:00")
    assert [
        (c["name"], c["value"], c["ext_value"], c["component_type"]) for c in a["form_component_values"]
    ] == [(c["name"], c["value"], c["ext_value"], c["component_type"]) for c in b["form_component_values"]]
    assert b["form_component_values"][2]["biz_alias"] == "amount"
    assert [t["task_id"] for t in a["tasks"]] == [t["task_id"] for t in b["tasks"]]
    assert is_final(a) and is_final(b)


@pytest.mark.parametrize("style", STYLES)
async def test_running_instance_approved_later_is_found_final_on_refetch(sandbox: Any, style: str) -> None:
    running = sandbox.http.get("/_sandbox/instances", params={"status": "RUNNING"}).json()["instances"][0]
    async with client_for(sandbox, style) as client:
        before = await client.get_instance(running["process_instance_id"])
        assert before["status"] == "RUNNING" and before["result"] == "" and before["finish_time"] is None
        assert not is_final(before)
        sandbox.http.post(f"/_sandbox/instances/{running['process_instance_id']}/approve").raise_for_status()
        after = await client.get_instance(running["process_instance_id"])
    assert is_approved(after) and is_final(after) and after["finish_time"] is not None
    assert after["finish_time"] > after["create_time"]
    # still listed under its creation time, not under the approval time
    async with client_for(sandbox, style) as client:
        ids = await list_all(client, sandbox)
    assert running["process_instance_id"] in ids


@pytest.mark.parametrize("style", STYLES)
async def test_expired_token_is_refreshed_and_the_call_retried_once(start_sandbox: Any, style: str) -> None:
    sb = start_sandbox(seed_instances=5)
    rec = MemoryCallRecorder()
    async with client_for(sb, style, rec) as client:
        first = await client.get_token()
        sb.http.post("/_sandbox/clock", json={"advance_s": 7201})  # the sandbox's token is now expired
        ids, _ = await client.list_instance_ids(
            sb.config.process_code, now_ms() - 50 * DAY_MS + 7201_000, now_ms() + 7201_000
        )
        assert len(ids) == 5
        assert await client.get_token() != first
    statuses = [c.status for c in rec.calls]
    assert statuses == ["ok", "reauthenticate", "ok", "ok"]
    assert [c.metered for c in rec.calls] == [False, False, False, True]


@pytest.mark.parametrize("legacy_error", ["88", "40014", "42001"])
async def test_every_legacy_token_answer_triggers_one_refresh(start_sandbox: Any, legacy_error: str) -> None:
    sb = start_sandbox(seed_instances=3, legacy_token_error=legacy_error)
    rec = MemoryCallRecorder()
    async with client_for(sb, "oapi", rec) as client:
        await client.get_token()
        sb.http.post("/_sandbox/tokens/expire")
        ids, _ = await client.list_instance_ids(sb.config.process_code, now_ms() - 50 * DAY_MS)
    assert len(ids) == 3
    failed = [c for c in rec.calls if c.status == "reauthenticate"]
    assert len(failed) == 1
    assert failed[0].error_code == {"88": "88/40014", "40014": "40014", "42001": "42001"}[legacy_error]


@pytest.mark.parametrize("style", STYLES)
async def test_token_expire_fault_on_every_call_gives_reauthenticate_after_one_retry(
    start_sandbox: Any, style: str
) -> None:
    sb = start_sandbox(seed_instances=3, faults={"token_expire": 1.0})
    rec = MemoryCallRecorder()
    async with client_for(sb, style, rec) as client:
        with pytest.raises(Reauthenticate):
            await client.list_instance_ids(sb.config.process_code, now_ms() - 50 * DAY_MS)
    assert [c.status for c in rec.calls] == ["ok", "reauthenticate", "ok", "reauthenticate"]


async def test_token_is_refreshed_early_before_it_expires(start_sandbox: Any) -> None:
    sb = start_sandbox(seed_instances=3, token_ttl_s=600)
    clock = [1000.0]
    rec = MemoryCallRecorder()
    async with client_for(sb, "v1", rec, monotonic=lambda: clock[0], refresh_margin_s=300) as client:
        await client.get_token()
        clock[0] += 299  # 301 s left: still cached
        await client.get_token()
        clock[0] += 2  # 299 s left: inside the margin, refreshed before any call fails
        await client.list_instance_ids(sb.config.process_code, now_ms() - 50 * DAY_MS)
    assert rec.count("v1.0/oauth2/accessToken") == 2 and rec.count(status="reauthenticate") == 0


async def test_token_cache_is_shared_per_app(sandbox: Any) -> None:
    cache = TokenCache()
    rec = MemoryCallRecorder()
    async with (
        client_for(sandbox, "v1", rec, token_cache=cache) as a,
        client_for(sandbox, "v1", rec, token_cache=cache) as b,
    ):
        tokens = await asyncio.gather(a.get_token(), b.get_token(), a.get_token())
    assert len(set(tokens)) == 1 and rec.count("v1.0/oauth2/accessToken") == 1


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("throttle", {"oapi": "88/90018", "v1": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}),
        ("throttle_bare", {"oapi": "90018", "v1": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}),
        ("throttle_global", {"oapi": "88/90002", "v1": "Forbidden.AccessDenied.QpsLimitForApi"}),
    ],
)
async def test_every_throttling_answer_is_slow_down_and_slows_the_bucket(
    start_sandbox: Any, style: str, fault: str, code: dict[str, str]
) -> None:
    sb = start_sandbox(seed_instances=3)
    rec = MemoryCallRecorder()
    limiter = RateLimiter(BucketSettings(rate=20.0, default_pause_s=0.0))
    async with client_for(sb, style, rec, limiter=limiter) as client:
        await client.get_token()
        sb.http.put("/_sandbox/faults", json={"rates": {fault: 1.0}})
        with pytest.raises(SlowDown) as caught:
            await client.get_instance("anything")
    assert caught.value.code == code[style] and caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60
    api = "topapi/processinstance/get" if style == "oapi" else "v1.0/workflow/processInstances"
    assert limiter.rate(("dingtalk", sb.config.app_key, api)) == pytest.approx(10.0, abs=0.5)
    assert rec.calls[-1].status == "slow_down" and not rec.calls[-1].metered
    assert isinstance(caught.value, RetryLater)  # SlowDown is a kind of retry


@pytest.mark.parametrize("style", STYLES)
async def test_real_qps_limit_is_slow_down_and_a_paced_client_stays_under_it(
    start_sandbox: Any, style: str
) -> None:
    sb = start_sandbox(seed_instances=3, qps=10)
    iid = sb.http.get("/_sandbox/instances").json()["instances"][0]["process_instance_id"]
    async with client_for(sb, style, qps=1000) as client:
        results = await asyncio.gather(*(client.get_instance(iid) for _ in range(20)), return_exceptions=True)
    assert any(isinstance(r, SlowDown) for r in results)
    fresh = start_sandbox(seed_instances=3, qps=10)
    async with client_for(fresh, style, qps=8) as client:
        results = await asyncio.gather(*(client.get_instance(iid) for _ in range(10)), return_exceptions=True)
    # paced under the limit: nothing throttled (same seed, so the fresh sandbox holds the same instance)
    assert [r["process_instance_id"] for r in results if isinstance(r, dict)] == [iid] * 10


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("fault", ["busy", "gateway_error", "drop"])
async def test_busy_5xx_and_dropped_connections_are_retry_later(
    start_sandbox: Any, style: str, fault: str
) -> None:
    sb = start_sandbox(seed_instances=3)
    rec = MemoryCallRecorder()
    async with client_for(sb, style, rec) as client:
        await client.get_token()
        sb.http.put("/_sandbox/faults", json={"rates": {fault: 1.0}})
        with pytest.raises(RetryLater) as caught:
            await client.list_instance_ids(sb.config.process_code, now_ms() - 50 * DAY_MS)
    assert type(caught.value) is RetryLater
    last = rec.calls[-1]
    assert last.status == "retry" and not last.metered
    if fault == "drop":
        assert last.http_status is None
    elif fault == "gateway_error":
        assert last.http_status == 502
    else:
        assert caught.value.code == ("-1" if style == "oapi" else "systemError")


async def test_read_timeout_is_retry_later(start_sandbox: Any) -> None:
    sb = start_sandbox(seed_instances=3)
    async with client_for(sb, "v1", timeout_s=0.1) as client:
        await client.get_token()
        sb.http.put("/_sandbox/faults", json={"latency_ms": [300, 300]})
        with pytest.raises(RetryLater, match="timed out"):
            await client.get_instance("x")


@pytest.mark.parametrize("style", STYLES)
async def test_monthly_quota_is_quota_exhausted(start_sandbox: Any, style: str) -> None:
    sb = start_sandbox(seed_instances=3, monthly_quota=2)
    rec = MemoryCallRecorder()
    async with client_for(sb, style, rec) as client:
        for _ in range(2):
            await client.list_instance_ids(sb.config.process_code, now_ms() - 50 * DAY_MS)
        with pytest.raises(QuotaExhausted) as caught:
            await client.list_instance_ids(sb.config.process_code, now_ms() - 50 * DAY_MS)
    assert isinstance(caught.value, GiveUp)
    assert caught.value.code == ("90020" if style == "oapi" else "Forbidden.AccessDenied.ApiCountLimitForOrg")
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 31 * 86400
    assert sum(c.metered for c in rec.calls) == 2


@pytest.mark.parametrize("style", STYLES)
async def test_window_and_page_size_errors_are_give_up(sandbox: Any, style: str) -> None:
    async with client_for(sandbox, style) as client:
        with pytest.raises(GiveUp) as too_wide:
            await client.list_instance_ids(sandbox.config.process_code, now_ms() - 121 * DAY_MS, now_ms())
        with pytest.raises(GiveUp) as too_old:
            await client.list_instance_ids(
                sandbox.config.process_code, now_ms() - 366 * DAY_MS, now_ms() - 300 * DAY_MS
            )
        with pytest.raises(GiveUp, match="page size"):
            await client.list_instance_ids(sandbox.config.process_code, now_ms() - DAY_MS, size=21)
        with pytest.raises(GiveUp) as missing:
            await client.get_instance("no-such-instance")
    assert "120" in str(too_wide.value) and "365" in str(too_old.value)
    if style == "oapi":
        assert too_wide.value.code == "40035" and missing.value.code == "88/aflowProcessInstNotExist"
    else:
        assert too_wide.value.code == "invalidEndTime" and missing.value.code == "processInstanceNotExist"


@pytest.mark.parametrize("style", STYLES)
async def test_secrets_never_show_in_errors_reprs_or_records(start_sandbox: Any, style: str) -> None:
    sb = start_sandbox(seed_instances=3)
    rec = MemoryCallRecorder()
    async with client_for(sb, style, rec) as client:
        token = await client.get_token()
        sb.http.post("/_sandbox/tokens/expire")
        sb.http.put("/_sandbox/faults", json={"rates": {"token_expire": 1.0}})
        with pytest.raises(Reauthenticate) as caught:
            await client.get_instance("x")
        texts = [
            str(caught.value),
            repr(caught.value),
            repr(client),
            repr(client.settings),
            str(client.settings.model_dump()),
            repr(rec.calls),
        ]
    async with client_for(sb, style, app_secret="wrong-secret-value") as bad:
        # a refused app is the connection's fault: the engine stops the pass, no record goes dead
        with pytest.raises(AccessDenied) as refused:
            await bad.get_token()
        texts += [str(refused.value), repr(bad.settings)]
    for text in texts:
        assert sb.config.app_secret not in text and token not in text and "wrong-secret-value" not in text
