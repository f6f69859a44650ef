"""Hold for review end to end: a real REST source and target (the engine tests' shop and erp), a real
ledger. A held record is never sent until a person releases it: not after a restart, not by two engines
dispatching one PostgreSQL ledger at once; a rejected one never is."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

# the engine tests' shop and erp services
sys.path.append(str(Path(__file__).resolve().parents[1] / "engine"))

from apps import Erp, connections_yaml, scheme_yaml, shop_app
from quality_db import fresh_pg_schema, require_postgres

from ferry.connectors.settings import load_connections
from ferry.engine.runner import Engine
from ferry.sandbox.serve import ServerThread
from ferry.scheme import load_scheme
from ferry.store import Ledger

CHECKS = """
checks:
  fields: {payee: customer.name, amount: amount, date: date, summary: note, account: account}
"""


def payments() -> list[dict[str, Any]]:
    """Eight orders: a duplicate of O00002 a week later (O00007), and a total that does not add up."""
    out = [
        {
            "id": f"O{i:05d}",
            "no": f"SO-{i:05d}",
            "amount": f"{100 * i}.00",
            "customer": {"name": f"客户{i}"},
            "date": f"2026-11-{i:02d}",
            "note": f"货款 第{i}批",
        }
        for i in range(1, 7)
    ]
    out.append({**out[1], "id": "O00007", "no": "SO-00007", "date": "2026-11-09"})
    out.append({**out[2], "id": "O00008", "no": "SO-00008", "amount": "250.00", "date": "2026-10-01"})
    return out


class World:
    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.erp = Erp()
        self.tmp = tmp_path
        self.db_url = db_url
        self.orders = payments()

    def scheme(self, batch_size: int = 1) -> Any:
        path = self.tmp / "s.yaml"
        path.write_text(scheme_yaml(batch_size=batch_size) + CHECKS, encoding="utf-8")
        return load_scheme(path)

    def connections(self, shop: str, erp: str) -> Any:
        path = self.tmp / "c.yaml"
        path.write_text(connections_yaml(shop, erp), encoding="utf-8")
        return load_connections(path)


async def run_once(world: World, shop: str, erp: str, *, batch_size: int = 1) -> dict[str, int]:
    """One engine, started afresh on the ledger (a restart): collect and dispatch."""
    ledger = Ledger(world.db_url)
    ledger.migrate()
    engine = Engine(ledger, world.connections(shop, erp))
    try:
        await engine.run(world.scheme(batch_size))
    finally:
        await engine.aclose()
        counts = ledger.counts("shop-to-erp")
        ledger.close()
    return counts


async def test_a_held_duplicate_is_never_sent_until_released(tmp_path: Path) -> None:
    world = World(tmp_path, f"sqlite:///{tmp_path / 'f.db'}")
    # O00008 pays 客户3 again but another amount a month earlier: not a duplicate
    with ServerThread(shop_app(world.orders)) as shop, ServerThread(world.erp.app()) as erp:
        counts = await run_once(world, shop.url, erp.url)
        assert counts == {"written": 7, "held": 1}
        assert world.erp.count("O00007") == 0 and world.erp.count("O00002") == 1
        ledger = Ledger(world.db_url)
        held = ledger.get("shop-to-erp", "O00007")
        original = ledger.get("shop-to-erp", "O00002")
        assert held is not None and original is not None and held.status == "held"
        assert "duplicate" in (held.reason or "") and "SO-00002" in (held.reason or "")
        [finding] = ledger.findings_of(held.id)
        assert finding.matched == [original.id] and finding.verdict == "block"
        ledger.close()

        # restarts: the record stays held and unsent however often the engine runs
        for _ in range(2):
            assert (await run_once(world, shop.url, erp.url))["held"] == 1
        assert world.erp.count("O00007") == 0

        ledger = Ledger(world.db_url)
        assert ledger.release_held([held.id], "alice", "second delivery, confirmed by phone") == 1
        ledger.close()
        counts = await run_once(world, shop.url, erp.url)
        assert counts == {"written": 8}
        assert world.erp.count("O00007") == 1
        ledger = Ledger(world.db_url)
        first, again = ledger.findings_of(held.id)
        assert (first.resolution, first.resolved_by) == ("released", "alice")
        assert again.verdict == "warn"  # made again, released before: a note, not a hold
        release = [
            e for e in ledger.history(held.id) if e.reason and e.reason.startswith("released by alice")
        ]
        assert release and release[0].detail == {"manual": True, "by": "alice", "review": "released"}
        ledger.close()


async def test_a_rejected_record_is_skipped_and_never_sent(tmp_path: Path) -> None:
    world = World(tmp_path, f"sqlite:///{tmp_path / 'f.db'}")
    with ServerThread(shop_app(world.orders)) as shop, ServerThread(world.erp.app()) as erp:
        await run_once(world, shop.url, erp.url)
        ledger = Ledger(world.db_url)
        held = ledger.get("shop-to-erp", "O00007")
        assert held is not None
        assert ledger.reject_held([held.id], "bob", "the same invoice as SO-00002") == 1
        assert ledger.release_held([held.id], "bob", "too late") == 0  # rejected is final
        ledger.close()
        assert await run_once(world, shop.url, erp.url) == {"written": 7, "skipped": 1}
        assert world.erp.count("O00007") == 0


@pytest.mark.postgres
async def test_two_engines_on_one_postgresql_ledger_never_send_a_held_record(tmp_path: Path) -> None:
    require_postgres()
    with fresh_pg_schema() as url:
        world = World(tmp_path, url)
        # many copies of one payment: each later one is a duplicate of the first
        base = world.orders[1]
        world.orders = [base] + [
            {**base, "id": f"D{i:05d}", "no": f"SD-{i:05d}", "date": f"2026-11-{3 + i % 8:02d}"}
            for i in range(40)
        ]
        with ServerThread(shop_app(world.orders)) as shop, ServerThread(world.erp.app()) as erp:
            ledger = Ledger(url)
            ledger.migrate()
            collector = Engine(ledger, world.connections(shop.url, erp.url))
            await collector.collect(world.scheme(batch_size=5))
            await collector.aclose()
            ledger.close()

            async def dispatch_alone() -> None:
                own = Ledger(url)
                engine = Engine(own, world.connections(shop.url, erp.url))
                try:
                    await engine.dispatch(world.scheme(batch_size=5))
                finally:
                    await engine.aclose()
                    own.close()

            await asyncio.gather(dispatch_alone(), dispatch_alone())
            ledger = Ledger(url)
            counts = ledger.counts("shop-to-erp")
            sent = sum(len(v) for v in world.erp.docs.values())
            # at most the first is paid; every copy is held, none is sent
            assert counts.get("held", 0) >= 40 and sent == counts.get("written", 0) <= 1
            held = ledger.held("shop-to-erp")
            # both engines did part of the work (each outcome's event names its worker)
            owners = {
                (e.detail or {}).get("owner")
                for h in held
                for e in ledger.history(h.id)
                if e.to_status == "held"
            }
            assert len(owners) == 2, owners
            assert all(world.erp.count(ledger.get_by_id(h.id).source_id) == 0 for h in held)  # type: ignore[union-attr]
            ledger.close()


async def test_a_history_that_cannot_be_read_gives_the_batch_back_untouched(tmp_path: Path) -> None:
    """No record is held, quarantined or sent because the checks could not read the ledger."""
    import sqlalchemy as sa

    from ferry.errors import StoreError

    world = World(tmp_path, f"sqlite:///{tmp_path / 'f.db'}")
    with ServerThread(shop_app(world.orders)) as shop, ServerThread(world.erp.app()) as erp:
        ledger = Ledger(world.db_url)
        ledger.migrate()
        engine = Engine(ledger, world.connections(shop.url, erp.url))
        await engine.collect(world.scheme())
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE quality_facts RENAME TO quality_facts_gone"))
        try:
            await engine.dispatch(world.scheme())
        except StoreError:
            pass  # the pass stops: the ledger is the problem, not a record
        finally:
            await engine.aclose()
        assert ledger.counts("shop-to-erp") == {"pending": 8}
        assert sum(len(v) for v in world.erp.docs.values()) == 0
        assert all(r.attempts == 0 for r in ledger.list_records(scheme="shop-to-erp"))
        ledger.close()
