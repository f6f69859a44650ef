"""A claimed batch on its way through dispatch: its leases kept from the claim on, what the checks made
of it in the claim, and, for the batch claimed ahead, its checked and rendered records."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ferry.connectors.base import WriteItem
from ferry.engine.lookups import why
from ferry.quality import Prepared
from ferry.store import Claimed, Outcome

log = logging.getLogger("ferry.dispatch")


class Renews(Protocol):
    async def renew(self, owner: str, leases: Sequence[Claimed], lease_seconds: float) -> list[int]: ...


class Keeper:
    """Renews a batch's leases every third of their length until :meth:`stop`, so a slow target never
    lets another worker take over a live batch (nor the batch claimed ahead while it waits)."""

    def __init__(self, store: Renews, owner: str, lease_seconds: float, claimed: Sequence[Claimed]) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.claimed = claimed
        self._task = asyncio.create_task(self._keep(), name="leases") if claimed else None

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                lost = await self.store.renew(self.owner, self.claimed, self.lease_seconds)
            except Exception as e:  # the next renewal may succeed; the lease still runs meanwhile
                log.warning("could not renew the leases of %d records: %s", len(self.claimed), why(e))
                continue
            if lost:
                log.warning("%d records of a batch in hand were taken over: %s", len(lost), lost)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@dataclass
class Ahead:
    """A claimed batch: ``prepared`` by the checks in its claim (its facts stored there); ``ready`` when
    it was checked and rendered while the batch before it was written; its ``findings`` are stored
    with its outcomes (one transaction, none of their own)."""

    claimed: list[Claimed]
    keeper: Keeper
    prepared: Prepared | None = None
    ready: list[tuple[Claimed, WriteItem | Outcome]] | None = None
    #: its quality findings, stored with its outcomes
    findings: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


__all__ = ["Ahead", "Keeper"]
