"""The upkeep step and its service: finished hours rolled up, old calls pruned, the usage unchanged."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from ferry.observe.calls import ApiCall
from ferry.observe.usage import keep_usage, upkeep
from ferry.store import Ledger


def test_upkeep_rolls_up_prunes_and_keeps_the_totals(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'u.db'}", api_call_retention_days=30)
    ledger.migrate()
    now = dt.datetime(2026, 12, 20, 12, tzinfo=dt.UTC)
    for days in (45, 40, 31, 2, 0):
        ledger.record(ApiCall("k", "Save", "ok", 50.0, at=now - dt.timedelta(days=days, minutes=30)))
    done = upkeep(ledger, now=now)
    # the last call's hour ended less than the roll-up margin ago: it stays raw for now
    assert done.pruned_calls == 3 and done.rolled_rows == 4
    assert sum(n for *_, n, _ in ledger.call_totals()) == 5
    again = upkeep(ledger, now=now)
    assert again.rolled_rows == 0 and again.pruned_calls == 0
    ledger.close()


async def test_the_service_runs_until_stopped(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 's.db'}")
    ledger.migrate()
    ledger.record(ApiCall("k", "Save", "ok", 50.0, at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)))
    stop = asyncio.Event()
    task = asyncio.create_task(keep_usage(ledger, stop, every_s=0.05))
    for _ in range(100):
        if ledger.rolled_until() is not None:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert ledger.rolled_until() is not None
    ledger.close()
