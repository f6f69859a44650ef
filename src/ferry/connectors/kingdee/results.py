"""Value objects the Kingdee client returns: per-bill outcomes of Push, Save and the life-cycle operations.

Also the reading of a reply's status into them (:func:`entity_results`, :func:`push_outcomes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ferry.connectors.errors import ConnectorError, OutcomeUnknown
from ferry.connectors.kingdee.envelope import EntityMessage, ResponseStatus, SuccessEntity
from ferry.connectors.kingdee.errors import error_for_status, msg_code_label

#: messages that say a source was already pushed: a target exists somewhere, so reconcile rather than give up
_ALREADY_PUSHED_HINTS = ("已全部下推", "关联数量已满", "关联金额已满", "已经下推", "不能重复下推")


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


def push_outcomes(
    sources: Sequence[str], status: ResponseStatus, convert: ResponseStatus | None
) -> list[PushOutcome]:
    """One outcome per source of a Push, by ``DIndex`` (by position where the server leaves it out)."""
    entities = list(status.success_entities)
    if len(sources) > 1 and len(entities) == len(sources) and all(e.index == 0 for e in entities):
        # servers that leave DIndex out (0 everywhere): fall back to position
        entities = [SuccessEntity(e.id, e.number, i) for i, e in enumerate(entities)]
    outcomes = []
    for index, source in enumerate(sources):
        errors = [e.message for e in status.errors if e.index == index]
        if convert is not None:
            errors += [e.message for e in convert.errors if e.index == index and e.message not in errors]
        notes = [m.message for m in status.success_messages if m.index == index]
        entity = next((e for e in entities if e.index == index), None)
        if entity is not None and entity.number and not errors:
            outcomes.append(
                PushOutcome(index, source, PushStatus.CREATED, entity.id, entity.number, tuple(notes))
            )
        elif entity is not None and entity.id and not entity.number:
            outcomes.append(
                PushOutcome(index, source, PushStatus.DRAFT, entity.id, None, tuple(errors + notes))
            )
        elif errors:
            message = "; ".join(errors)
            label = msg_code_label(status.msg_code)
            error: ConnectorError
            if any(hint in message for hint in _ALREADY_PUSHED_HINTS):
                error = OutcomeUnknown(
                    f"Kingdee Push {source}: already pushed, reconcile: {message}", code=label, api="Push"
                )
            else:
                kind = type(error_for_status(ResponseStatus(False, status.msg_code), "Push"))
                error = kind(f"Kingdee Push {source}: {message}", code=label, api="Push")
            outcomes.append(PushOutcome(index, source, PushStatus.FAILED, None, None, tuple(errors), error))
        else:
            error = OutcomeUnknown(
                f"Kingdee Push {source}: the reply says nothing about this bill",
                code=msg_code_label(status.msg_code),
                api="Push",
            )
            outcomes.append(PushOutcome(index, source, PushStatus.UNKNOWN, None, None, (), error))
    return outcomes


__all__ = [
    "EntityResult",
    "FoundDocument",
    "OperationResult",
    "PushOutcome",
    "PushResult",
    "PushStatus",
    "SaveResult",
    "entity_results",
    "push_outcomes",
]
