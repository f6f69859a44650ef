"""The quota model on a planted usage history: DingTalk's forecast and advice, Kingdee's sessions, REST limits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ferry.observe.calls import ApiCall
from ferry.observe.usage import ConnectionInfo, api_report, percentile
from ferry.store import LATENCY_BUCKETS_MS, Ledger

BJ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 10, 12, 0, tzinfo=BJ)
LIST = "v1.0/workflow/processes/instanceIds/query"
GET = "v1.0/workflow/processInstances"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(f"sqlite:///{tmp_path / 'usage.db'}")
    led.migrate()
    yield led
    led.close()


def plant_history(ledger: Ledger) -> tuple[int, int]:
    """A poll every 10 minutes from Dec 1 (144 list calls a day); from Dec 4 also 106 detail calls a day.
    Returns (list calls, detail calls) planted before NOW."""
    start = dt.datetime(2026, 12, 1, tzinfo=BJ)
    lists = details = 0
    t = start
    while t < NOW:
        ledger.record(ApiCall("dingtalk_main", LIST, "ok", 40.0, metered=True, at=t))
        lists += 1
        t += dt.timedelta(minutes=10)
    t = dt.datetime(2026, 12, 4, tzinfo=BJ)
    step = dt.timedelta(seconds=86400 / 106)
    while t < NOW:
        ledger.record(ApiCall("dingtalk_main", GET, "ok", 80.0, metered=True, at=t))
        details += 1
        t += step
    # the token call is not metered; last month's calls do not count
    ledger.record(
        ApiCall("dingtalk_main", "v1.0/oauth2/accessToken", "ok", 20.0, at=NOW - dt.timedelta(hours=1))
    )
    ledger.record(ApiCall("dingtalk_main", LIST, "ok", 40.0, metered=True, at=start - dt.timedelta(hours=2)))
    ledger.flush()
    return lists, details


def test_the_forecast_for_a_planted_history_says_when_the_quota_runs_out_and_how_to_stay_inside(
    ledger: Ledger,
) -> None:
    lists, details = plant_history(ledger)
    assert (lists, details) == (9 * 144 + 72, 689)  # 9.5 days of polls; 6.5 days of details
    # half the history rolled up, half raw: the model reads both the same way
    ledger.rollup_api_calls(now=NOW - dt.timedelta(days=2))
    info = ConnectionInfo("dingtalk_main", "dingtalk", monthly_quota=5000, poll_interval_s=600)
    report = api_report(ledger, {"dingtalk_main": info}, since=NOW - dt.timedelta(days=1), now=NOW)
    quota = report.quotas[0].as_dict()
    assert quota["used"] == lists + details == 2057
    assert quota["left"] == 5000 - 2057
    # the last 7 days: 1,008 list calls and 689 detail calls
    assert quota["rate_per_day"] == pytest.approx((1008 + 689) / 7, abs=0.1)
    # 2,943 left at 242.4 a day last 12.1 days: gone on Dec 22 (Beijing)
    assert quota["runs_out_on"] == "2026-12-22"
    assert quota["forecast"] == 2057 + round((1008 + 689) / 7 / 24 * 21.5 * 24)
    advice = " | ".join(quota["advice"])
    assert "runs out on the 22nd" in advice
    # 136.9 a day keeps it inside: the polls must drop from 144 to 38.5 a day -> every 38 min (37.4 rounded up)
    assert "poll every 38 min instead of 10 min" in advice
    assert "turn DingTalk events on" in advice
    # the burn-down: one point per day so far, ending at what is used
    assert quota["burn"][0] == ["2026-12-01", 144] and quota["burn"][-1] == ["2026-12-10", 2057 - 0]
    assert len(quota["burn"]) == 10
    assert quota["forecast_line"][-1][1] == quota["forecast"]


def test_a_quiet_month_is_on_track_and_gives_no_schedule_change(ledger: Ledger) -> None:
    for day in range(1, 10):
        ledger.record(
            ApiCall(
                "dingtalk_main", GET, "ok", 50.0, metered=True, at=dt.datetime(2026, 12, day, 9, tzinfo=BJ)
            )
        )
    info = ConnectionInfo(
        "dingtalk_main", "dingtalk", monthly_quota=5000, poll_interval_s=600, events_on=True
    )
    quota = api_report(ledger, {"dingtalk_main": info}, since=NOW - dt.timedelta(days=30), now=NOW).quotas[0]
    d = quota.as_dict()
    assert d["used"] == 9 and d["runs_out_on"] is None
    assert d["advice"] and d["advice"][0].startswith("on track")


def test_kingdee_sessions_and_rest_limits(ledger: Ledger) -> None:
    at = NOW - dt.timedelta(hours=3)
    for _ in range(3):
        ledger.record(ApiCall("kingdee_main", "LoginByAppSecret", "ok", 30.0, at=at))
    ledger.record(ApiCall("kingdee_main", "Save", "reauthenticate", 30.0, error_code="MsgCode=1", at=at))
    ledger.record(ApiCall("kingdee_main", "Save", "slow_down", 30.0, error_code="MsgCode=14", at=at))
    ledger.record(ApiCall("kingdee_main", "Save", "retry", 30.0, error_code="HTTP 503", at=at))
    for i in range(7200):
        ledger.record(ApiCall("crm", "GET /orders", "ok", 12.0, at=at + dt.timedelta(seconds=i % 3600)))
    infos = {
        "kingdee_main": ConnectionInfo("kingdee_main", "kingdee"),
        "crm": ConnectionInfo("crm", "http", limits={"per_second": 10, "per_day": 5000}),
    }
    report = api_report(ledger, infos, since=NOW - dt.timedelta(days=1), now=NOW)
    by = {q.connection: q.as_dict() for q in report.quotas}
    assert by["kingdee_main"]["logins_per_day"] == {"2026-12-10": 3}
    assert by["kingdee_main"]["sessions_lost"] == 1
    assert by["kingdee_main"]["concurrency_step_downs"] == 2
    assert by["crm"]["declared"] == {"per_second": 10.0, "per_day": 5000.0}
    assert by["crm"]["peak"] == {"per_second": 2.0, "per_day": 7200.0}
    save = next(a for a in report.as_dict()["apis"] if a["api"] == "Save")
    assert save["errors_by_code"] == {"HTTP 503": 1, "MsgCode=1": 1, "MsgCode=14": 1}
    assert save["throttles"] == 1


def test_percentiles_from_buckets() -> None:
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    assert percentile(buckets, 0.5) is None
    buckets[LATENCY_BUCKETS_MS.index(100)] = 10  # ten calls in (50, 100]
    assert percentile(buckets, 0.5) == pytest.approx(75.0)
    buckets[-1] = 90  # ninety beyond the last bound read as it
    assert percentile(buckets, 0.99) == LATENCY_BUCKETS_MS[-1]


def test_a_first_burst_is_not_read_as_the_steady_rate(ledger: Ledger) -> None:
    # a first pass in the last hour: 40 metered calls; spread over a day, not extrapolated from an hour
    for i in range(40):
        ledger.record(
            ApiCall("dingtalk_main", GET, "ok", 50.0, metered=True, at=NOW - dt.timedelta(minutes=50 - i))
        )
    info = ConnectionInfo("dingtalk_main", "dingtalk", monthly_quota=5000)
    d = (
        api_report(ledger, {"dingtalk_main": info}, since=NOW - dt.timedelta(days=1), now=NOW)
        .quotas[0]
        .as_dict()
    )
    assert d["rate_per_day"] == 40.0
    assert d["runs_out_on"] is None and d["forecast"] == 40 + round(40 / 24 * 21.5 * 24)
