"""Dispatch beside a collect that stores records a few at a time (DingTalk details as they arrive):
short batches wait a moment for more, so the target is not called once for every record or two."""

from __future__ import annotations

import asyncio
from pathlib import Path

from apps import Erp, connections_yaml, orders, scheme_yaml, shop_app

from ferry.connectors.settings import load_connections
from ferry.engine.runner import Engine
from ferry.engine.transform import Transform
from ferry.sandbox.serve import ServerThread
from ferry.scheme import load_scheme
from ferry.store import Ledger


async def test_short_batches_fill_while_a_collect_runs_beside_the_dispatcher(tmp_path: Path) -> None:
    erp = Erp()
    with ServerThread(shop_app([])) as shop, ServerThread(erp.app()) as target:
        (tmp_path / "scheme.yaml").write_text(scheme_yaml(batch_size=10), encoding="utf-8")
        (tmp_path / "connections.yaml").write_text(connections_yaml(shop.url, target.url), encoding="utf-8")
        ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
        ledger.migrate()
        scheme = load_scheme(tmp_path / "scheme.yaml")
        items = Transform(scheme).collect_items(orders(30))
        engine = Engine(ledger, load_connections(tmp_path / "connections.yaml"))

        wake = asyncio.Event()

        async def trickle() -> None:
            # one record every 25 ms, each stored on its own and announced, as chunked DingTalk details are
            for item in items:
                await asyncio.to_thread(ledger.collect, scheme.id, [item])
                wake.set()
                await asyncio.sleep(0.025)

        follow = asyncio.ensure_future(trickle())
        report = await engine.dispatch(scheme, follow=follow, wake=wake)
        await follow
        await engine.aclose()
        ledger.close()
    assert report.claimed == 30 and all(erp.count(f"O{i:05d}") == 1 for i in range(1, 31))
    # 30 records over ~0.75 s: claimed as they came, that would be a batch per record or two
    assert report.batches <= 6, report
