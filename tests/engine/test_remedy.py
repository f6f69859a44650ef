"""The omission remedy (漏单补救) finds what the regular passes missed, without moving a watermark."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apps import Erp, connections_yaml, orders, scheme_yaml, shop_app, shop_time
from typer.testing import CliRunner

from ferry.cli.main import app as cli
from ferry.connectors.settings import load_connections
from ferry.engine import schedule as schedules
from ferry.engine.runner import Engine, next_fire
from ferry.engine.transform import Transform
from ferry.sandbox.serve import ServerThread
from ferry.scheme import Schedule, Scheme, load_scheme
from ferry.store import Ledger

HOUR = 3600.0

# the regular pass asks for its window; the remedy re-reads the last two days
WINDOWED = """  initial_days: 1
  lookback: 60
  request:
    - {field: updated_from, value: "{{LAST_SYNC_TIME}}"}
    - {field: updated_to, value: "{{CURRENT_TIME}}"}
  omission_remedy: {days: 2}
"""


class World:
    def __init__(
        self, tmp_path: Path, shop_orders: list[dict[str, Any]], erp: Erp, seen: list[dict[str, str]]
    ):
        self.tmp_path = tmp_path
        self.orders = shop_orders
        self.erp = erp
        self.seen = seen
        self.conns = tmp_path / "connections.yaml"
        self.db = f"sqlite:///{tmp_path / 'ferry.db'}"
        self.ledger = Ledger(self.db)
        self.ledger.migrate()

    def engine(self) -> Engine:
        return Engine(self.ledger, load_connections(self.conns))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    now = time.time()
    shop_orders = [{**o, "created": now - HOUR} for o in orders(5)]
    seen: list[dict[str, str]] = []
    erp = Erp()
    with ServerThread(shop_app(shop_orders, seen=seen)) as shop, ServerThread(erp.app()) as target:
        w = World(tmp_path, shop_orders, erp, seen)
        w.conns.write_text(connections_yaml(shop.url, target.url), encoding="utf-8")
        (tmp_path / "scheme.yaml").write_text(
            scheme_yaml().replace("  initial_days: 1\n", WINDOWED), encoding="utf-8"
        )
        yield w
        w.ledger.close()


def late_order(created: float) -> dict[str, Any]:
    return {
        "id": "LATE1",
        "no": "SO-LATE1",
        "amount": "9.90",
        "customer": {"name": "迟到"},
        "created": created,
    }


async def test_late_record_is_missed_by_the_regular_pass_and_found_by_the_remedy(world: World) -> None:
    scheme = load_scheme(world.tmp_path / "scheme.yaml")
    engine = world.engine()
    first = await engine.run(scheme)
    assert first.collect is not None and first.collect.counts.new == 5
    # a record appears at the source with a time the regular passes have already read past
    world.orders.append(late_order(time.time() - 3 * HOUR))

    second = await engine.run(scheme)
    assert second.collect is not None and second.collect.counts.new == 0
    assert world.ledger.get(scheme.id, "LATE1") is None
    watermark = world.ledger.get_watermark(scheme.id)
    assert watermark is not None

    report = await engine.remedy(scheme)
    assert report.counts.new == 1 and report.counts.unchanged == 5
    assert world.ledger.get_watermark(scheme.id) == watermark  # the remedy moves no watermark
    # it read the last two days, not the regular window
    asked_from = float(world.seen[-1]["updated_from"])
    assert abs(asked_from - (time.time() - 2 * 86400)) < 60
    run = world.ledger.list_runs(scheme.id, limit=1)[0]
    assert (run.kind, run.trigger, run.status) == ("collect", "remedy", "ok")
    assert run.counts is not None and run.counts["new"] == 1

    # the found record goes the usual way, and nothing is written twice
    await engine.run(scheme, collect=False)
    await engine.remedy(scheme)
    await engine.run(scheme, collect=False)
    assert world.ledger.counts(scheme.id) == {"written": 6}
    assert all(world.erp.count(o["id"]) == 1 for o in world.orders)


def test_cli_run_remedy_runs_only_the_remedy_pass(world: World) -> None:
    scheme_path = str(world.tmp_path / "scheme.yaml")
    args = ["--db", world.db, "--connections", str(world.conns), "--json"]
    first = CliRunner().invoke(cli, ["run", scheme_path, *args])
    assert first.exit_code == 0, first.output
    world.orders.append(late_order(time.time() - 5 * HOUR))

    result = CliRunner().invoke(cli, ["run", scheme_path, "--remedy", *args])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["collect"] is None and summary["dispatch"] is None
    assert summary["remedy"]["new"] == 1
    assert summary["statuses"] == {"written": 5, "pending": 1}

    both = CliRunner().invoke(cli, ["run", scheme_path, "--remedy", "--collect-only", *args])
    assert both.exit_code == 2


def qingyi_scheme(path: Path) -> Path:
    doc = {
        "id": "shop-qingyi",
        "source": {
            "connection": "shop",
            "api": "/orders",
            "method": "GET",
            "effect": "QUERY",
            "id": "id",
            "number": "no",
            "idCheck": True,
            "recordsPath": "data.items",
            "pagination": {"style": "page", "sizeParam": "size", "pageSize": 10, "totalPath": "data.total"},
            "request": [
                {"field": "updated_from", "type": "string", "value": "{{LAST_SYNC_TIME|datetime}}"},
                {"field": "updated_to", "type": "string", "value": "{{CURRENT_TIME|datetime}}"},
                {"field": "channel", "type": "string", "value": "web"},
            ],
            "omissionRemedy": {
                "crontab": "2 */2 * * *",
                "adapter": "\\Adapter\\Shop\\ShopQueryAdapter",
                "takeOverRequest": [
                    {
                        "field": "updated_from",
                        "label": "修改时间开始段",
                        "type": "string",
                        "is_required": True,
                        "value": "{{DAYS_AGO_2|datetime}}",
                    },
                    {"field": "updated_to", "type": "string", "value": "{{DAYS_AGO_1|datetime}}"},
                ],
            },
        },
        "target": {
            "connection": "erp",
            "api": "/documents",
            "method": "POST",
            "request": [{"field": "external_id", "value": "{{id}}"}],
        },
    }
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


async def test_qingyi_take_over_request_renders_the_remedy_query(world: World) -> None:
    scheme = load_scheme(qingyi_scheme(world.tmp_path / "shop-qingyi.json"))
    remedy = scheme.source.omission_remedy
    assert remedy is not None and remedy.days == 2
    engine = world.engine()
    await engine.collect(scheme)
    regular = world.seen[-1]
    assert regular["channel"] == "web"
    # older than a day and younger than two: only the take-over window reaches it
    world.orders.append(late_order(time.time() - 30 * HOUR))

    report = await engine.remedy(scheme)

    asked = world.seen[-1]
    now = time.time()
    assert abs(shop_time(asked["updated_from"]) - (now - 2 * 86400)) < 60
    assert abs(shop_time(asked["updated_to"]) - (now - 86400)) < 60
    # the fields it does not name stay, and so does the paging
    assert asked["channel"] == "web" and asked["page"] == "1" and asked["size"] == "10"
    # the hour-old orders lie outside Qingyi's [2 days ago, 1 day ago): only the late one is listed
    assert report.records == 1 and report.counts.new == 1
    assert world.ledger.get(scheme.id, "LATE1") is not None


def test_take_over_request_replaces_fields_by_name_and_keeps_the_rest() -> None:
    scheme = Scheme.model_validate(
        {
            "id": "t",
            "timezone": "UTC",
            "source": {
                "api": "/x",
                "request": [
                    {"field": "from", "value": "{{LAST_SYNC_TIME}}"},
                    {"field": "page", "value": "1"},
                ],
                "otherRequest": [{"field": "to", "value": "{{CURRENT_TIME}}"}],
                "omission_remedy": {"take_over_request": {"to": "{{DAYS_AGO_1}}", "extra": "yes"}},
            },
            "target": {"api": "/y"},
        }
    )
    transform = Transform(scheme)
    now = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    variables = {"LAST_SYNC_TIME": 100, "CURRENT_TIME": 200}
    assert transform.source_request(variables) == {"from": "100", "page": "1", "to": "200"}
    remedy = transform.source_request(variables, remedy=True, now=now)
    day_ago = str(int(now.timestamp()) - 86400)
    assert remedy == {"from": "100", "page": "1", "to": day_ago, "extra": "yes"}
    assert list(remedy) == ["from", "page", "to", "extra"]


def test_cron_schedules_fire_in_the_scheme_time_zone() -> None:
    after = dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.UTC)  # 08:30 in Shanghai
    nightly = Schedule(cron="0 2 * * *")
    assert next_fire(nightly, after, "Asia/Shanghai") == dt.datetime(2024, 1, 1, 18, 0, tzinfo=dt.UTC)
    assert next_fire(nightly, after, "UTC") == dt.datetime(2024, 1, 1, 2, 0, tzinfo=dt.UTC)
    assert next_fire(Schedule(interval=30), after, "Asia/Shanghai") == after + dt.timedelta(seconds=30)


async def test_serve_runs_the_remedy_on_its_own_schedule(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme_path = world.tmp_path / "scheme.yaml"
    text = scheme_path.read_text(encoding="utf-8").replace(
        "  omission_remedy: {days: 2}\n", "  omission_remedy: {days: 2, crontab: '0 3 * * *'}\n"
    )
    scheme_path.write_text(text, encoding="utf-8")
    scheme = load_scheme(scheme_path)
    real = schedules.next_fire
    fired: list[str] = []

    def soon(schedule: Schedule, after: dt.datetime, timezone: str = "UTC") -> dt.datetime:
        # the remedy's nightly cron, brought forward so the test need not wait for 03:00
        if schedule.cron is not None:
            fired.append(timezone)
            return after + dt.timedelta(seconds=0.3)
        return real(schedule, after, timezone)

    monkeypatch.setattr(schedules, "next_fire", soon)
    engine = world.engine()
    stop = asyncio.Event()

    async def stop_after_remedy() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(r.trigger == "remedy" and r.status == "ok" for r in world.ledger.list_runs(scheme.id)):
                break
            await asyncio.sleep(0.05)
        stop.set()

    async with engine:
        await asyncio.gather(engine.serve([scheme], stop), stop_after_remedy())
    triggers = {r.trigger for r in world.ledger.list_runs(scheme.id, limit=100)}
    assert {"schedule", "remedy"} <= triggers
    assert fired and set(fired) == {"Asia/Shanghai"}
