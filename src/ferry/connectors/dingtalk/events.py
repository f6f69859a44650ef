"""DingTalk event intake, whatever the channel (HTTP push or Stream mode).

Events carry no form data (reference §6.1): an instance event only says *which* instance changed, and
Ferry then fetches that one instance. :class:`EventIntake` is the part both channels share:

- de-duplicates on ``eventId`` (DingTalk does deliver duplicates), or, for an event without one, on a
  digest of the whole decrypted event, in a bounded memory: a replayed event costs no metered detail
  call. The ledger's ``idCheck`` makes a duplicate that slips through (a restart) harmless anyway;
- keeps only ``bpms_instance_change`` events of the wanted types (``finish`` and ``terminate``: the
  moments an instance becomes final);
- hands ``(process_code, instance_id)`` to the handler in the background, so the channel can answer
  DingTalk at once (2.5 s for HTTP push, 3 s for Stream) while the fetch runs;
- bounds that work: at most ``max_running`` handlers run at once and at most ``max_pending`` are
  started or waiting. When full, :meth:`EventIntake.accept` answers :attr:`Verdict.BUSY` without
  remembering the event, and the channel asks DingTalk to deliver it again later (HTTP 503, Stream
  ``LATER``) rather than accept it and lose it.

A handler that fails lets its event be forgotten, so a redelivery tries again; polling stays the
safety net for events that never come.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
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

#: handlers running at once, and started-or-waiting at most (the rest are asked to come back later)
DEFAULT_MAX_RUNNING = 4
DEFAULT_MAX_PENDING = 256


class Verdict(enum.Enum):
    """What :meth:`EventIntake.accept` did with an event; true only for ACCEPTED."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    #: too much work in flight: nothing was remembered, ask DingTalk to deliver it again later
    BUSY = "busy"

    def __bool__(self) -> bool:
        return self is Verdict.ACCEPTED


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
    value = event.get("EventType") or event.get("eventType") or ""
    return value[:64] if isinstance(value, str) else ""


def event_id(event: Mapping[str, Any]) -> str | None:
    value = event.get("eventId") or event.get("EventId")
    return str(value)[:256] if value and isinstance(value, str | int) else None


def dedup_key(event: Mapping[str, Any]) -> str:
    """The key a replay of ``event`` repeats: its ``eventId``, else a digest of the whole event."""
    eid = event_id(event)
    if eid is not None:
        return f"id:{eid}"
    try:
        canonical = json.dumps(event, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        canonical = repr(sorted(event.items(), key=lambda kv: str(kv[0])))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def parse_instance_change(event: Mapping[str, Any]) -> InstanceChange | None:
    """The instance change an event describes, or None for any other event.

    Accepts the decrypted HTTP-push body (flat) and a Stream event (headers merged with the decoded
    ``data``); the legacy push spells the instance id ``processInstanceId`` too.
    """
    if event_type(event) != INSTANCE_CHANGE:
        return None
    instance_id = event.get("processInstanceId") or event.get("process_instance_id")
    if not instance_id or not isinstance(instance_id, str | int) or isinstance(instance_id, bool):
        return None
    result = event.get("result")
    code = event.get("processCode")
    return InstanceChange(
        event_id=event_id(event),
        process_code=str(code)[:128] if isinstance(code, str | int) and code else "",
        instance_id=str(instance_id)[:128],
        type=str(event.get("type") or "")[:32],
        result=str(result)[:32] if result else None,
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
        max_running: int = DEFAULT_MAX_RUNNING,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if max_running < 1 or max_pending < max_running:
            raise ValueError("need 1 <= max_running <= max_pending")
        self.handler = handler
        self.types = frozenset(types)
        self.seen = SeenEvents(remember)
        self.background = background
        self.max_running = max_running
        self.max_pending = max_pending
        self._slots = asyncio.Semaphore(max_running)
        self._tasks: set[asyncio.Task[None]] = set()
        #: what happened to events, for logs and tests
        self.counts: dict[str, int] = {"accepted": 0, "duplicate": 0, "ignored": 0, "failed": 0, "busy": 0}

    @property
    def pending(self) -> int:
        """Handlers started or waiting for a slot."""
        return len(self._tasks)

    async def accept(self, event: Mapping[str, Any]) -> Verdict:
        """Take one decrypted event; ACCEPTED when it started (or queued) the handler."""
        change = parse_instance_change(event)
        wanted = change is not None and change.type in self.types
        if wanted and self.background and self.pending >= self.max_pending:
            # nothing remembered: the redelivery DingTalk is asked for is taken as new
            self.counts["busy"] += 1
            return Verdict.BUSY
        key = dedup_key(event)
        if not self.seen.add(key):
            self.counts["duplicate"] += 1
            return Verdict.DUPLICATE
        if change is None or not wanted:
            self.counts["ignored"] += 1
            return Verdict.IGNORED
        self.counts["accepted"] += 1
        if self.background:
            task = asyncio.create_task(self._run(change, key), name=f"dingtalk-event:{change.instance_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._run(change, key)
        return Verdict.ACCEPTED

    async def _run(self, change: InstanceChange, key: str) -> None:
        async with self._slots:
            try:
                await self.handler(change.process_code, change.instance_id)
            except Exception:
                self.counts["failed"] += 1
                # let a redelivery try again
                self.seen.forget(key)
                log.exception("DingTalk event for instance %s failed", change.instance_id)

    async def drain(self) -> None:
        """Wait for the handlers started so far (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


__all__ = [
    "DEFAULT_MAX_PENDING",
    "DEFAULT_MAX_RUNNING",
    "FINAL_TYPES",
    "INSTANCE_CHANGE",
    "EventIntake",
    "InstanceChange",
    "InstanceChangeHandler",
    "SeenEvents",
    "Verdict",
    "dedup_key",
    "event_id",
    "event_type",
    "parse_instance_change",
]
