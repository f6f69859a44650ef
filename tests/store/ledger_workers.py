"""Dispatch workers for the concurrency tests; a module of its own so spawned processes can import it."""

from __future__ import annotations

import threading

from ferry.store import Ledger, Outcome


def drain(ledger: Ledger, scheme: str, owner: str, batch: int) -> list[int]:
    """Claim and finish until nothing is due; returns every id this owner was handed."""
    handed: list[int] = []
    while True:
        claimed = ledger.claim(scheme, owner=owner, limit=batch, lease_seconds=300)
        if not claimed:
            return handed
        handed.extend(c.id for c in claimed)
        lost = ledger.finish(owner, [Outcome(c.id, "written", target_id=owner) for c in claimed])
        if lost:
            raise AssertionError(f"{owner} lost leases it held: {lost}")


def drain_in_threads(url: str, scheme: str, owner: str, threads: int, batch: int) -> dict[str, list[int]]:
    """One process: ``threads`` workers sharing one Ledger, as the engine does."""
    ledger = Ledger(url)
    handed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
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
