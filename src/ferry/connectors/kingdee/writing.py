"""The write calls of a batch: Push, or Save / BatchSave / Draft, and their answers read per item.

Each item comes back as the :class:`~ferry.connectors.kingdee.followup.TrackedDoc` it created (for the
follow-ups) or as its typed error. A call that failed as a whole fails each of its items, and is raised
when it was the whole batch (the engine then treats every item alike).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ferry.connectors.base import WriteItem
from ferry.connectors.errors import ConnectorError, GiveUp, OutcomeUnknown, Reauthenticate, RetryLater
from ferry.connectors.kingdee.client import KingdeeClient
from ferry.connectors.kingdee.envelope import ResponseStatus
from ferry.connectors.kingdee.errors import error_for_status
from ferry.connectors.kingdee.followup import TrackedDoc, entity_for
from ferry.connectors.kingdee.request import PushRequest, SaveRequest
from ferry.connectors.kingdee.results import OperationResult, PushOutcome, PushStatus

#: one item's answer: the document it created, or its error
Made = tuple[int, TrackedDoc | ConnectorError]


async def push_calls(
    client: KingdeeClient,
    pushes: Sequence[tuple[WriteItem, PushRequest]],
    batch_size: int,
    *,
    raise_alone: bool,
) -> list[Made]:
    """Push the items, those with equal parameters in one call (up to ``batch_size`` sources each)."""
    calls: list[list[tuple[WriteItem, PushRequest]]] = []
    open_calls: dict[tuple[Any, ...], list[list[tuple[WriteItem, PushRequest]]]] = {}
    for item, req in pushes:
        chunks = open_calls.setdefault(req.group_key(), [])
        # the same source twice in one call would be refused as "already pushed": give it its own call
        chunk = next(
            (c for c in chunks if len(c) < batch_size and all(r.source != req.source for _, r in c)),
            None,
        )
        if chunk is None:
            chunk = []
            chunks.append(chunk)
            calls.append(chunk)
        chunk.append((item, req))
    results = await asyncio.gather(*(_push_call(client, chunk) for chunk in calls))
    out: list[Made] = []
    for chunk, result in zip(calls, results, strict=True):
        if isinstance(result, ConnectorError):
            if len(calls) == 1 and raise_alone:
                raise result
            out.extend((item.key, result) for item, _ in chunk)
            continue
        for (item, req), outcome in zip(chunk, result, strict=True):
            if outcome.status is PushStatus.CREATED or outcome.status is PushStatus.DRAFT:
                out.append((item.key, _made_from_push(item.key, req, outcome)))
            else:
                out.append((item.key, _push_error(req, outcome)))
    return out


async def _push_call(
    client: KingdeeClient, chunk: list[tuple[WriteItem, PushRequest]]
) -> list[PushOutcome] | ConnectorError:
    first = chunk[0][1]
    sources = [req.source for _, req in chunk]
    try:
        result = await client.push(
            first.form_id,
            None if first.by_ids else sources,
            sources if first.by_ids else None,
            target_form_id=first.target_form_id,
            rule_id=first.rule_id,
            is_enable_default_rule=first.default_rule,
            is_draft_when_save_fail=first.draft_on_fail,
            custom_params=first.custom_params,
            target_bill_type_id=first.target_bill_type_id,
            target_org_id=first.target_org_id,
        )
    except ConnectorError as err:
        return err
    outcomes = list(result.outcomes)
    if len(outcomes) != len(chunk):
        # cannot happen with the client's DIndex mapping; if it does, nobody knows what was created
        missing = OutcomeUnknown("Kingdee Push: the reply does not match the request", api="Push")
        outcomes = [
            outcomes[i] if i < len(outcomes) else PushOutcome(i, s, PushStatus.UNKNOWN, error=missing)
            for i, s in enumerate(sources)
        ]
    return outcomes


async def save_calls(
    client: KingdeeClient,
    kind: str,
    saves: Sequence[tuple[WriteItem, SaveRequest]],
    batch_size: int,
    *,
    raise_alone: bool,
) -> list[Made]:
    """Save the items: one BatchSave per form and options (up to ``batch_size`` models), or one call each."""
    groups: dict[tuple[str, str], list[tuple[WriteItem, SaveRequest]]] = {}
    for item, req in saves:
        groups.setdefault(req.group_key(), []).append((item, req))
    calls: list[list[tuple[WriteItem, SaveRequest]]] = []
    for members in groups.values():
        if kind == "draft" or (kind == "save" and batch_size == 1):
            # Draft has no batch form in the WebAPI; Save with batch_size 1 stays a plain Save
            calls.extend([m] for m in members)
        else:
            calls.extend(members[i : i + batch_size] for i in range(0, len(members), batch_size))
    results = await asyncio.gather(*(_save_call(client, kind, chunk) for chunk in calls))
    out: list[Made] = []
    for chunk, result in zip(calls, results, strict=True):
        if isinstance(result, ConnectorError):
            if len(calls) == 1 and raise_alone:
                raise result
            out.extend((item.key, result) for item, _ in chunk)
            continue
        out.extend((item.key, res) for (item, _), res in zip(chunk, result, strict=True))
    return out


async def _save_call(
    client: KingdeeClient, kind: str, chunk: list[tuple[WriteItem, SaveRequest]]
) -> list[TrackedDoc | ConnectorError] | ConnectorError:
    first = chunk[0][1]
    op = {"draft": "Draft", "save": "Save", "batchsave": "BatchSave"}[kind]
    try:
        if kind == "batchsave" or len(chunk) > 1:
            batch = await client.batch_save(
                first.form_id, [req.model for _, req in chunk], options=first.options
            )
            return _batch_save_results(chunk, batch)
        item, req = chunk[0]
        saver = client.draft if kind == "draft" else client.save
        saved = await saver(req.form_id, req.model, options=req.options)
    except ConnectorError as err:
        if len(chunk) == 1 and not isinstance(err, (RetryLater, Reauthenticate, OutcomeUnknown)):
            # a one-bill Save's refusal is that bill's own answer (validation, duplicate number...)
            return [err]
        return err
    draft = kind == "draft"
    return [
        TrackedDoc(
            item.key,
            req.form_id,
            saved.id or None,
            saved.number or None,
            draft=draft,
            todo=[],
            base={"save": {"operation": op, "id": saved.id, "number": saved.number}},
            origin="drafted" if draft else "created",
            notices=["saved with Draft (暂存)"] if draft else [],
        )
    ]


def _made_from_push(key: int, req: PushRequest, outcome: PushOutcome) -> TrackedDoc:
    draft = outcome.status is PushStatus.DRAFT
    push: dict[str, Any] = {
        "status": outcome.status.value,
        "source": outcome.source,
        "id": outcome.target_id,
        "number": outcome.target_number,
    }
    if outcome.messages:
        push["messages"] = list(outcome.messages)
    return TrackedDoc(
        key,
        req.target_form_id or None,
        outcome.target_id or None,
        outcome.target_number or None,
        draft=draft,
        todo=[],
        base={"push": push},
        origin="drafted" if draft else "created",
        notices=["; ".join(outcome.messages) or "kept as a draft"] if draft else [],
    )


def _push_error(req: PushRequest, outcome: PushOutcome) -> ConnectorError:
    if outcome.error is not None:
        return outcome.error
    text = "; ".join(outcome.messages) or "nothing was created"
    if outcome.status is PushStatus.UNKNOWN:
        return OutcomeUnknown(f"Kingdee Push {req.source}: {text}", api="Push")
    return GiveUp(f"Kingdee Push {req.source}: {text}", api="Push")


def _batch_save_results(
    chunk: list[tuple[WriteItem, SaveRequest]], batch: OperationResult
) -> list[TrackedDoc | ConnectorError]:
    out: list[TrackedDoc | ConnectorError] = []
    for index, (item, req) in enumerate(chunk):
        entity = entity_for(batch, index, None)
        if entity is not None and entity.ok and (entity.id or entity.number):
            save = {"operation": "BatchSave", "index": index, "id": entity.id, "number": entity.number}
            out.append(
                TrackedDoc(
                    item.key, req.form_id, entity.id, entity.number, draft=False, todo=[], base={"save": save}
                )
            )
            continue
        errors = entity.errors if entity is not None and entity.errors else batch.status.errors
        if not errors and batch.status.is_success:
            # success without an entity for this model: it may or may not exist
            out.append(
                OutcomeUnknown(
                    f"Kingdee BatchSave: the reply says nothing about model {index}", api="BatchSave"
                )
            )
            continue
        status = ResponseStatus(False, batch.status.msg_code, batch.status.error_code, errors)
        out.append(error_for_status(status, "BatchSave"))
    return out


__all__ = ["Made", "push_calls", "save_calls"]
