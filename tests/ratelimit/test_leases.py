"""Kingdee's concurrency limit shared through a store: a slow-down in one worker halves it for the others."""

from __future__ import annotations

import asyncio
import uuid

from ferry.connectors.kingdee import AuthMode, KingdeeAuth, KingdeeClient
from ferry.ratelimit.leases import SharedConcurrency
from ferry.ratelimit.store import open_store


async def test_a_slow_down_in_one_worker_halves_the_limit_for_another(store_url: str) -> None:
    store, key = open_store(store_url), f"kingdee|{uuid.uuid4().hex}"
    one = SharedConcurrency(key, 4, store=store, recover_after=2)
    other = SharedConcurrency(key, 4, store=store, recover_after=2)
    try:
        async with other.slot():
            assert other.limit == 4
        one.slow_down()
        await asyncio.sleep(0.1)  # the shared update runs as a task
        other._limit_checked = 0.0  # re-read now rather than within the second
        held = [await other.acquire() for _ in range(2)]
        assert other.limit == 2
        # the third waits: the halved cap holds even though this limiter started at 4
        blocked = asyncio.ensure_future(other.acquire())
        await asyncio.sleep(0.3)
        assert not blocked.done()
        await other.release(held[0])
        assert await asyncio.wait_for(blocked, 2) == held[0]
        # successes in a row raise it again, for everyone
        one.succeeded()
        one.succeeded()
        await asyncio.sleep(0.1)
        assert await store.shared_limit(key, 4) == 3
    finally:
        await store.aclose()


async def test_a_halved_limit_reaches_the_store_before_a_closing_connector_ends(store_url: str) -> None:
    """Kingdee's client shares a halved limit before it closes: a process that ends right after a
    slow-down does not leave the other workers at the old limit."""
    store, key = open_store(store_url), f"kingdee|{uuid.uuid4().hex}"
    limiter = SharedConcurrency(key, 4, store=store)
    auth = KingdeeAuth.create(
        AuthMode.SIGN, acct_id="a", username="u", app_id="1_x", app_secret="s", password="p"
    )
    client = KingdeeClient("http://127.0.0.1:9/k3cloud/", auth, concurrency=limiter)
    try:
        limiter.slow_down()
        await client.aclose()
        assert await store.shared_limit(key, 4) == 2
    finally:
        await store.aclose()
