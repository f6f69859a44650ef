"""The approval source against the sandbox over loopback: windows, paging, states, decoding, call thrift."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dingtalk_approvals import (
    OAPI_GET,
    OAPI_LIST,
    SCHEME_ID,
    V1_GET,
    V1_LIST,
    approval_scheme,
    create_running,
    new_ledger,
    past,
    requests,
    source_for,
)
from pydantic import ValidationError

from ferry.connectors.base import Page, RecordState, Window
from ferry.connectors.dingtalk.factory import build_source
from ferry.connectors.dingtalk.source import (
    ApprovalParams,
    ApprovalSource,
    next_look_age,
    utcnow,
    watch_interval,
)
from ferry.connectors.settings import connections_from_dict
from ferry.engine.collect import Collector
from ferry.engine.registry import BuildContext
from ferry.engine.transform import Transform
from ferry.errors import ConfigError
from ferry.observe.calls import MemoryCallRecorder
from ferry.store import Ledger

STYLES = ["oapi", "v1"]
APIS = {"oapi": (OAPI_LIST, OAPI_GET), "v1": (V1_LIST, V1_GET)}


def no_render(extra: Any) -> dict[str, Any]:
    return {}


async def collect_pages(source: ApprovalSource, window: Window) -> list[Page]:
    return [page async for page in source.pages(window, no_render)]


def flat(pages: list[Page]) -> list[tuple[dict[str, Any], RecordState]]:
    out = []
    for page in pages:
        assert page.states is not None and len(page.states) == len(page.records)
        for record, state in zip(page.records, page.states, strict=True):
            assert state is not None
            out.append((record, state))
    return out


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


# ---------------------------------------------------------------------------------- windows and paging


def test_sub_windows_are_at_most_120_days_and_never_before_the_horizon() -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    source = ApprovalSource(None, ApprovalParams(process_code=("P",)), clock=lambda: now)  # type: ignore[arg-type]
    spans = source.sub_windows(now - days(400), now + days(1))
    assert [round((b - a) / days(1), 3) for a, b in spans] == [120, 120, 120, round(5 - 5 / 1440, 3)]
    assert spans[0][0] == now - days(365) + dt.timedelta(minutes=5)
    assert spans[-1][1] == now  # never ahead of the clock
    assert all(a2 == b1 for (_, b1), (a2, _) in itertools.pairwise(spans))
    assert source.sub_windows(now - days(10), now - days(3)) == [(now - days(10), now - days(3))]
    assert source.sub_windows(now - days(500), now - days(400)) == []


@pytest.mark.parametrize("style", STYLES)
async def test_a_400_day_window_is_split_and_clipped_so_dingtalk_accepts_every_call(
    sandbox: Any, style: str
) -> None:
    list_api, _ = APIS[style]
    source = source_for(sandbox, style)
    now = utcnow()
    async with source.client:
        pages = await collect_pages(source, Window(now - days(400), now, sandbox.config.process_code))
    seeded = sandbox.http.get("/_sandbox/instances").json()["instances"]
    assert sorted(r["process_instance_id"] for r, _ in flat(pages)) == sorted(
        i["process_instance_id"] for i in seeded
    )
    calls = sandbox.state.calls[list_api]
    # four spans (120 + 120 + 120 + 5 days), each listed to its end; DingTalk refused none
    assert calls["requests"] == calls["ok"] >= 4


@pytest.mark.parametrize("style", STYLES)
async def test_lists_page_by_page_to_the_end(sandbox: Any, style: str) -> None:
    list_api, get_api = APIS[style]
    source = source_for(sandbox, style, page_size=7)
    now = utcnow()
    async with source.client:
        pages = await collect_pages(source, Window(now - days(60), now, sandbox.config.process_code))
    total = len(sandbox.state.store)
    assert sum(len(p.records) for p in pages) == total == 30
    assert requests(sandbox, list_api) == math.ceil(total / 7)
    assert requests(sandbox, get_api) == total
    # details are handed over as they arrive, never more than a page of them at once
    assert all(1 <= len(p.records) <= 7 for p in pages)
    assert len({r["process_instance_id"] for p in pages for r in p.records}) == total


async def test_partition_empty_lists_every_process_code(sandbox: Any) -> None:
    source = source_for(sandbox, process_code=[sandbox.config.process_code, "PROC-OTHER"])
    assert source.partitions == (sandbox.config.process_code, "PROC-OTHER")
    now = utcnow()
    async with source.client:
        pages = await collect_pages(source, Window(now - days(60), now))
    assert sum(len(p.records) for p in pages) == 30
    assert requests(sandbox, V1_LIST) == 2 + 1  # two pages of the payment template, one empty other


# ---------------------------------------------------------------------------------- states


@pytest.mark.parametrize("style", STYLES)
async def test_states_follow_status_and_result(sandbox: Any, style: str) -> None:
    source = source_for(sandbox, style)
    now = utcnow()
    async with source.client:
        pages = await collect_pages(source, Window(now - days(60), now, sandbox.config.process_code))
    seen = set()
    for record, state in flat(pages):
        inst = sandbox.state.find(record["process_instance_id"])
        assert record["status"] == inst.status and record["result"] == inst.result
        seen.add((inst.status, inst.result))
        if inst.status == "COMPLETED" and inst.result == "agree":
            assert state == RecordState("pending")
        elif inst.status == "COMPLETED":
            assert state == RecordState("skipped", "approval refused")
        elif inst.status == "TERMINATED":
            assert state == RecordState("skipped", "approval revoked")
        elif inst.status == "CANCELED":
            assert state == RecordState("skipped", "approval cancelled")
        else:
            assert inst.status in ("RUNNING", "NEW")
            created = dt.datetime.fromtimestamp(inst.create_ms / 1000, dt.UTC)
            assert state.status == "watching"
            assert state.watch_until is not None and state.watch_next_at is not None
            # legacy times have seconds, v1.0 times minutes
            assert abs(state.watch_until - (created + days(60))) < dt.timedelta(minutes=1)
            assert now < state.watch_next_at <= now + dt.timedelta(hours=12, minutes=1)
    assert {("COMPLETED", "agree"), ("COMPLETED", "refuse"), ("RUNNING", "")} <= seen


def test_watch_schedule_backs_off_with_age() -> None:
    # looks fall at ages 5 min, 20 min, 1 h 20, 5 h 20, then every 12 h
    age, looks = dt.timedelta(0), []
    for _ in range(7):
        age = next_look_age(age)
        looks.append(age / dt.timedelta(minutes=1))
    assert looks == [5, 20, 80, 320, 1040, 1760, 2480]
    assert watch_interval(dt.timedelta(0)) == dt.timedelta(minutes=5)
    assert watch_interval(dt.timedelta(hours=2)) == dt.timedelta(hours=3, minutes=20)
    # just before a look: not sooner than a minute
    assert watch_interval(dt.timedelta(minutes=4, seconds=50)) == dt.timedelta(minutes=1)
    # an instance running a whole week costs 17 looks, not one every few minutes
    assert sum(1 for _ in iter_looks(dt.timedelta(days=7))) == 17


def iter_looks(until: dt.timedelta) -> Any:
    age = next_look_age(dt.timedelta(0))
    while age <= until:
        yield age
        age = next_look_age(age)


def test_a_running_instance_past_the_maximum_age_is_skipped() -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    source = ApprovalSource(None, ApprovalParams(process_code=("P",), max_age_days=60), clock=lambda: now)  # type: ignore[arg-type]
    young = source.state_of({"status": "RUNNING", "create_time": (now - days(59)).isoformat()})
    assert young.status == "watching" and young.watch_until == now + days(1)
    assert young.watch_next_at == now + dt.timedelta(hours=5, minutes=20)
    nearly = source.state_of(
        {"status": "RUNNING", "create_time": (now - days(60) + dt.timedelta(hours=1)).isoformat()}
    )
    assert nearly.watch_next_at == now + dt.timedelta(hours=1)
    old = source.state_of({"status": "RUNNING", "create_time": (now - days(70)).isoformat()})
    assert old == RecordState("skipped", "still running after 70 days")


def test_status_and_result_params_choose_what_is_pending() -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    any_result = ApprovalSource(None, ApprovalParams(process_code=("P",), result=None), clock=lambda: now)  # type: ignore[arg-type]
    assert any_result.state_of({"status": "COMPLETED", "result": "refuse"}).status == "pending"
    revoked_too = ApprovalSource(
        None,  # type: ignore[arg-type]
        ApprovalParams(process_code="P", statuses=["completed", "TERMINATED"]),
        clock=lambda: now,
    )
    assert revoked_too.state_of({"status": "TERMINATED", "result": ""}).status == "pending"
    assert revoked_too.state_of({"status": "COMPLETED", "result": "refuse"}).reason == "approval refused"
    with pytest.raises(ValidationError):
        ApprovalParams.model_validate({"process_code": "P", "statusses": ["COMPLETED"]})


# ---------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("style", STYLES)
async def test_every_component_type_is_decoded_into_the_record(sandbox: Any, style: str) -> None:
    iid = create_running(
        sandbox,
        form={"付款金额": "12800.50", "图片": "null", "备注": "加急", "附件": "null"},
    )
    source = source_for(sandbox, style)
    async with source.client:
        page = await source.fetch([iid])
    (record,) = page.records
    inst = sandbox.state.find(iid)
    assert record["process_instance_id"] == iid and record["business_id"] == inst.business_id
    assert record["status"] == "RUNNING" and record["result"] == ""
    assert record["title"].endswith("提交的付款申请") and record["originator_userid"]
    assert record["create_time"].endswith("+08:00") and record["finish_time"] is None
    assert record["金蝶单据编号"].startswith("FKSQ")  # TextField
    assert "\n" in record["付款事由"]  # TextareaField keeps line breaks
    assert record["付款金额"] == "12800.50" and Decimal(record["付款金额"]) == Decimal(
        "12800.5"
    )  # MoneyField
    assert record["付款方式"] in ("银行转账", "支票", "现金")  # DDSelectField
    assert dt.date.fromisoformat(record["支付日期"])  # DDDateField
    assert record["收款账户"]  # RecipientAccountField: payee name
    assert isinstance(record["发票张数"], str) and Decimal(record["发票张数"]) >= 0  # NumberField
    assert isinstance(record["费用类别"], list) and record["费用类别"]  # DDMultiSelectField
    start, end = record["服务期间"]  # DDDateRangeField
    assert dt.date.fromisoformat(start) < dt.date.fromisoformat(end)
    (handler,) = record["经办人"]  # InnerContactField
    assert set(handler) == {"userid", "name"} and handler["userid"]
    (dept,) = record["费用承担部门"]  # DepartmentField
    assert isinstance(dept["id"], int) and dept["name"]
    assert record["联系电话"].startswith("1")  # PhoneField
    rows = record["费用明细"]  # TableField: rows keyed by label, cells decoded
    assert rows == [{"费用项目": "付款", "金额（元）": "12800.50"}]
    assert record["附件"] is None and record["图片"] is None  # "null" -> None
    assert record["关联审批单"] is None  # RelateField, empty
    assert record["备注"] == "加急"
    # by component id: everything, including the nameless TextNote
    assert record["_by_id"]["MoneyField_198F0TWR01HC0"] == "12800.50"
    assert record["_by_id"]["TextNote_1HVY4XZ7L2O0"].startswith("付款前")
    if style == "v1":  # bizAlias exists on the v1.0 host only
        assert record["_by_alias"]["amount"] == "12800.50"
        assert record["_by_alias"]["kingdeeBillNo"] == record["金蝶单据编号"]
        assert record["_raw"]["businessId"] == inst.business_id
    else:
        assert record["_by_alias"] == {}
        assert record["_raw"]["business_id"] == inst.business_id
    assert "request_id" not in record["_raw"]


async def test_seeded_attachments_photos_and_table_cells_decode(sandbox: Any) -> None:
    source = source_for(sandbox)
    now = utcnow()
    async with source.client:
        records = [
            r
            for r, _ in flat(
                await collect_pages(source, Window(now - days(60), now, sandbox.config.process_code))
            )
        ]
    attachments = [r["附件"] for r in records if r["附件"] is not None]
    assert attachments and all(isinstance(a[0]["fileSize"], int) for a in attachments)
    photos = [r["图片"] for r in records if r["图片"] is not None]
    assert photos and all(p[0].startswith("https://") for p in photos)
    cells = [row for r in records for row in r["费用明细"]]
    assert all(Decimal(c["金额（元）"]) > 0 for c in cells)
    assert any(isinstance(c.get("类别"), list) for c in cells)  # multi-select cell: a real array
    for r in records:  # table amounts add up to the payment amount
        assert sum(Decimal(c["金额（元）"]) for c in r["费用明细"]) == Decimal(r["付款金额"])


# ---------------------------------------------------------------------------------- with the ledger


def collector(sb: Any, ledger: Ledger, **params: Any) -> Collector:
    scheme = approval_scheme(sb.config.process_code, **params)
    source = source_for(sb, ledger=ledger, **params)
    return Collector(scheme, ledger, source, Transform(scheme))


def recent(sb: Any, hours: float = 1) -> list[Window]:
    now = utcnow()
    return [Window(now - dt.timedelta(hours=hours), now, sb.config.process_code)]


async def test_a_running_instance_is_watched_and_taken_once_approved(sandbox: Any, tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    iid = create_running(sandbox)
    c = collector(sandbox, ledger)
    await c.run(partitions=c.source.partitions, windows=recent(sandbox))  # type: ignore[attr-defined]
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "watching"
    assert row.watch_next_at is not None and row.watch_until is not None
    assert dt.timedelta(minutes=3) < row.watch_next_at - utcnow() <= dt.timedelta(minutes=5)
    assert abs(row.watch_until - (utcnow() + days(60))) < dt.timedelta(minutes=2)
    assert requests(sandbox, V1_GET) == 1

    sandbox.http.post(f"/_sandbox/instances/{iid}/approve", json={}).raise_for_status()
    # not due yet: no call
    report = await c.recheck()
    assert report.records == 0 and requests(sandbox, V1_GET) == 1
    # its time comes: one call, and the record is taken
    ledger.reschedule_watch(row.id, past())
    report = await c.recheck()
    assert report.records == 1 and requests(sandbox, V1_GET) == 2
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "pending"
    assert row.content["status"] == "COMPLETED" and row.content["result"] == "agree"
    await c.source.aclose()
    ledger.close()


async def test_a_still_running_instance_is_rescheduled_by_recheck(sandbox: Any, tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    iid = create_running(sandbox)
    c = collector(sandbox, ledger)
    await c.run(partitions=c.source.partitions, windows=recent(sandbox))  # type: ignore[attr-defined]
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None
    ledger.reschedule_watch(row.id, past())
    await c.recheck()
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "watching"
    assert row.watch_next_at is not None and row.watch_next_at > utcnow()
    assert requests(sandbox, V1_GET) == 2
    await c.source.aclose()
    ledger.close()


@pytest.mark.parametrize(
    ("action", "reason"), [("refuse", "approval refused"), ("revoke", "approval revoked")]
)
async def test_refused_and_revoked_instances_are_skipped_with_a_reason(
    sandbox: Any, tmp_path: Path, action: str, reason: str
) -> None:
    ledger = new_ledger(tmp_path)
    iid = create_running(sandbox)
    sandbox.http.post(f"/_sandbox/instances/{iid}/{action}", json={}).raise_for_status()
    c = collector(sandbox, ledger)
    await c.run(partitions=c.source.partitions, windows=recent(sandbox))  # type: ignore[attr-defined]
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "skipped" and row.reason == reason
    await c.source.aclose()
    ledger.close()


async def test_an_instance_running_past_the_maximum_age_is_skipped(sandbox: Any, tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    created = utcnow() - days(70)
    iid = create_running(sandbox, create_time_ms=int(created.timestamp() * 1000))
    c = collector(sandbox, ledger)
    now = utcnow()
    await c.run(
        partitions=c.source.partitions,
        windows=[Window(now - days(71), now - days(69), sandbox.config.process_code)],
    )  # type: ignore[attr-defined]
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "skipped" and row.reason == "still running after 70 days"
    await c.source.aclose()
    ledger.close()


async def test_ids_already_final_in_the_ledger_cost_no_detail_call(sandbox: Any, tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    c = collector(sandbox, ledger)
    windows = recent(sandbox, hours=24 * 60)
    first = await c.run(partitions=c.source.partitions, windows=windows)  # type: ignore[attr-defined]
    assert first.counts.new == 30 and requests(sandbox, V1_GET) == 30
    lists = requests(sandbox, V1_LIST)

    second = await c.run(partitions=c.source.partitions, windows=windows)  # type: ignore[attr-defined]
    # listed again, but nothing fetched: final ids are done, watching ones are not due
    assert requests(sandbox, V1_LIST) == 2 * lists
    assert requests(sandbox, V1_GET) == 30
    assert second.records == 0

    # an event naming a final instance costs nothing either; a watching one is fetched
    counts = ledger.counts(SCHEME_ID)
    final = [r.source_id for r in ledger.list_records(scheme=SCHEME_ID, status="pending", limit=3)]
    watching = [r.source_id for r in ledger.list_records(scheme=SCHEME_ID, status="watching", limit=1)]
    assert counts.get("watching") and len(final) == 3
    page = await c.source.fetch([*final, *watching, *watching])  # type: ignore[attr-defined]
    assert [r["process_instance_id"] for r in page.records] == watching
    assert requests(sandbox, V1_GET) == 31
    await c.source.aclose()
    ledger.close()


async def test_a_vanished_instance_is_left_out_of_fetch(sandbox: Any) -> None:
    source = source_for(sandbox)
    async with source.client:
        page = await source.fetch(["no-such-instance"])
    assert page.records == [] and page.states == []
    assert sandbox.state.calls[V1_GET]["not_found"] == 1


async def test_transient_answers_are_retried(start_sandbox: Any) -> None:
    sb = start_sandbox(faults={"busy": 0.2, "throttle": 0.1, "drop": 0.05})
    rec = MemoryCallRecorder()
    source = source_for(sb, recorder=rec, attempts=8)
    now = utcnow()
    async with source.client:
        pages = await collect_pages(source, Window(now - days(60), now, sb.config.process_code))
    assert sum(len(p.records) for p in pages) == 30
    assert rec.count(status="retry") + rec.count(status="slow_down") > 0


# ---------------------------------------------------------------------------------- factory


async def test_factory_builds_a_source_from_a_connection_and_scheme(sandbox: Any, tmp_path: Path) -> None:
    conns = connections_from_dict(
        {
            "dingtalk_main": {
                "type": "dingtalk",
                "app_key": sandbox.config.app_key,
                "app_secret": "${DT_SECRET}",
                "api_base": sandbox.url,
                "qps": 10,
                "event_token": "${DT_TOKEN}",
                "event_aes_key": "${DT_AES}",
            }
        },
        env={"DT_SECRET": sandbox.config.app_secret, "DT_TOKEN": "tok", "DT_AES": "x" * 43},
    )
    ledger = new_ledger(tmp_path)
    scheme = approval_scheme(sandbox.config.process_code, max_age_days=30)
    ctx = BuildContext(recorder=ledger, scheme_id=scheme.id, ledger=ledger)
    source = build_source(conns["dingtalk_main"], scheme.source, ctx)
    assert source.partitions == (sandbox.config.process_code,)
    assert source.params.max_age_days == 30 and source.client.settings.qps == 10
    async with source.client:
        page = await source.fetch([sandbox.state.store.all()[0].id])
    assert len(page.records) == 1

    bad = connections_from_dict(
        {"d": {"type": "dingtalk", "app_key": "k", "app_secret": "${S}", "qsp": 3}}, env={"S": "s"}
    )
    with pytest.raises(ConfigError, match=r"qsp: unknown key \(did you mean 'qps'\?\)"):
        build_source(bad["d"], scheme.source, ctx)
    ledger.close()


# ---------------------------------------------------------------------------------- events mode


async def test_with_events_on_new_ids_are_stubs_until_their_event_fetches_them(
    sandbox: Any, tmp_path: Path
) -> None:
    ledger = new_ledger(tmp_path)
    iid = create_running(sandbox)
    c = collector(sandbox, ledger, events=True, event_grace_hours=6)
    await c.run(partitions=c.source.partitions, windows=recent(sandbox))  # type: ignore[attr-defined]
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "watching"
    assert row.content == {"process_instance_id": iid, "status": None, "_stub": True}
    assert row.watch_next_at is not None
    assert dt.timedelta(hours=5.9) < row.watch_next_at - utcnow() <= dt.timedelta(hours=6)
    assert requests(sandbox, V1_GET) == 0  # listed, not fetched

    # the finish event fetches it: one call, and it is taken
    sandbox.http.post(f"/_sandbox/instances/{iid}/approve", json={}).raise_for_status()
    await c.fetch([iid])
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "pending" and row.number == sandbox.state.find(iid).business_id
    assert requests(sandbox, V1_GET) == 1
    await c.source.aclose()
    ledger.close()


async def test_with_events_on_a_lost_event_is_caught_after_the_grace_period(
    sandbox: Any, tmp_path: Path
) -> None:
    ledger = new_ledger(tmp_path)
    iid = create_running(sandbox)
    c = collector(sandbox, ledger, events=True)
    await c.run(partitions=c.source.partitions, windows=recent(sandbox))  # type: ignore[attr-defined]
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None
    ledger.reschedule_watch(row.id, past())
    await c.recheck()  # still running: watched again, a grace period later
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "watching" and row.content["status"] == "RUNNING"
    assert row.watch_next_at is not None and row.watch_next_at - utcnow() > dt.timedelta(hours=23)
    sandbox.http.post(f"/_sandbox/instances/{iid}/refuse", json={}).raise_for_status()
    ledger.reschedule_watch(row.id, past())
    await c.recheck()
    row = ledger.get(SCHEME_ID, iid)
    assert row is not None and row.status == "skipped" and row.reason == "approval refused"
    assert requests(sandbox, V1_GET) == 2
    await c.source.aclose()
    ledger.close()
