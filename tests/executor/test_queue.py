"""The procrastinate executor's pieces on a real PostgreSQL: the in-transaction enqueue of dispatch,
periodic jobs deduplicated across processes, schedules as crons, and the SQLite refusal."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cluster import FLAGSHIP, ROOT, admin_url
from sqlalchemy.engine import make_url

from ferry.scheme import Schedule, Scheme, load_scheme
from ferry.store import Collected, Ledger
from pg_support import postgres_problem


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database (the queue's schema is per database), dropped afterwards."""
    problem = postgres_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL not reachable (FERRY_TEST_POSTGRES_URL): {problem}")
    name = f"ferry_q_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url(), poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def scheme() -> Scheme:
    return load_scheme(FLAGSHIP)


def _jobs(ledger: Ledger, task: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t"), {"t": task}
            ).scalar_one()
        )


def _page(n: int, prefix: str) -> list[Collected]:
    return [Collected(f"{prefix}{i}", None, {"i": i}) for i in range(n)]


async def _schema(url: str) -> None:
    from ferry.executor.queue import apply_schema, build_app

    app = build_app(url)
    async with app.open_async():
        # twice, as two workers starting together would: the second finds it applied
        await asyncio.gather(apply_schema(app, url), apply_schema(app, url))


@pytest.mark.postgres
def test_a_stored_page_and_its_dispatch_jobs_commit_together_or_not_at_all(
    pg_url: str, scheme: Scheme
) -> None:
    from ferry.executor.queue import DISPATCH, enqueue_dispatch_on_collect

    asyncio.run(_schema(pg_url))
    ledger = Ledger(pg_url)
    ledger.migrate()
    try:
        enqueue_dispatch_on_collect(pg_url, ledger, {scheme.id: scheme})
        counts = ledger.collect(scheme.id, _page(45, "a"))
        assert counts.new == 45
        # one job per batch of 20 (the scheme's batch_size)
        assert _jobs(ledger, DISPATCH) == 3
        # the same page again stores nothing new, so defers nothing
        ledger.collect(scheme.id, _page(45, "a"))
        assert _jobs(ledger, DISPATCH) == 3

        deferring = ledger.on_page_stored
        assert deferring is not None

        def defer_then_fail(scheme_id: str, page_counts: object, connection: object) -> None:
            deferring(scheme_id, page_counts, connection)  # type: ignore[arg-type]
            raise RuntimeError("the transaction fails after the jobs were deferred")

        ledger.on_page_stored = defer_then_fail
        with pytest.raises(RuntimeError):
            ledger.collect(scheme.id, _page(10, "b"))
        # neither the records nor their jobs exist: no dual write
        assert ledger.counts(scheme.id) == {"pending": 45}
        assert _jobs(ledger, DISPATCH) == 3
    finally:
        ledger.close()


@pytest.mark.postgres
def test_periodic_jobs_offered_by_many_processes_are_deferred_once(pg_url: str, scheme: Scheme) -> None:
    from procrastinate.periodic import PeriodicDeferrer

    from ferry.executor.queue import COLLECT, SWEEP, build_app, register_schedules

    asyncio.run(_schema(pg_url))

    async def offer(timestamp: int) -> None:
        app = build_app(pg_url)
        register_schedules(app, [scheme])
        async with app.open_async():
            deferrer = PeriodicDeferrer(registry=app.periodic_registry)
            await deferrer.defer_jobs(
                [(pt, timestamp) for pt in app.periodic_registry.periodic_tasks.values()]
            )

    at = int(dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC).timestamp())

    async def three_processes() -> None:
        await asyncio.gather(offer(at), offer(at), offer(at))

    asyncio.run(three_processes())
    ledger = Ledger(pg_url)
    try:
        assert _jobs(ledger, COLLECT) == 1
        assert _jobs(ledger, SWEEP) == 1
        # a tick while one still waits adds nothing (its queueing lock): no pile-up behind a slow worker
        asyncio.run(offer(at + 300))
        assert (_jobs(ledger, COLLECT), _jobs(ledger, SWEEP)) == (1, 1)
        # once it has run, the next tick is a new job, once more
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("UPDATE procrastinate_jobs SET status = 'succeeded'"))
        asyncio.run(offer(at + 600))
        assert (_jobs(ledger, COLLECT), _jobs(ledger, SWEEP)) == (2, 2)
    finally:
        ledger.close()


def test_intervals_become_crons_that_divide_the_minute_hour_or_day() -> None:
    from ferry.executor.queue import cron_for

    assert cron_for(Schedule(interval=5)) == ("* * * * * */5", 5.0)
    assert cron_for(Schedule(interval=7)) == ("* * * * * */6", 6.0)
    assert cron_for(Schedule(interval=300)) == ("*/5 * * * *", 300.0)
    assert cron_for(Schedule(interval=7200)) == ("0 */2 * * *", 7200.0)
    # a cron ticks every minute; the task reads it in the scheme's timezone
    assert cron_for(Schedule(cron="0 2 * * *")) == ("* * * * *", 60.0)


def test_a_cron_schedule_is_due_in_the_schemes_timezone() -> None:
    from ferry.executor.queue import _due

    two_am_shanghai = int(dt.datetime(2026, 12, 1, 18, 0, tzinfo=dt.UTC).timestamp())
    nightly = Schedule(cron="0 2 * * *")
    assert _due(nightly, "Asia/Shanghai", two_am_shanghai, 60)
    assert not _due(nightly, "Asia/Shanghai", two_am_shanghai + 60, 60)
    assert not _due(nightly, "UTC", two_am_shanghai, 60)
    assert _due(Schedule(interval=300), "UTC", two_am_shanghai + 7, 300)


@pytest.mark.parametrize("command", [["worker"], ["serve", "--workers", "external"]])
def test_the_queue_on_sqlite_is_refused_in_one_line(tmp_path: Path, command: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FERRY_DATABASE_URL": f"sqlite:///{tmp_path}/f.db"}
    env.pop("FERRY_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "ferry", *command, str(FLAGSHIP)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "needs a PostgreSQL ledger" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr
    assert not (tmp_path / "f.db").exists(), "nothing is created on the refused database"


@pytest.mark.postgres
def test_the_queue_executor_defers_one_waiting_collect_per_scheme_and_every_event(
    pg_url: str, scheme: Scheme
) -> None:
    from ferry.executor.queue import COLLECT, COLLECT_IDS, SWEEP, QueueExecutor, build_app

    asyncio.run(_schema(pg_url))

    async def defer() -> None:
        app = build_app(pg_url)
        async with app.open_async():
            executor = QueueExecutor(app)
            for _ in range(3):
                await executor.collect(scheme)
            await executor.collect_ids(scheme, ["proc-1", "proc-2"])
            await executor.dispatch(scheme)

    asyncio.run(defer())
    ledger = Ledger(pg_url)
    try:
        assert (_jobs(ledger, COLLECT), _jobs(ledger, COLLECT_IDS), _jobs(ledger, SWEEP)) == (1, 1, 1)
        with ledger.engine.connect() as conn:
            args = conn.execute(
                sa.text("SELECT args FROM procrastinate_jobs WHERE task_name = :t"), {"t": COLLECT_IDS}
            ).scalar_one()
        assert args == {"scheme": scheme.id, "source_ids": ["proc-1", "proc-2"]}
    finally:
        ledger.close()
