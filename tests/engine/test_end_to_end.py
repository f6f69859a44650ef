"""A scheme runs from one real HTTP service to another through the generic REST connector."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from apps import Erp, connections_yaml, orders, scheme_yaml, shop_app

from ferry.connectors.settings import load_connections
from ferry.engine.runner import Engine
from ferry.sandbox.serve import ServerThread
from ferry.scheme import load_scheme
from ferry.store import Ledger


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, Path, Erp, Ledger]]:
    erp = Erp()
    with ServerThread(shop_app(orders(35))) as shop, ServerThread(erp.app()) as target:
        scheme = tmp_path / "scheme.yaml"
        scheme.write_text(scheme_yaml(batch_size=1), encoding="utf-8")
        conns = tmp_path / "connections.yaml"
        conns.write_text(connections_yaml(shop.url, target.url), encoding="utf-8")
        ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
        ledger.migrate()
        yield scheme, conns, erp, ledger
        ledger.close()


async def run_until_settled(engine: Engine, scheme_path: Path, rounds: int = 20) -> None:
    scheme = load_scheme(scheme_path)
    await engine.run(scheme)
    for _ in range(rounds):
        counts = engine.ledger.counts(scheme.id)
        if not counts.get("failed") and not counts.get("pending") and not counts.get("in_doubt"):
            return
        await asyncio.sleep(0.1)
        await engine.run(scheme, collect=False)


async def test_pages_retries_and_dead_letters(world: tuple[Path, Path, Erp, Ledger]) -> None:
    scheme_path, conns_path, erp, ledger = world
    erp.fail_times["O00007"] = 2  # transient twice, then accepted
    erp.reject.add("O00013")  # permanent
    engine = Engine(ledger, load_connections(conns_path))

    await run_until_settled(engine, scheme_path)

    counts = ledger.counts("shop-to-erp")
    assert counts == {"written": 34, "dead": 1}
    # every order reached the target exactly once; the rejected one never did
    for o in orders(35):
        assert erp.count(o["id"]) == (0 if o["id"] == "O00013" else 1), o["id"]

    retried = ledger.get("shop-to-erp", "O00007")
    assert retried is not None and retried.status == "written" and retried.attempts == 3
    assert retried.target_id is not None and retried.target_id.startswith("D")
    story = [(e.from_status, e.to_status) for e in ledger.history(retried.id)]
    assert ("writing", "failed") in story and story[-1][1] == "written"

    dead = ledger.get("shop-to-erp", "O00013")
    assert dead is not None and dead.status == "dead"
    assert dead.reason is not None and "permanent" in dead.reason
    assert dead.last_error_code == "422"

    # the rendered request is kept, typed as the scheme says
    written = ledger.get("shop-to-erp", "O00001")
    assert written is not None and written.request == {
        "external_id": "O00001",
        "number": "SO-00001",
        "amount": 1.5,
        "customer": "客户1",
    }


async def test_second_run_takes_nothing_twice(world: tuple[Path, Path, Erp, Ledger]) -> None:
    scheme_path, conns_path, erp, ledger = world
    engine = Engine(ledger, load_connections(conns_path))
    scheme = load_scheme(scheme_path)
    first = await engine.run(scheme)
    second = await engine.run(scheme)
    assert first.collect is not None and first.collect.counts.new == 35
    assert second.collect is not None and second.collect.counts.new == 0
    assert second.collect.counts.unchanged == 35
    assert second.dispatch is not None and second.dispatch.claimed == 0
    assert erp.posts == 35
    # the watermark moved to the end of the first window
    assert ledger.get_watermark("shop-to-erp") is not None
    # every outbound call is in the API-call log
    usage = {(u.connection, u.api): u for u in ledger.api_usage()}
    assert sum(u.calls for u in usage.values()) >= 35 + 4


async def test_in_doubt_write_is_probed_not_resent(world: tuple[Path, Path, Erp, Ledger]) -> None:
    scheme_path, conns_path, erp, ledger = world
    engine = Engine(ledger, load_connections(conns_path), lease_seconds=0.2)
    scheme = load_scheme(scheme_path)
    await engine.collect(scheme)
    # a worker claims a record and "crashes" after the target created the document
    (claimed,) = ledger.claim(scheme.id, owner="crashed-worker", limit=1, lease_seconds=0.2)
    import httpx

    conns = load_connections(conns_path)
    httpx.post(
        f"{conns['erp'].settings['base_url']}/documents",
        json={"external_id": claimed.source_id, "number": claimed.number},
    )
    await asyncio.sleep(0.3)  # the crashed worker's lease runs out
    await engine.run(scheme, collect=False)
    rec = ledger.get(scheme.id, claimed.source_id)
    assert rec is not None and rec.status == "written"
    assert rec.reason is not None and "found in the target" in rec.reason
    assert erp.count(claimed.source_id) == 1
    assert ledger.counts(scheme.id) == {"written": 35}
