"""DingTalk event intake, whatever the channel (HTTP push or Stream mode).

Events carry no form data (reference §6.1): an instance event only says *which* instance changed, and
Ferry then fetches that one instance. :class:`EventIntake` is the part both channels share:

- de-duplicates on ``eventId`` (DingTalk does deliver duplicates) in a bounded memory; the ledger's
  ``idCheck`` makes a duplicate that slips through (a restart) harmless anyway;
- keeps only ``bpms_instance_change`` events of the wanted types (``finish`` and ``terminate``: the
  moments an instance becomes final);
- hands ``(process_code, instance_id)`` to the handler in the background, so the channel can answer
  DingTalk at once (2.5 s for HTTP push, 3 s for Stream) while the fetch runs.

A handler that fails lets its ``eventId`` be forgotten, so a redelivery tries again; polling stays the
safety net for events that never come.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ferry.connectors.dingtalk.events")

INSTANCE_CHANGE = "bpms_instance_change"
#: instance event types after which the instance is final
FINAL_TYPES = ("finish", "terminate")

#: called with (process_code, instance_id); process_code is "" when the event did not name it
InstanceChangeHandler = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class InstanceChange:
    """The part of a ``bpms_instance_change`` event Ferry acts on."""

    event_id: str | None
    process_code: str
    instance_id: str
    type: str
    result: str | None = None


def event_type(event: Mapping[str, Any]) -> str:
    """The event's type, from either spelling (HTTP push ``EventType``, Stream ``eventType``)."""
    return str(event.get("EventType") or event.get("eventType") or "")


def event_id(event: Mapping[str, Any]) -> str | None:
    value = event.get("eventId") or event.get("EventId")
    return str(value) if value else None


def parse_instance_change(event: Mapping[str, Any]) -> InstanceChange | None:
    """The instance change an event describes, or None for any other event.

    Accepts the decrypted HTTP-push body (flat) and a Stream event (headers merged with the decoded
    ``data``); the legacy push spells the instance id ``processInstanceId`` too.
    """
    if event_type(event) != INSTANCE_CHANGE:
        return None
    instance_id = event.get("processInstanceId") or event.get("process_instance_id")
    if not instance_id:
        return None
    result = event.get("result")
    return InstanceChange(
        event_id=event_id(event),
        process_code=str(event.get("processCode") or ""),
        instance_id=str(instance_id),
        type=str(event.get("type") or ""),
        result=str(result) if result else None,
    )


class SeenEvents:
    """The last ``size`` event ids, oldest forgotten first."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; False when it was already there (a duplicate)."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True

    def forget(self, event_id: str) -> None:
        self._ids.pop(event_id, None)


class EventIntake:
    """De-duplicates events and starts the handler for the instance changes that matter."""

    def __init__(
        self,
        handler: InstanceChangeHandler,
        *,
        types: Collection[str] = FINAL_TYPES,
        remember: int = 10_000,
        background: bool = True,
    ) -> None:
        self.handler = handler
        self.types = frozenset(types)
        self.seen = SeenEvents(remember)
        self.background = background
        self._tasks: set[asyncio.Task[None]] = set()
        #: what happened to events, for logs and tests: accepted, duplicate, ignored, failed
        self.counts: dict[str, int] = {"accepted": 0, "duplicate": 0, "ignored": 0, "failed": 0}

    async def accept(self, event: Mapping[str, Any]) -> bool:
        """Take one decrypted event; True when it started the handler."""
        eid = event_id(event)
        if eid is not None and not self.seen.add(eid):
            self.counts["duplicate"] += 1
            return False
        change = parse_instance_change(event)
        if change is None or change.type not in self.types:
            self.counts["ignored"] += 1
            return False
        self.counts["accepted"] += 1
        if self.background:
            task = asyncio.create_task(self._run(change), name=f"dingtalk-event:{change.instance_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._run(change)
        return True

    async def _run(self, change: InstanceChange) -> None:
        try:
            await self.handler(change.process_code, change.instance_id)
        except Exception:
            self.counts["failed"] += 1
            if change.event_id is not None:
                # let a redelivery try again
                self.seen.forget(change.event_id)
            log.exception("DingTalk event for instance %s failed", change.instance_id)

    async def drain(self) -> None:
        """Wait for the handlers started so far (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


__all__ = [
    "FINAL_TYPES",
    "INSTANCE_CHANGE",
    "EventIntake",
    "InstanceChange",
    "InstanceChangeHandler",
    "SeenEvents",
    "event_id",
    "event_type",
    "parse_instance_change",
]
