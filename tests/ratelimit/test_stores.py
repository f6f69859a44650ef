"""Every store keeps the same promises: second slots, one step-down per throttle burst, expiring leases."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from ferry.ratelimit.store import (
    RateLimitConfigError,
    RateLimitStoreError,
    open_store,
    redact,
)


def fresh_key() -> str:
    return f"test|{uuid.uuid4().hex}"


async def test_a_second_grants_at_most_its_limit_in_numbered_slots(store_url: str) -> None:
    store, key = open_store(store_url), fresh_key()
    try:
        got = [await store.claim(key, 100, 20, 6) for _ in range(5)]
        assert [(c.granted, c.first) for c in got] == [(6, 0), (6, 6), (6, 12), (2, 18), (0, 20)]
        other = await store.claim(key, 101, 20, 3)
        assert (other.granted, other.first) == (3, 0)
        # a lower limit (a step-down) stops a second that is already past it
        assert (await store.claim(key, 101, 3, 1)).granted == 0
    finally:
        await store.aclose()


async def test_concurrent_claims_never_oversell_a_second(store_url: str) -> None:
    store, key = open_store(store_url), fresh_key()
    try:
        got = await asyncio.gather(*(store.claim(key, 7, 20, 3) for _ in range(12)))
        assert sum(c.granted for c in got) == 20
        firsts = sorted(i for c in got for i in range(c.first, c.first + c.granted))
        assert firsts == list(range(20))
    finally:
        await store.aclose()


async def test_a_burst_of_throttles_cuts_the_rate_once_and_claims_see_it(store_url: str) -> None:
    store, key = open_store(store_url), fresh_key()
    now = time.time()
    try:
        first = await store.slow_down(key, now, now + 1.0, 16.0)
        assert first.penalty_until == pytest.approx(now + 1.0) and first.low_rate == 16.0
        # another worker's throttle inside the pause extends it but does not cut again
        second = await store.slow_down(key, now + 0.2, now + 1.2, 12.8)
        assert second.penalty_until == pytest.approx(now + 1.2) and second.low_rate == 16.0
        seen = (await store.claim(key, int(now) + 5, 20, 1)).state
        assert seen.penalty_until == pytest.approx(now + 1.2) and seen.low_rate == 16.0
        later = await store.slow_down(key, now + 5, now + 6, 12.8)
        assert later.low_rate == 12.8 and later.low_since == pytest.approx(now + 6)
    finally:
        await store.aclose()


async def test_leases_fill_expire_and_belong_to_their_holder(store_url: str) -> None:
    store, key = open_store(store_url), fresh_key()
    try:
        assert await store.lease(key, "a", 2, 0.6) == 0
        assert await store.lease(key, "b", 2, 30) == 1
        assert await store.lease(key, "c", 2, 30) is None
        assert not await store.renew(key, "c", 0, 30)
        await asyncio.sleep(0.8)
        # a's lease ran out: its slot is free for c, and a can no longer renew it
        assert await store.lease(key, "c", 2, 30) == 0
        assert not await store.renew(key, "a", 0, 30)
        await store.release(key, "a", 0)  # not a's any more: no effect
        assert await store.lease(key, "d", 2, 30) is None
        await store.release(key, "b", 1)
        assert await store.lease(key, "d", 2, 30) == 1
        assert await store.shared_limit(key, 4) == 4
        assert await store.shared_limit(key, 4, 2) == 2
        assert await store.shared_limit(key, 4) == 2
    finally:
        await store.aclose()


def test_an_unknown_store_is_a_config_error_without_the_password() -> None:
    with pytest.raises(RateLimitConfigError) as caught:
        open_store("mysql://ferry:hunter2@db/ferry")
    text = "\n".join(caught.value.lines())
    assert "FERRY_RATE_LIMITS" in text and "hunter2" not in text and "redis://" in text
    assert len(caught.value.lines()) <= 2


@pytest.mark.parametrize(
    "url", ["redis://:hunter2@127.0.0.1:1/0", "postgresql://ferry:hunter2@127.0.0.1:1/ferry"]
)
async def test_an_unreachable_store_fails_the_first_claim_clearly(url: str) -> None:
    store = open_store(url)
    with pytest.raises(RateLimitStoreError) as caught:
        await store.claim("k", 1, 20, 1)
    text = "\n".join(caught.value.lines())
    assert "not usable" in text and "hunter2" not in text and "127.0.0.1:1" in text
    assert len(caught.value.lines()) == 2


def test_redact_hides_only_the_password() -> None:
    assert redact("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
