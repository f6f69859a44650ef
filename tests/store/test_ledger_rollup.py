"""The hourly roll-up of api_calls agrees with the raw rows, lasts past pruning, and counts nothing twice."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from ferry.observe.calls import ApiCall
from ferry.store import LATENCY_BUCKETS_MS, Ledger
from ferry.store.rollup import floor_hour

NOW = dt.datetime(2026, 12, 10, 12, 30, tzinfo=dt.UTC)
STATUSES = ["ok"] * 8 + ["slow_down", "retry", "reauthenticate"]


def plant(ledger: Ledger, n: int = 600, seed: int = 1) -> list[ApiCall]:
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        status = rng.choice(STATUSES)
        calls.append(
            ApiCall(
                connection=rng.choice(["dingtalk_main", "kingdee_main"]),
                api=rng.choice(["processinstance/get", "Save", "listids"]),
                status=status,
                latency_ms=rng.choice([3.0, 5.0, 7.5, 49.0, 120.0, 999.0, 12000.0]),
                error_code=None if status == "ok" else rng.choice(["90018", "MsgCode=1", None]),
                metered=rng.random() < 0.7,
                at=NOW - dt.timedelta(minutes=rng.randrange(0, 60 * 50)),
            )
        )
    for call in calls:
        ledger.record(call)
    ledger.flush()
    return calls


def expected(
    calls: list[ApiCall],
) -> dict[tuple[str, str, dt.datetime], tuple[int, int, int, int, Counter[str]]]:
    out: dict[tuple[str, str, dt.datetime], list[object]] = {}
    for c in calls:
        key = (c.connection, c.api, floor_hour(c.at))
        slot = out.setdefault(key, [0, 0, 0, 0, Counter()])
        slot[0] += 1  # type: ignore[operator]
        slot[1] += int(c.metered)  # type: ignore[operator]
        slot[2] += int(c.status != "ok")  # type: ignore[operator]
        slot[3] += int(c.status == "slow_down")  # type: ignore[operator]
        if c.status != "ok":
            slot[4][c.error_code or c.status] += 1  # type: ignore[index]
    return {k: tuple(v) for k, v in out.items()}  # type: ignore[misc]


def seen(ledger: Ledger) -> dict[tuple[str, str, dt.datetime], tuple[int, int, int, int, Counter[str]]]:
    return {
        (u.connection, u.api, u.hour): (u.calls, u.metered, u.errors, u.throttles, Counter(u.errors_by_code))
        for u in ledger.usage_by_hour()
    }


def test_rollup_agrees_with_the_raw_rows_and_reports_do_not_change(ledger: Ledger) -> None:
    calls = plant(ledger)
    before = seen(ledger)
    assert before == expected(calls)

    written = ledger.rollup_api_calls(now=NOW)
    assert written > 0
    # hours that ended 10 minutes before NOW are rolled; the current hour stays raw
    assert ledger.rolled_until() == floor_hour(NOW)
    assert seen(ledger) == before
    # latency buckets agree with the raw latencies
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for u in ledger.usage_by_hour():
        buckets = [a + b for a, b in zip(buckets, u.latency_buckets, strict=True)]
    assert sum(buckets) == len(calls)
    assert buckets[0] == sum(1 for c in calls if c.latency_ms <= 5)  # 3 ms and 5 ms (le is inclusive)
    assert buckets[-1] == sum(1 for c in calls if c.latency_ms > 10000)

    # a second roll-up (another process, the next tick) writes nothing and counts nothing twice
    assert ledger.rollup_api_calls(now=NOW) == 0
    assert seen(ledger) == before
    totals = {(c, a): (n, m) for c, a, n, m in ledger.call_totals()}
    assert sum(n for n, _ in totals.values()) == len(calls)
    assert sum(m for _, m in totals.values()) == sum(c.metered for c in calls)


def test_pruning_keeps_the_usage_and_never_deletes_unrolled_hours(ledger: Ledger) -> None:
    calls = plant(ledger, n=300, seed=2)
    before = seen(ledger)
    # pruning "everything" deletes only rows of rolled hours, after rolling them up
    deleted = ledger.prune_api_calls(older_than=NOW + dt.timedelta(days=365), now=NOW)
    boundary = ledger.rolled_until()
    assert boundary is not None
    assert deleted == sum(1 for c in calls if c.at < boundary)
    assert seen(ledger) == before
    assert sum(n for _, _, n, _ in ledger.call_totals()) == len(calls)


def test_since_and_connection_filters(ledger: Ledger) -> None:
    calls = plant(ledger, n=200, seed=3)
    ledger.rollup_api_calls(now=NOW)
    since = NOW - dt.timedelta(hours=5)
    got = ledger.usage_by_hour(since=since, connection="kingdee_main")
    want = [c for c in calls if c.connection == "kingdee_main" and floor_hour(c.at) >= floor_hour(since)]
    assert sum(u.calls for u in got) == len(want)
    assert {u.connection for u in got} == {"kingdee_main"}


def test_processes_rolling_up_at_once_count_each_call_once(db_url: str) -> None:
    import threading

    first = Ledger(db_url)
    first.migrate()
    calls = plant(first, n=400, seed=4)
    ledgers = [first] + [Ledger(db_url) for _ in range(3)]
    barrier = threading.Barrier(len(ledgers))
    errors: list[BaseException] = []

    def roll(led: Ledger) -> None:
        try:
            barrier.wait()
            led.rollup_api_calls(now=NOW)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=roll, args=(led,)) for led in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen(first) == expected(calls)
    assert sum(n for _, _, n, _ in first.call_totals()) == len(calls)
    for led in ledgers:
        led.close()
