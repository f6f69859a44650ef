"""Value objects the Kingdee client returns: per-bill outcomes of Push, Save and the life-cycle operations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ferry.connectors.errors import ConnectorError
from ferry.connectors.kingdee.envelope import EntityMessage, ResponseStatus


class PushStatus(StrEnum):
    """What happened to one source bill in a Push."""

    #: the target bill was created and saved (status A) with a number
    CREATED = "created"
    #: saving the target failed and ``IsDraftWhenSaveFail`` kept it as a draft (status Z, no number)
    DRAFT = "draft"
    #: nothing was created for this source (not audited, unknown, fully pushed, save failed without draft)
    FAILED = "failed"
    #: the reply did not mention this source at all: it may or may not have been created — probe before retrying
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """One source bill's outcome in a Push, matched by ``DIndex``."""

    index: int
    #: the source's number or id as sent
    source: str
    status: PushStatus
    target_id: str | None = None
    target_number: str | None = None
    messages: tuple[str, ...] = ()
    #: for FAILED/UNKNOWN: what the engine should do (GiveUp, RetryLater, OutcomeUnknown...)
    error: ConnectorError | None = None

    @property
    def ok(self) -> bool:
        """True only for a created target."""
        return self.status is PushStatus.CREATED


@dataclass(frozen=True, slots=True)
class PushResult:
    """The outcome of a Push call: one :class:`PushOutcome` per source, in request order."""

    outcomes: tuple[PushOutcome, ...]
    status: ResponseStatus
    convert_status: ResponseStatus | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def all_created(self) -> bool:
        """Every source yielded a saved target."""
        return all(o.ok for o in self.outcomes)

    def created(self) -> list[PushOutcome]:
        """Outcomes with a saved target."""
        return [o for o in self.outcomes if o.status is PushStatus.CREATED]

    def drafts(self) -> list[PushOutcome]:
        """Outcomes kept as drafts."""
        return [o for o in self.outcomes if o.status is PushStatus.DRAFT]

    def failures(self) -> list[PushOutcome]:
        """Outcomes where nothing was created (or the reply said nothing)."""
        return [o for o in self.outcomes if o.status in (PushStatus.FAILED, PushStatus.UNKNOWN)]

    def for_source(self, source: str) -> PushOutcome | None:
        """The outcome for one source number or id."""
        return next((o for o in self.outcomes if o.source == source), None)


@dataclass(frozen=True, slots=True)
class EntityResult:
    """One input's outcome in Save/BatchSave/Submit/Audit/...: success with id and number, or errors."""

    index: int
    ok: bool
    id: str | None = None
    number: str | None = None
    errors: tuple[EntityMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class OperationResult:
    """The reply of an operation on one or several bills, per ``DIndex``."""

    status: ResponseStatus
    entities: tuple[EntityResult, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_success(self) -> bool:
        """Every input succeeded."""
        return self.status.is_success

    def failed(self) -> list[EntityResult]:
        """Inputs that failed."""
        return [e for e in self.entities if not e.ok]


@dataclass(frozen=True, slots=True)
class SaveResult:
    """A saved (or drafted) bill."""

    id: str
    number: str
    need_return_data: tuple[Mapping[str, Any], ...] = ()
    status: ResponseStatus | None = None


@dataclass(frozen=True, slots=True)
class FoundDocument:
    """A target document found by the existence probe."""

    id: str
    number: str
    status: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_draft(self) -> bool:
        """Kept as a draft (暂存): exists, but has no number and was never saved through validation."""
        return self.status == "Z"


def entity_results(status: ResponseStatus, count: int | None = None) -> tuple[EntityResult, ...]:
    """Per-``DIndex`` results from a status: errors win over a success for the same index."""
    by_index: dict[int, EntityResult] = {}
    for entity in status.success_entities:
        by_index[entity.index] = EntityResult(entity.index, True, entity.id or None, entity.number or None)
    errors: dict[int, list[EntityMessage]] = {}
    for error in status.errors:
        errors.setdefault(error.index, []).append(error)
    for index, errs in errors.items():
        prior = by_index.get(index)
        by_index[index] = EntityResult(
            index, False, prior.id if prior else None, prior.number if prior else None, tuple(errs)
        )
    if count is not None:
        for index in range(count):
            by_index.setdefault(index, EntityResult(index, status.is_success))
    return tuple(by_index[i] for i in sorted(by_index))


__all__ = [
    "EntityResult",
    "FoundDocument",
    "OperationResult",
    "PushOutcome",
    "PushResult",
    "PushStatus",
    "SaveResult",
    "entity_results",
]
