"""Three ``ferry worker`` processes and ``ferry serve --workers external`` on one PostgreSQL ledger,
against ``ferry sandbox both`` with faults on both sides, workers SIGKILLed at random again and again.

Ground truth is the sandboxes' state: each approved request has exactly one payment bill, submitted
and audited (Kingdee status C; the plan's one "draft" request stays a draft by design); nothing is left
unsettled in the ledger; no batch of a live worker was taken over (the ledger's takeover events name
the previous owner's pid); DingTalk's metered calls stay within 1.2x of one worker's, unkilled, run.

Size: ``WORKERS_INSTANCES`` (default 200) and ``WORKERS_KILLS`` (default 10).
"""

from __future__ import annotations

import os
import random
import time

import pytest
from cluster import Cluster, Outcome

from pg_support import postgres_problem

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(400)]

INSTANCES = int(os.environ.get("WORKERS_INSTANCES", "200"))
KILLS = int(os.environ.get("WORKERS_KILLS", "10"))
DINGTALK_FAULTS = "throttle=0.03,busy=0.03,drop=0.03,token_expire=0.02"
KINGDEE_FAULTS = (
    "session_loss=0.03,conflict=0.03,limit=0.03,error5xx=0.03,response_error=0.03,drop_after_commit=0.1"
)


@pytest.fixture(autouse=True)
def _postgres() -> None:
    problem = postgres_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL not reachable (FERRY_TEST_POSTGRES_URL): {problem}")


def _cluster() -> Cluster:
    return Cluster(
        instances=INSTANCES,
        seed=11,
        dingtalk_faults=DINGTALK_FAULTS,
        kingdee_faults=KINGDEE_FAULTS,
        latency="2-10",
        # a batch takes long enough that some kills land in the middle of one
        kingdee_latency="40-120",
    )


def _single_worker_run() -> Outcome:
    cluster = _cluster()
    try:
        cluster.start()
        cluster.start_worker()
        assert cluster.wait_settled(150), "one worker did not settle:\n" + cluster.logs()
        assert cluster.stop_workers() == [0, 0], "a graceful stop failed:\n" + cluster.logs()
        return cluster.outcome()
    finally:
        cluster.close()


def test_workers_killed_at_random_write_each_bill_once_and_finish_it() -> None:
    baseline = _single_worker_run()
    print("\none worker, no kills:\n" + baseline.table())
    assert baseline.ok, baseline.table()

    rng = random.Random(5)
    cluster = _cluster()
    try:
        cluster.start()
        for _ in range(3):
            cluster.start_worker()
        # the kills start once records land, and land while collect and dispatch are at work
        deadline = time.monotonic() + 60
        while not cluster.counts() and time.monotonic() < deadline:
            time.sleep(0.1)
        graceful: tuple[int | None, int] | None = None
        while len(cluster.killed) < KILLS:
            time.sleep(rng.uniform(0.5, 2.5))
            # every other kill goes to a worker holding a batch, if one does: a batch cut short
            holding = cluster.wait_holding(2.0) if len(cluster.killed) % 2 or graceful is None else []
            if holding and graceful is None:
                # once, SIGTERM instead: the batch in hand is finished or given back, none left writing
                graceful = cluster.terminate(rng.choice(holding))
            else:
                cluster.kill(rng.choice(holding or sorted(cluster.workers)))
            cluster.start_worker()
        settled = cluster.wait_settled(150)
        codes = cluster.stop_workers()
        result = cluster.outcome()
        print("\nthree workers, SIGKILLed at random:\n" + result.table())
        assert settled, result.table() + "\n" + cluster.logs()
    finally:
        cluster.close()

    assert result.kills >= KILLS
    assert graceful == (0, 0), (
        "a worker stopped by SIGTERM while holding a batch exits 0 and leaves none writing"
    )
    assert result.missing == [] and result.duplicates == [] and result.unexpected == []
    assert result.not_audited == [], "payment bills left unsubmitted or unaudited"
    assert result.unsettled == []
    assert result.live_takeovers == [], "a live worker's batch was taken over"
    # ... while the batches of killed workers were (the count is real, not always zero)
    assert result.takeovers > 0
    # SIGTERM is a graceful stop: every worker and serve exit 0
    assert codes == [0] * len(codes)
    # the run met trouble on both sides
    assert any(k.startswith("dingtalk") for k in result.faults), result.faults
    assert any(k.startswith("kingdee") for k in result.faults), result.faults
    ratio = result.metered / baseline.metered
    print(
        f"DingTalk metered calls: three workers {result.metered}, one worker {baseline.metered} ({ratio:.2f}x)"
    )
    assert ratio <= 1.2
