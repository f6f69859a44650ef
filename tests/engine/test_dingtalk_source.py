"""The DingTalk approval source through the engine: collect, watch, events, dispatch, and the calls it costs."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dingtalk_world
import httpx
import pytest
from dingtalk_world import MemoryTarget, connections, payment_scheme

from ferry.connectors.settings import connections_from_dict
from ferry.connectors.spec import register, unregister
from ferry.console.dingtalk_callback import CALLBACK_PATH, engine_handler, make_callback_app
from ferry.engine.runner import Engine
from ferry.sandbox.dingtalk import Sandbox, SandboxConfig, create_app
from ferry.sandbox.serve import ServerThread
from ferry.store import Ledger

V1_LIST = "v1.0/workflow/processes/instanceIds/query"
V1_GET = "v1.0/workflow/processInstances"
TOKEN = "ferrytoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


class World:
    def __init__(self, url: str, state: Sandbox, engine: Engine, ledger: Ledger) -> None:
        self.url = url
        self.state = state
        self.engine = engine
        self.ledger = ledger
        self.http = httpx.Client(base_url=url, timeout=10)
        self.scheme = payment_scheme(state.config.process_code)

    def requests(self, api: str) -> int:
        return int(self.state.calls.get(api, {}).get("requests", 0))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[World]:
    register(dingtalk_world.SPEC)
    request.addfinalizer(lambda: unregister("memory"))
    monkeypatch.setattr(dingtalk_world, "TARGET", MemoryTarget())
    app = create_app(SandboxConfig(seed_instances=40))
    with ServerThread(app) as server:
        cfg = app.sandbox.config
        conns = connections_from_dict(
            connections(server.url, cfg.app_key, cfg.app_secret), env={"DT_SECRET": cfg.app_secret}
        )
        ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
        ledger.migrate()
        w = World(server.url, app.sandbox, Engine(ledger, conns), ledger)
        yield w
        w.http.close()
        ledger.close()


def expected(state: Sandbox) -> dict[str, int]:
    out = {"pending": 0, "skipped": 0, "watching": 0}
    for inst in state.store.all():
        if inst.status == "COMPLETED" and inst.result == "agree":
            out["pending"] += 1
        elif inst.status in ("RUNNING", "NEW"):
            out["watching"] += 1
        else:
            out["skipped"] += 1
    return {k: v for k, v in out.items() if v}


async def test_collect_stores_every_instance_with_its_state_and_dispatch_writes_the_approved(
    world: World,
) -> None:
    report = await world.engine.collect(world.scheme)
    assert report.counts.new == 40
    assert world.ledger.counts(world.scheme.id) == expected(world.state)
    assert world.requests(V1_GET) == 40
    # one watermark per process code
    assert world.ledger.get_watermark(world.scheme.id, world.state.config.process_code) is not None

    dispatched = await world.engine.dispatch(world.scheme)
    approved = [i for i in world.state.store.all() if i.status == "COMPLETED" and i.result == "agree"]
    target = dingtalk_world.TARGET
    assert dispatched.as_dict()["written"] == len(approved) == len(target.written)
    some = approved[0]
    number = next(c.value for c in some.form if c.name == "金蝶单据编号")
    amount = next(c.value for c in some.form if c.name == "付款金额")
    assert target.written[some.id] == {"Numbers": [number], "Amount": amount}

    # every call is in the ledger's api_calls, metered as DingTalk meters it
    usage = {u.api: u for u in world.ledger.api_usage(connection="dingtalk_main")}
    assert usage[V1_GET].metered == 40 and usage[V1_LIST].metered == world.requests(V1_LIST)
    assert world.ledger.metered_this_month("dingtalk_main") == world.state.calls_view()["metered_used"]


async def test_a_second_collect_fetches_no_detail_again(world: World) -> None:
    await world.engine.collect(world.scheme)
    lists, gets = world.requests(V1_LIST), world.requests(V1_GET)
    report = await world.engine.collect(world.scheme)
    assert report.records == 0
    assert world.requests(V1_GET) == gets
    assert world.requests(V1_LIST) - lists <= 1  # the lookback window only


async def test_an_approval_event_fetches_that_instance_and_dispatches_it(world: World) -> None:
    await world.engine.collect(world.scheme)
    await world.engine.dispatch(world.scheme)
    running = next(i for i in world.state.store.all() if i.status == "RUNNING")
    gets = world.requests(V1_GET)

    handler = engine_handler(world.engine, [world.scheme])
    with ServerThread(make_callback_app(TOKEN, AES_KEY, world.state.config.app_key, handler)) as cb:
        registered = world.http.put(
            "/_sandbox/callback", json={"url": cb.url + CALLBACK_PATH, "token": TOKEN, "aes_key": AES_KEY}
        )
        assert registered.json()["registered"] is True
        world.http.post(f"/_sandbox/instances/{running.id}/approve", json={}).raise_for_status()
        deadline = time.monotonic() + 10
        target: Any = dingtalk_world.TARGET
        while running.id not in target.written and time.monotonic() < deadline:
            time.sleep(0.05)
    assert running.id in target.written
    row = world.ledger.get(world.scheme.id, running.id)
    assert row is not None and row.status == "written"
    # one finish event, one detail call
    assert world.requests(V1_GET) == gets + 1
    runs = [r for r in world.ledger.list_runs(world.scheme.id) if r.trigger == "event"]
    assert {r.kind for r in runs} == {"collect", "dispatch"}


async def test_a_watched_instance_is_rechecked_by_the_next_collect_once_due(world: World) -> None:
    await world.engine.collect(world.scheme)
    watching = world.ledger.list_records(scheme=world.scheme.id, status="watching", limit=100)
    assert watching
    first = watching[0]
    world.http.post(f"/_sandbox/instances/{first.source_id}/approve", json={}).raise_for_status()
    gets = world.requests(V1_GET)
    await world.engine.collect(world.scheme)
    assert world.requests(V1_GET) == gets  # nothing due yet
    world.ledger.reschedule_watch(first.id, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    await world.engine.collect(world.scheme)
    assert world.requests(V1_GET) == gets + 1
    row = world.ledger.get(world.scheme.id, first.source_id)
    assert row is not None and row.status == "pending"
