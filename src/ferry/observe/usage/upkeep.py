"""Keeping the usage: roll finished hours up and prune raw calls past their retention, periodically.

Two forms for whoever schedules work: :func:`upkeep` is one plain, idempotent step (a procrastinate
periodic task can run it; several processes may run it at once), and :func:`keep_usage` is a service
for a serve loop: ``await keep_usage(ledger, stop_event)`` runs the step every ``every_s`` seconds until
``stop_event`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferry.store import Ledger

log = logging.getLogger(__name__)

#: how often the serve loop rolls up: finished hours are rolled within this (plus the roll-up margin)
EVERY_S = 600.0


@dataclass(frozen=True)
class Upkept:
    rolled_rows: int
    pruned_calls: int


def upkeep(ledger: Ledger, *, now: dt.datetime | None = None) -> Upkept:
    """Roll up every finished hour, then prune raw calls older than the ledger's retention."""
    rolled = ledger.rollup_api_calls(now=now)
    pruned = ledger.prune_api_calls(now=now)
    return Upkept(rolled, pruned)


async def keep_usage(ledger: Ledger, stop: asyncio.Event, *, every_s: float = EVERY_S) -> None:
    """Run :func:`upkeep` now and every ``every_s`` seconds until ``stop`` is set; a failed step is
    logged and tried again next time (the ledger may be briefly unavailable)."""
    while not stop.is_set():
        try:
            done = await asyncio.to_thread(upkeep, ledger)
            if done.rolled_rows or done.pruned_calls:
                log.info(
                    "API usage: %d hourly rows rolled up, %d old calls pruned",
                    done.rolled_rows,
                    done.pruned_calls,
                )
        except Exception as e:
            log.warning("API usage upkeep failed (tried again in %.0f s): %s", every_s, e)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


class UsageUpkeep:
    """:func:`keep_usage` as a service ``ferry serve`` runs beside the work (``async run(stop)``)."""

    def __init__(self, ledger: Ledger, every_s: float = EVERY_S) -> None:
        self.ledger = ledger
        self.every_s = every_s

    async def run(self, stop: asyncio.Event) -> None:
        await keep_usage(self.ledger, stop, every_s=self.every_s)
