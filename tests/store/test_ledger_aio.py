"""AsyncLedger: every public Ledger method has an async twin with the same signature, run on its own pool."""

from __future__ import annotations

import asyncio
import inspect
import threading

from ferry.store import AsyncLedger, Collected, Ledger


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in inspect.getmembers(cls, predicate=inspect.isfunction)
        if not name.startswith("_")
    }


def test_every_public_method_has_an_async_twin_with_the_same_signature() -> None:
    sync, aio = public_methods(Ledger), public_methods(AsyncLedger)
    assert set(sync) <= set(aio)
    for name, signature in sync.items():
        assert str(aio[name]) == str(signature), name
        assert inspect.iscoroutinefunction(getattr(AsyncLedger, name)) == (name != "record"), name


async def test_async_calls_run_on_the_facades_own_threads(ledger: Ledger) -> None:
    seen: list[str] = []
    original = ledger.counts

    def spy(scheme: str | None = None) -> dict[str, int]:
        seen.append(threading.current_thread().name)
        return original(scheme)

    ledger.counts = spy  # type: ignore[method-assign]
    aio = AsyncLedger(ledger, max_workers=2)
    counts = await aio.collect("s", [Collected("a", None, {"v": 1}), Collected("b", None, {"v": 2})])
    assert counts.new == 2
    [first] = await aio.claim("s", owner="w", limit=1, lease_seconds=60)
    assert await aio.finish("w", [first.outcome("written")]) == []
    results = await asyncio.gather(*(aio.counts("s") for _ in range(6)))
    assert results == [{"pending": 1, "written": 1}] * 6
    assert seen and all(name.startswith("ferry-ledger") for name in seen)
    assert len(set(seen)) <= 2  # bounded by max_workers
    aio._threads.shutdown(wait=True)
