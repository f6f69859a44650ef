"""One bad record never stops a scheme: it is quarantined with its reason and the rest goes on.

Real HTTP on loopback (the shop and erp apps), the real REST connector, a real SQLite ledger. Each
hostile value reaches the engine the way an upstream system would send it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from apps import Erp, shop_app
from pydantic import BaseModel, ConfigDict
from ruamel.yaml import YAML
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ferry.connectors.base import TargetDoc, WriteItem, WriteOutcome
from ferry.connectors.errors import AccessDenied
from ferry.connectors.settings import connections_from_dict
from ferry.connectors.spec import ConnectorSpec, register, unregister
from ferry.engine.runner import Engine
from ferry.sandbox.serve import ServerThread
from ferry.scheme import Scheme
from ferry.store import Ledger

SCHEME = """
id: hostile
source:
  connection: shop
  api: /orders
  id: id
  number: "no"
  records_path: data.items
  pagination: {style: page, param: page, size_param: size, page_size: 20, total_path: data.total}
  initial_days: 1
  condition: [{field: amount, logic: gt, value: 0}]
target:
  connection: erp
  api: /documents
  params: {id_path: id, number_path: number}
  request:
    - {field: external_id, value: "{{id}}"}
    - {field: number, value: "{{no}}"}
    - {field: check_digit, value: "_function {{amount}} % 7"}
  probe: {path: /documents, params: {external_id: "{source_id}"}, found_path: items}
retry: {max_attempts: 2, initial_delay: 0.05, max_delay: 0.1, jitter: 0}
"""


def scheme(text: str = SCHEME) -> Scheme:
    return Scheme.model_validate(YAML(typ="safe").load(text))


def good(i: int) -> dict[str, Any]:
    return {"id": f"G{i}", "no": f"SO-{i}", "amount": f"{i}.50"}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    led.migrate()
    yield led
    led.close()


def raw_shop(body: str) -> Starlette:
    """A source that answers every page with ``body`` as it is: JSON that a strict encoder would
    never write (``NaN``, ``1e300``), the way a hostile or buggy upstream system sends it."""

    async def page(request: Request) -> Response:
        first = request.query_params.get("page", "1") == "1"
        text = body if first else '{"code": 0, "data": {"items": [], "total": 0}}'
        return Response(text, media_type="application/json")

    return Starlette(routes=[Route("/orders", page)])


def run_once(ledger: Ledger, orders: list[dict[str, Any]] | str, erp: Erp, text: str = SCHEME) -> Any:
    app = raw_shop(orders) if isinstance(orders, str) else shop_app(orders)
    with ServerThread(app) as shop, ServerThread(erp.app()) as target:
        conns = connections_from_dict(
            {"shop": {"type": "http", "base_url": shop.url}, "erp": {"type": "http", "base_url": target.url}}
        )

        async def go() -> Any:
            async with Engine(ledger, conns) as engine:
                return await engine.run(scheme(text))

        return asyncio.run(go())


def test_hostile_values_quarantine_their_record_and_the_page_goes_on(ledger: Ledger) -> None:
    items = ",".join(
        [
            json.dumps(good(1)),
            '{"id": "HUGE", "no": "SO-H", "amount": 1e300}',  # 1e300 % 7 once escaped the evaluator
            json.dumps(good(2)),
            '{"id": "NAN", "no": "SO-N", "amount": NaN}',  # NaN against a `gt` condition
            '{"id": {"nested": 1}, "no": "SO-D", "amount": 3}',  # an object is not an id
            json.dumps(good(3)),
            '{"id": 7, "no": "SO-7", "amount": 7}',
            '{"id": 7.0, "no": "SO-7", "amount": 7}',  # the same id as a float: one record
            json.dumps(good(4)),
            '"not an object"',
        ]
    )
    body = '{"code": 0, "data": {"items": [' + items + '], "total": 9}}'
    erp = Erp()
    summary = run_once(ledger, body, erp)
    assert not summary.errors, summary.errors
    counts = ledger.counts("hostile")
    assert counts.get("writing", 0) == 0
    written = {r.source_id for r in ledger.list_records(scheme="hostile", status="written")}
    assert written == {"G1", "G2", "G3", "G4", "7"}
    assert erp.count("7") == 1
    quarantined = {
        r.source_id: r.reason or "" for r in ledger.list_records(scheme="hostile", status="quarantined")
    }
    # the record keeps its own id where it has one, so a person finds it by the id they know
    assert "HUGE" in quarantined
    assert "out of range" in quarantined["HUGE"] and "check_digit" in quarantined["HUGE"]
    # a NaN is nothing a ledger column can hold: the record is quarantined (as a sanitised copy, under
    # its own id) with the field that held it, the same on SQLite and PostgreSQL
    nan = ledger.get("hostile", "NAN")
    assert nan is not None and nan.status == "quarantined", nan
    assert "amount" in (nan.reason or "") and "NaN" in (nan.reason or ""), nan.reason
    assert any("must be text or a number" in why for why in quarantined.values())
    assert any("not an object" in why for why in quarantined.values())
    # every window was read to its end: the watermark moved
    assert ledger.get_watermark("hostile") is not None


class _Any(BaseModel):
    model_config = ConfigDict(extra="allow")


class ScriptedTarget:
    """A target whose behaviour a test scripts: refuse access, crash like a buggy connector, or work."""

    mode = "refuse"
    writes = 0
    found: ClassVar[set[str]] = set()

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        ScriptedTarget.writes += 1
        if ScriptedTarget.mode == "refuse":
            raise AccessDenied("login refused: wrong password", code="MsgCode=0", api="LoginBySign")
        if ScriptedTarget.mode == "crash":
            ScriptedTarget.found.update(i.source_id for i in items)  # it did land
            raise KeyError("a bug in the connector")
        ScriptedTarget.found.update(i.source_id for i in items)
        return [WriteOutcome(i.key, TargetDoc(id=f"D-{i.source_id}", number=i.number)) for i in items]

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        return (
            TargetDoc(id=f"D-{item.source_id}", number=item.number) if item.source_id in self.found else None
        )

    async def aclose(self) -> None:
        return None


def build_target(conn: Any, spec: Any, ctx: Any) -> ScriptedTarget:
    return ScriptedTarget()


SCRIPTED = ConnectorSpec(
    name="scripted",
    summary="a scripted target (tests)",
    settings=_Any,
    factory=__name__,
    capabilities=frozenset({"target", "probe"}),
    target_params=_Any,
    probe=_Any,
)

SIMPLE = (
    SCHEME.replace("connection: erp", "connection: scripted")
    .replace("  condition: [{field: amount, logic: gt, value: 0}]\n", "")
    .replace('    - {field: check_digit, value: "_function {{amount}} % 7"}\n', "")
)


@pytest.fixture
def scripted() -> Iterator[None]:
    register(SCRIPTED)
    ScriptedTarget.mode, ScriptedTarget.writes, ScriptedTarget.found = "refuse", 0, set()
    yield
    unregister("scripted")


def run_scripted(ledger: Ledger, orders: list[dict[str, Any]]) -> Any:
    with ServerThread(shop_app(orders)) as shop:
        conns = connections_from_dict(
            {"shop": {"type": "http", "base_url": shop.url}, "scripted": {"type": "scripted"}}
        )

        async def go() -> Any:
            async with Engine(ledger, conns) as engine:
                return await engine.run(scheme(SIMPLE))

        return asyncio.run(go())


def test_a_refused_connection_stops_the_pass_and_counts_no_attempt(ledger: Ledger, scripted: None) -> None:
    orders = [good(i) for i in range(1, 8)]
    summary = run_scripted(ledger, orders)
    assert any("login refused" in e for e in summary.errors), summary.errors
    assert ScriptedTarget.writes == 1  # the first batch was refused; the pass stopped there
    rows = ledger.list_records(scheme="hostile", limit=100)
    assert {r.status for r in rows} == {"pending"}
    assert all(r.attempts == 0 for r in rows)
    dispatch_run = next(r for r in ledger.list_runs("hostile") if r.kind == "dispatch")
    assert dispatch_run.status == "failed" and "login refused" in (dispatch_run.error or "")
    # the password is fixed: the same records are all written, once each
    ScriptedTarget.mode = "ok"
    summary = run_scripted(ledger, orders)
    assert not summary.errors
    assert ledger.counts("hostile") == {"written": 7}


def test_a_crashing_target_leaves_nothing_writing_and_the_probe_settles_it(
    ledger: Ledger, scripted: None
) -> None:
    ScriptedTarget.mode = "crash"
    summary = run_scripted(ledger, [good(1), good(2)])
    assert not summary.errors
    assert ledger.counts("hostile") == {"in_doubt": 2}
    reasons = {r.reason for r in ledger.list_records(scheme="hostile")}
    assert all("KeyError" in (why or "") for why in reasons), reasons
    ScriptedTarget.mode = "ok"
    writes_before = ScriptedTarget.writes
    for row in ledger.list_records(scheme="hostile"):
        ledger.set_status([row.id], "in_doubt", "due now")  # skip the 5 s wait before the probe
    summary = run_scripted(ledger, [good(1), good(2)])
    # found by the probe, not written again
    assert ledger.counts("hostile") == {"written": 2}
    assert ScriptedTarget.writes == writes_before
