"""The connector contract: what the engine asks of a source and of a target.

A *source* pages through an API inside a time window and yields raw records; a *target* writes a
batch of rendered requests and says, per record, what happened. Both raise the typed errors of
:mod:`ferry.connectors.errors` for failures that concern the whole call; per-record failures come
back as :class:`WriteOutcome` values so one bad record never fails its batch.

Contract notes (the engine relies on them):
- ``Target.write`` returns exactly one outcome per item, in any order, matched by ``item.key``.
- ``Target.probe`` must be safe to call any number of times and must find a document written by an
  earlier ``write`` whose answer was lost; it is what turns "outcome unknown" into "written".
- A document's follow-up operations (Kingdee Submit, Audit) are part of the work: a ``TargetDoc``
  whose ``pending`` is not empty exists but is not finished; the engine keeps the record
  ``finishing`` and asks a :class:`FinishingTarget` to finish it under the scheme's retry policy. A
  document that exists is never written again, only finished.
- A source never filters by ledger state: ``idCheck`` is the ledger's job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ferry.connectors.errors import ConnectorError


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open interval [start, end) of source time; ``partition`` splits a scheme's watermarks
    (for example one per DingTalk process code)."""

    start: dt.datetime
    end: dt.datetime
    partition: str = ""


#: renders the scheme's request fields with the given system variables (page number, window bounds...)
RenderRequest = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RecordState:
    """What a source knows about a record's life at the source, beside its content.

    ``watching``: not final there yet (a RUNNING approval); the engine stores it and asks the source
    again at ``watch_next_at`` (through :meth:`RefetchingSource.fetch`) until ``watch_until``.
    ``skipped``: final but not to be written (a refused approval), with the reason.
    """

    status: Literal["pending", "watching", "skipped"] = "pending"
    reason: str | None = None
    watch_next_at: dt.datetime | None = None
    watch_until: dt.datetime | None = None


@dataclass(slots=True)
class Page:
    records: list[dict[str, Any]]
    #: opaque position of the *next* page, for logs and resumption; None on the last page
    next_cursor: str | None = None
    #: per-record states, parallel to ``records``; None means every record is ``pending``
    states: list[RecordState | None] | None = None
    #: how many records the whole window holds, when the API says (for progress); None when unknown
    total: int | None = None


@runtime_checkable
class Source(Protocol):
    """Pages through a source API."""

    def pages(self, window: Window, render: RenderRequest) -> AsyncIterator[Page]:
        """Yield every page of the window, in order, until the API says there is no more."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class RefetchingSource(Source, Protocol):
    """A source that can fetch given records again: for records it marked ``watching``, and for
    change events that name a record."""

    async def fetch(self, source_ids: Sequence[str], *, final_too: bool = False) -> Page:
        """The current content (and state) of these records; ids the source no longer knows are left out.

        A source may leave out records the ledger already holds as final, to save calls (an event for
        a record already written); ``final_too`` asks for them as well (a replay wants the source's
        fresh word on a record it skipped)."""
        ...

    @property
    def partitions(self) -> tuple[str, ...]:
        """Watermark partitions (e.g. one per DingTalk process code); ``("",)`` when there is one."""
        ...


@runtime_checkable
class Querier(Protocol):
    """Answers lookups (联查) made while records are checked: one query, its rows."""

    async def query(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rows matching ``params`` (connector-specific keys), at most a few; [] when none match."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class BatchQuerier(Querier, Protocol):
    """A querier that answers many lookups in one call (e.g. Kingdee ``FBillNo IN (...)``), so a batch
    of records costs one API call instead of one each."""

    async def query_many(self, params: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
        """The rows of each query, in order."""
        ...


@dataclass(frozen=True, slots=True)
class WriteItem:
    """One record's rendered request. ``key`` is the ledger's record id; ``number`` its business number."""

    key: int
    source_id: str
    number: str | None
    request: dict[str, Any]
    content: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetDoc:
    """A document found in or created by the target."""

    id: str | None
    number: str | None
    #: True when the target kept it only as a draft (Kingdee ``IsDraftWhenSaveFail``)
    draft: bool = False
    message: str | None = None
    response: Any = None
    #: follow-up operations still to succeed on it, in order (``("Audit",)``); empty when finished
    pending: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    key: int
    doc: TargetDoc | None = None
    error: ConnectorError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.doc is not None


@dataclass(frozen=True, slots=True)
class FinishItem:
    """A document the target already holds whose follow-ups are not all done (a ``finishing`` record).
    ``request`` is the request that created it (the target may read its form from there)."""

    key: int
    source_id: str
    number: str | None
    doc: TargetDoc
    request: dict[str, Any] | None = None


@runtime_checkable
class Target(Protocol):
    """Writes batches of rendered requests."""

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        """Write a batch; one outcome per item. Raise a typed error when the whole call failed."""
        ...

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        """Find the document an earlier write of ``item`` created, or None. Raise GiveUp if the
        target cannot be asked (then unknown outcomes stay in doubt for a person to settle)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Check:
    """One pre-flight check of a connection: what was checked, whether it passed, what was seen.

    A failed ``blocking`` check stops the pass before its first metered call; a failed non-blocking
    one is a warning (e.g. the app may not read form schemas, so a process code could not be checked).
    """

    connection: str
    what: str
    ok: bool
    detail: str = ""
    blocking: bool = True


@dataclass(frozen=True)
class ConnectionUse:
    """How one scheme uses one connection, for its connector's ``preflight``: the sides it serves and
    the lookups (``enrich`` queries, unrendered) it answers."""

    scheme_id: str
    source: Any = None  # ferry.scheme.SourceSpec
    target: Any = None  # ferry.scheme.TargetSpec
    lookups: tuple[Mapping[str, Any], ...] = ()


@runtime_checkable
class FinishingTarget(Target, Protocol):
    """A target whose documents have follow-up operations that can be run again on their own."""

    async def finish(self, items: Sequence[FinishItem]) -> Sequence[WriteOutcome]:
        """Run each document's pending follow-ups (batched per operation, like fresh writes); one
        outcome per item: a doc with an empty ``pending`` when done, else with what is still pending
        and why (``message``), or a typed error when the call failed as a whole. Safe to repeat:
        an operation already done counts as done."""
        ...


@runtime_checkable
class BatchProber(Target, Protocol):
    """A target that can look for many earlier writes in one call (Kingdee: one query with ``IN``)."""

    async def probe_many(self, items: Sequence[WriteItem]) -> Sequence[TargetDoc | ConnectorError | None]:
        """:meth:`Target.probe` for each item, in order; an item whose question could not be
        answered gets the error (the others still get their answer)."""
        ...


__all__ = [
    "BatchProber",
    "BatchQuerier",
    "Check",
    "ConnectionUse",
    "FinishItem",
    "FinishingTarget",
    "Page",
    "Querier",
    "RecordState",
    "RefetchingSource",
    "RenderRequest",
    "Source",
    "Target",
    "TargetDoc",
    "Window",
    "WriteItem",
    "WriteOutcome",
]
