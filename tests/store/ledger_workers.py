"""Dispatch workers for the concurrency tests; a module of its own so spawned processes can import it."""

from __future__ import annotations

import threading
import time

from ferry.store import Ledger


def drain(ledger: Ledger, scheme: str, owner: str, batch: int) -> list[int]:
    """Claim and finish until nothing is due; returns every id this owner was handed."""
    handed: list[int] = []
    while True:
        claimed = ledger.claim(scheme, owner=owner, limit=batch, lease_seconds=300)
        if not claimed:
            return handed
        handed.extend(c.id for c in claimed)
        # a real worker calls the target between claim and finish; without that pause one thread can
        # take SQLite's write lock back at once, every time, and drain the table alone
        time.sleep(0.001)
        lost = ledger.finish(owner, [c.outcome("written", target_id=owner) for c in claimed])
        if lost:
            raise AssertionError(f"{owner} lost leases it held: {lost}")


def drain_in_threads(
    url: str,
    scheme: str,
    owner: str,
    threads: int,
    batch: int,
    ready_dir: str | None = None,
    parties: int = 1,
) -> dict[str, list[int]]:
    """One process: ``threads`` workers sharing one Ledger, as the engine does. With ``ready_dir``, it
    waits until ``parties`` processes are ready before claiming, so a loaded machine that starts one
    process late cannot let the other drain everything alone."""
    ledger = Ledger(url)
    if ready_dir is not None:
        _wait_for_parties(ready_dir, owner, parties)
    handed: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    # every thread starts claiming together: one started first could drain a small table alone
    together = threading.Barrier(threads)

    def run(name: str) -> None:
        try:
            together.wait(timeout=60)
            handed[name] = drain(ledger, scheme, name, batch)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(f"{owner}-t{i}",)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ledger.close()
    if errors:
        raise errors[0]
    return handed


def _wait_for_parties(ready_dir: str, owner: str, parties: int, timeout: float = 120.0) -> None:
    import time
    from pathlib import Path

    folder = Path(ready_dir)
    (folder / owner).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(list(folder.iterdir()))} of {parties} processes started")
        time.sleep(0.01)


def hold_and_renew(url: str, scheme: str, owner: str, lease_seconds: float, hold_seconds: float) -> list[int]:
    """Claim everything due, keep it alive with ``renew`` for ``hold_seconds``, then finish it;
    returns the ids whose lease was lost on the way (none, if renewing works)."""
    import time

    ledger = Ledger(url)
    try:
        batch = ledger.claim(scheme, owner=owner, limit=1000, lease_seconds=lease_seconds)
        deadline = time.monotonic() + hold_seconds
        lost: list[int] = []
        while time.monotonic() < deadline:
            time.sleep(lease_seconds / 4)
            lost += ledger.renew(owner, batch, lease_seconds)
        lost += ledger.finish(owner, [c.outcome("written", target_id=owner) for c in batch])
        return sorted(set(lost))
    finally:
        ledger.close()


def claim_for(url: str, scheme: str, owner: str, seconds: float) -> list[int]:
    """Try to claim every 50 ms for ``seconds``; returns every id this owner was handed."""
    import time

    ledger = Ledger(url)
    try:
        handed: list[int] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            handed += [c.id for c in ledger.claim(scheme, owner=owner, limit=1000, lease_seconds=60)]
            time.sleep(0.05)
        return handed
    finally:
        ledger.close()


def claim_then_stall(
    url: str, scheme: str, owner: str, lease_seconds: float, stall_seconds: float
) -> list[int]:
    """Claim everything due, stall past the lease without renewing (a paused or partitioned worker),
    then try to finish; returns the ids NOT applied."""
    import time

    ledger = Ledger(url)
    try:
        batch = ledger.claim(scheme, owner=owner, limit=1000, lease_seconds=lease_seconds)
        time.sleep(stall_seconds)
        return ledger.finish(owner, [c.outcome("written", target_id=owner) for c in batch])
    finally:
        ledger.close()
