"""The Kingdee target adapter: a scheme's target side mapped onto :class:`KingdeeClient`.

The client knows the protocol; this module knows the engine's contract (:mod:`ferry.connectors.base`):
one :class:`WriteOutcome` per item, typed errors, a probe that finds what a lost write created, and
``finish`` for follow-ups that did not succeed within the write.

Two kinds of target:

- **Push** (下推): each item's request is one source bill's Push request. Items that share their parameters go
  to Kingdee as one Push with all their numbers; each item's outcome is its number's ``PushOutcome``.
- **Save / BatchSave / Draft**: each item's request is a model (or ``{"Model": ..., options}``); several items
  with the same options become one BatchSave, answered per ``DIndex``.

Follow-up operations (Submit, Audit, ...) then run on what was created (:mod:`.followup`). Contract notes:

- Once a document exists its item is never a failure: writing it again would duplicate it. Follow-ups that
  did not succeed are the document's ``pending``, with the reason in its ``message``.
- ``finish`` runs pending follow-ups again, batched like fresh ones; ``probe_many`` asks for a batch of
  in-doubt records with one query per form and finishes what it finds the same way (:mod:`.probing`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from ferry.connectors.base import FinishItem, TargetDoc, WriteItem, WriteOutcome
from ferry.connectors.errors import AccessDenied, ConnectorError, GiveUp
from ferry.connectors.kingdee.client import KingdeeClient
from ferry.connectors.kingdee.followup import REPEAT_SAFE, FollowUps, FollowUpStep, TrackedDoc
from ferry.connectors.kingdee.probing import (
    DEFAULT_PUSH_PROBE_FORM,
    DEFAULT_SOURCE_NUMBER_FIELD,
    ProbeQuery,
    find_many,
    probe_query,
    tracked_from_found,
)
from ferry.connectors.kingdee.request import PushRequest, SaveRequest, push_request, save_request, text
from ferry.connectors.kingdee.spec import ProbeSettings
from ferry.connectors.kingdee.writing import push_calls, save_calls

TargetKind = Literal["push", "save", "batchsave", "draft"]

#: the scheme's ``api`` (case-insensitive) → the kind of target
TARGET_APIS: dict[str, TargetKind] = {
    "push": "push",
    "save": "save",
    "batchsave": "batchsave",
    "draft": "draft",
}


class KingdeeTarget:
    """The engine's target for Kingdee: Push or Save, then follow-ups; also a
    :class:`~ferry.connectors.base.FinishingTarget` and a :class:`~ferry.connectors.base.BatchProber`.

    Build it with :func:`ferry.connectors.kingdee.factory.build_target` from a scheme; the constructor takes
    plain values so tests and other callers can build one directly.
    """

    def __init__(
        self,
        client: KingdeeClient,
        *,
        api: str,
        batch_size: int = 1,
        follow_ups: Sequence[FollowUpStep] = (),
        probe: ProbeSettings | None = None,
        form_id: str | None = None,
        follow_up_attempts: int = 3,
        follow_up_retry_delay: float = 0.5,
    ) -> None:
        kind = TARGET_APIS.get(api.strip().casefold())
        if kind is None:
            raise ValueError(f"Kingdee target api must be one of Push, Save, BatchSave, Draft; got {api!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if follow_up_attempts < 1:
            raise ValueError("follow_up_attempts must be at least 1")
        self.client = client
        self.kind: TargetKind = kind
        self.batch_size = batch_size
        self.follow_ups = tuple(follow_ups)
        self.probe_settings = probe or ProbeSettings()
        #: the Save form when the request does not name one (``target.params.form_id``)
        self.form_id = form_id
        self.follow_up_attempts = follow_up_attempts
        self.follow_up_retry_delay = follow_up_retry_delay
        self._steps = FollowUps(
            client,
            self.follow_ups,
            batch_size=batch_size,
            attempts=follow_up_attempts,
            retry_delay=follow_up_retry_delay,
        )

    def __repr__(self) -> str:
        steps = ",".join(s.operation for s in self.follow_ups) or "-"
        return f"KingdeeTarget({self.kind}, batch_size={self.batch_size}, follow_up={steps}, client={self.client!r})"

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()

    # ---- write --------------------------------------------------------------------------------------
    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        """Write a batch; one outcome per item. Raises a typed error only when the batch was one failed call.

        Each created document gets its follow-ups (with ``follow_up_attempts`` quick tries for transient
        answers); those that did not succeed are its ``pending``, for :meth:`finish`.
        """
        outcomes: dict[int, WriteOutcome] = {}
        made: list[TrackedDoc] = []
        if self.kind == "push":
            pushes: list[tuple[WriteItem, PushRequest]] = []
            for item in items:
                try:
                    pushes.append((item, push_request(item.request)))
                except GiveUp as err:
                    outcomes[item.key] = WriteOutcome(item.key, error=err)
            results = await push_calls(self.client, pushes, self.batch_size, raise_alone=not outcomes)
        else:
            saves: list[tuple[WriteItem, SaveRequest]] = []
            for item in items:
                try:
                    saves.append((item, save_request(item.request, self.form_id)))
                except GiveUp as err:
                    outcomes[item.key] = WriteOutcome(item.key, error=err)
            results = await save_calls(
                self.client, self.kind, saves, self.batch_size, raise_alone=not outcomes
            )
        for key, result in results:
            if isinstance(result, TrackedDoc):
                if not result.form_id and self.probe_settings.form_id:
                    result.form_id = self.probe_settings.form_id
                result.todo = self._steps.names
                made.append(result)
            else:
                outcomes[key] = WriteOutcome(key, error=result)
        if made:
            await self._steps.run(made)
            for m in made:
                outcomes[m.key] = WriteOutcome(m.key, doc=self._steps.document(m))
        return [outcomes[item.key] for item in items if item.key in outcomes]

    # ---- finish -------------------------------------------------------------------------------------
    async def finish(self, items: Sequence[FinishItem]) -> Sequence[WriteOutcome]:
        """Run each document's ``pending`` follow-ups: one call per operation and form for all the documents
        that need it (``batch_size`` bounds a call), Submit before Audit. One try per call: the engine
        retries under the scheme's policy.

        Per item: the doc with ``pending`` shrunk (empty when done; "already submitted/audited" counts as
        done) and ``message`` saying why; GiveUp when its doc cannot be finished by a program (no id or
        number, no form, an operation not safe to repeat whose answer was lost); the call's typed error when
        its first call failed as a whole. Raises that error when every item's did, and AccessDenied.
        """
        outcomes: dict[int, WriteOutcome] = {}
        tracked: list[TrackedDoc] = []
        for item in items:
            if not item.doc.pending:
                outcomes[item.key] = WriteOutcome(item.key, doc=item.doc)
                continue
            try:
                tracked.append(self._to_finish(item))
            except GiveUp as err:
                outcomes[item.key] = WriteOutcome(item.key, error=err)
        if tracked:
            await self._steps.run(tracked, attempts=1)
        denied = next((t.stopped_by for t in tracked if isinstance(t.stopped_by, AccessDenied)), None)
        if denied is not None:
            raise denied
        stalled = [t for t in tracked if t.stopped_by is not None and not t.advanced]
        if stalled and len(stalled) == len(items) and stalled[0].stopped_by is not None:
            raise stalled[0].stopped_by
        for t in tracked:
            if t.stopped_by is not None and not t.advanced:
                outcomes[t.key] = WriteOutcome(t.key, error=t.stopped_by)
            else:
                outcomes[t.key] = WriteOutcome(t.key, doc=self._steps.document(t))
        return [outcomes[item.key] for item in items]

    def _to_finish(self, item: FinishItem) -> TrackedDoc:
        doc = item.doc
        what = f"Kingdee finish of record {item.key}"
        if not (doc.id or doc.number):
            raise GiveUp(f"{what}: the document has neither an id nor a number", api="finish")
        prior = dict(doc.response) if isinstance(doc.response, Mapping) else {}
        steps = prior.pop("follow_up", None)
        notices = prior.pop("notices", None)
        prior.pop("pending", None)
        prior.pop("message", None)
        form = text(prior.pop("form_id", None)) or self._form_of(item.request)
        story = [dict(s) for s in steps if isinstance(s, Mapping)] if isinstance(steps, list) else []
        head = doc.pending[0]
        last = next(
            (s for s in reversed(story) if text(s.get("operation")).casefold() == head.casefold()), None
        )
        if head.casefold() not in REPEAT_SAFE and last is not None and last.get("unknown"):
            raise GiveUp(
                f"{what}: the answer to {head} on {form or 'the document'} {doc.number or doc.id} was lost "
                f"and {head} is not known to be safe to repeat; a person must check whether it was applied",
                api=head,
            )
        unformed = [n for n in doc.pending if not (self._steps.step(n).form_id or form)]
        if unformed:
            raise GiveUp(f"{what}: no form id for {', '.join(unformed)}: set follow_up.form_id", api="finish")
        return TrackedDoc(
            item.key,
            form or None,
            doc.id,
            doc.number,
            draft=doc.draft,
            todo=list(doc.pending),
            base=prior,
            origin="",
            notices=[str(n) for n in notices] if isinstance(notices, list) else [],
            steps=story,
        )

    def _form_of(self, request: Mapping[str, object] | None) -> str:
        """The form a document created by ``request`` lives in, as the write decided it."""
        try:
            if self.kind == "push":
                return push_request(request or {}).target_form_id or self.probe_settings.form_id or ""
            return save_request(request or {}, self.form_id).form_id
        except GiveUp:
            return self.probe_settings.form_id or ("" if self.kind == "push" else self.form_id or "")

    # ---- probe --------------------------------------------------------------------------------------
    async def probe(self, item: WriteItem) -> TargetDoc | None:
        """Find the document an earlier write of ``item`` created (by its source number), or None;
        :meth:`probe_many` for one item, raising its error."""
        [answer] = await self.probe_many([item])
        if isinstance(answer, ConnectorError):
            raise answer
        return answer

    async def probe_many(self, items: Sequence[WriteItem]) -> Sequence[TargetDoc | ConnectorError | None]:
        """For each item, in order: the document an earlier write created, None, or the error that kept
        its question from being answered.

        One ExecuteBillQuery per form and field (``IN``, up to ``IN_CHUNK`` values each); then the found
        documents' follow-ups, batched as in a write (statuses read by the query count: an audited bill costs
        no call). A found document comes back with ``pending`` empty when done, else with what is left.
        GiveUp for an item whose request does not say what to look for. More than one document for one
        source: the first (by id), with "N documents found ... a person must check" in its message.
        """
        answers: list[TargetDoc | ConnectorError | None] = [None] * len(items)
        asked: list[tuple[int, ProbeQuery]] = []
        for index, item in enumerate(items):
            try:
                asked.append((index, self._probe_query(item)))
            except GiveUp as err:
                answers[index] = err
        found = await find_many(self.client, self.probe_settings, [q for _, q in asked]) if asked else []
        tracked: list[tuple[int, TrackedDoc]] = []
        for (index, query), docs in zip(asked, found, strict=True):
            if isinstance(docs, ConnectorError):
                answers[index] = docs
            elif docs:
                tracked.append((index, tracked_from_found(items[index].key, query, docs, self._steps.names)))
        if tracked:
            await self._steps.run([t for _, t in tracked], calls=self.probe_settings.follow_up)
        for index, t in tracked:
            answers[index] = self._steps.document(t)
        return answers

    def _probe_query(self, item: WriteItem) -> ProbeQuery:
        return probe_query(self.kind == "push", self.probe_settings, self.form_id, item.request)


__all__ = [
    "DEFAULT_PUSH_PROBE_FORM",
    "DEFAULT_SOURCE_NUMBER_FIELD",
    "TARGET_APIS",
    "FollowUpStep",
    "KingdeeTarget",
    "ProbeSettings",
]
