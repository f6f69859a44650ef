"""The REST target: writes rendered requests one by one or as arrays, and finds lost writes by probing.

Target batch modes:

- ``single``: one call per record, the record's rendered request as the JSON body; calls run concurrently
  up to the connection's ``max_concurrency``. A failed call is that record's outcome, never the batch's.
- ``array``: one call per ``batch_size`` records, the body a JSON array of the requests, or
  ``{batch_key: [...]}`` when ``batch_key`` is set. The answer must give per-item results: a list at
  ``results_path`` (else the answer itself, else its ``results``/``items``/``batch_key`` list), either in
  request order with one entry per item, or entries carrying the item's 0-based position in ``index_key``
  (default ``index``).

Outcomes are verified, not assumed (:mod:`.outcome`): an answer, or a per-item result, is *written* only
when it says so; an empty or ``null`` one is :class:`OutcomeUnknown` (ask the target before retrying),
an error-shaped one is that record's failure. Array answers are matched one to one: when the indexing
cannot be trusted (an index twice, out of range, not a number, on some entries only; a count that does
not match without indexes) no item of that call is taken as written, all are OutcomeUnknown; and when
the target names the same document id (or number) for several records, those records are
OutcomeUnknown. ``id_path`` and ``number_path`` read the created document's id and number from the
result entry (single mode: from the response); the stored response has echoed secrets masked.

Probes: an error-shaped answer, an empty body or a missing ``found_path`` is an error, never "not found"
(which would let the engine send the write again).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ferry.connectors.base import TargetDoc, WriteItem, WriteOutcome
from ferry.connectors.errors import ConnectorError, GiveUp, OutcomeUnknown
from ferry.connectors.http.client import RestAnswer, RestClient, query_fields
from ferry.connectors.http.outcome import SuccessRule, page_failure, write_verdict
from ferry.connectors.http.paths import get_path, has_path
from ferry.observe.redact import redact, redact_value

BatchMode = Literal["single", "array"]
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PLACEHOLDER = re.compile(r"\{(source_id|number|key)\}")


class RestTarget:
    """Writes rendered requests one by one or as arrays, and finds earlier writes with ``probe``."""

    def __init__(
        self,
        client: RestClient,
        *,
        api: str,
        method: str = "POST",
        batch_size: int = 1,
        batch_mode: BatchMode = "single",
        batch_key: str | None = None,
        results_path: str | None = None,
        index_key: str = "index",
        id_path: str | None = "id",
        number_path: str | None = None,
        probe: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        api_name: str | None = None,
        success: SuccessRule | None = None,
    ) -> None:
        if batch_mode not in ("single", "array"):
            raise ValueError(f"batch_mode must be 'single' or 'array', got {batch_mode!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.client = client
        self.api = api
        self.method = method.upper()
        self.batch_size = batch_size
        self.batch_mode: BatchMode = batch_mode
        self.batch_key = batch_key or None
        self.results_path = results_path or None
        self.index_key = index_key
        self.id_path = id_path or None
        self.number_path = number_path or None
        self.probe_settings = dict(probe) if probe else None
        self.query = dict(query or {})
        self.api_name = api_name or f"{self.method} {api}"
        self.success = success or SuccessRule()

    # -- writing ---------------------------------------------------------------------------------

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        """One outcome per item. Array mode raises a typed error when a whole array call failed."""
        if self.batch_mode == "single":
            return list(await asyncio.gather(*(self._write_one(item) for item in items)))
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(items), self.batch_size):
            outcomes.extend(await self._write_array(items[start : start + self.batch_size]))
        return outcomes

    def _doc(self, answer: Any) -> TargetDoc:
        # what is stored (and shown by `ferry records show`) has echoed secrets masked
        return TargetDoc(
            id=_text_or_none(get_path(answer, self.id_path)) if self.id_path else None,
            number=_text_or_none(get_path(answer, self.number_path)) if self.number_path else None,
            response=redact_value(answer),
        )

    async def _send(self, body: Any) -> RestAnswer:
        if self.method in _BODY_METHODS:
            return await self.client.call(
                self.method,
                self.api,
                params=query_fields(self.query) or None,
                json=body,
                api_name=self.api_name,
            )
        params = {**query_fields(self.query), **(query_fields(body) if isinstance(body, Mapping) else {})}
        return await self.client.call(self.method, self.api, params=params or None, api_name=self.api_name)

    async def _write_one(self, item: WriteItem) -> WriteOutcome:
        try:
            answer = await self._send(item.request)
        except ConnectorError as e:
            return WriteOutcome(key=item.key, error=e)
        error = write_verdict(answer.data, self.success, api=self.api_name, empty=answer.empty)
        if error is not None:
            error.request_id = answer.request_id
            return WriteOutcome(key=item.key, error=error)
        return WriteOutcome(key=item.key, doc=self._doc(answer.data))

    async def _write_array(self, items: Sequence[WriteItem]) -> list[WriteOutcome]:
        requests = [item.request for item in items]
        body: Any = {self.batch_key: requests} if self.batch_key else requests
        answer = await self._send(body)
        results = self._results(answer)
        by_position, problem = self._match(results, len(items))
        if problem is not None:
            # cannot tell which result is whose: no item is taken as written, the probe must settle each
            error = OutcomeUnknown(problem, code="unmatched", api=self.api_name, request_id=answer.request_id)
            return [WriteOutcome(key=item.key, error=error) for item in items]
        outcomes: list[WriteOutcome] = []
        for position, item in enumerate(items):
            if position not in by_position:
                outcomes.append(
                    WriteOutcome(
                        key=item.key,
                        error=OutcomeUnknown(
                            f"the target's answer has no result for item {position}",
                            code="no_result",
                            api=self.api_name,
                        ),
                    )
                )
                continue
            outcomes.append(self._item_outcome(item, by_position[position]))
        return self._one_document_each(outcomes)

    def _match(self, results: list[Any], count: int) -> tuple[dict[int, Any], str | None]:
        """Results by item position, or why they cannot be matched one to one."""
        with_index = [r for r in results if isinstance(r, Mapping) and self.index_key in r]
        if not with_index:
            if len(results) != count:
                return {}, (
                    f"the target answered {len(results)} results for {count} items without "
                    f"{self.index_key!r}; cannot match them"
                )
            return dict(enumerate(results)), None
        if len(with_index) != len(results):
            return {}, f"only some results carry {self.index_key!r}; cannot match them"
        by_position: dict[int, Any] = {}
        for r in with_index:
            position = _position(r[self.index_key])
            if position is None or not 0 <= position < count:
                return {}, (
                    f"a result names item {_short(r[self.index_key])} of a {count}-item call "
                    f"({self.index_key!r} is 0-based); cannot trust the matching"
                )
            if position in by_position:
                return {}, f"the target answered twice for item {position}; cannot trust the matching"
            by_position[position] = r
        return by_position, None

    def _one_document_each(self, outcomes: list[WriteOutcome]) -> list[WriteOutcome]:
        """Several records said to have made the same document: none of them is taken as written."""
        claims: dict[tuple[str, str], list[int]] = {}
        for i, outcome in enumerate(outcomes):
            if outcome.doc is None:
                continue
            for kind, value in (("id", outcome.doc.id), ("number", outcome.doc.number)):
                if value is not None:
                    claims.setdefault((kind, value), []).append(i)
        shared = {i: kind for (kind, _), where in claims.items() if len(where) > 1 for i in where}
        if not shared:
            return outcomes
        fixed = list(outcomes)
        for i, kind in shared.items():
            fixed[i] = WriteOutcome(
                key=outcomes[i].key,
                error=OutcomeUnknown(
                    f"the target gave the same document {kind} to several records of one call; "
                    "cannot tell which record it belongs to",
                    code="shared_document",
                    api=self.api_name,
                ),
            )
        return fixed

    def _results(self, answer: RestAnswer) -> list[Any]:
        data = answer.data
        if self.results_path:
            found = get_path(data, self.results_path)
        elif isinstance(data, list):
            found = data
        else:
            found = None
            for key in ("results", "items", self.batch_key):
                if key and isinstance(get_path(data, key), list):
                    found = get_path(data, key)
                    break
        if not isinstance(found, list):
            # no per-item list: an answer that says the call failed is that failure for every item
            failure = page_failure(data, self.success, api=self.api_name) if not answer.empty else None
            if isinstance(failure, ConnectorError) and not isinstance(failure, OutcomeUnknown):
                failure.request_id = answer.request_id
                raise failure
            where = f"results_path {self.results_path!r}" if self.results_path else "the answer"
            raise OutcomeUnknown(
                f"{where} holds no per-item results list; cannot tell which items were written",
                code="no_result",
                api=self.api_name,
                request_id=answer.request_id,
            )
        return found

    def _item_outcome(self, item: WriteItem, result: Any) -> WriteOutcome:
        error = write_verdict(result, self.success, api=self.api_name, ignore=(self.index_key,))
        if error is not None:
            return WriteOutcome(key=item.key, error=error)
        return WriteOutcome(key=item.key, doc=self._doc(result))

    # -- probing ---------------------------------------------------------------------------------

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        """Look the item's document up with the ``probe`` settings; the first match, or None."""
        p = self.probe_settings
        if not p:
            raise GiveUp("this target has no probe settings; cannot check whether the write happened")
        values = {"source_id": item.source_id, "number": item.number, "key": str(item.key)}
        method = str(p.get("method", "GET")).upper()
        path = _fill(str(p.get("path") or p.get("api") or self.api), values)
        params = _fill(p.get("params") or {}, values)
        body = _fill(p.get("json"), values) if p.get("json") is not None else None
        api_name = str(p.get("api_name", f"probe {self.api_name}"))
        answer = await self.client.call(
            method,
            path,
            params=query_fields({**self.query, **params}) or None,
            json=body,
            api_name=api_name,
        )
        found = self._probe_found(answer, p.get("found_path"), api_name)
        match = (found[0] if found else None) if isinstance(found, list) else found
        if not match:
            return None
        id_path = p.get("id_path", self.id_path)
        number_path = p.get("number_path", self.number_path)
        return TargetDoc(
            id=_text_or_none(get_path(match, id_path)) if id_path else None,
            number=_text_or_none(get_path(match, number_path)) if number_path else None,
            response=redact_value(match),
        )

    @staticmethod
    def _probe_found(answer: RestAnswer, found_path: str | None, api: str) -> Any:
        """What the lookup found. An answer that failed is an error, never "not found": the engine would
        send the write again."""
        if answer.empty:
            raise GiveUp("the probe's lookup answered with an empty body; cannot tell", code="empty", api=api)
        error = page_failure(answer.data, SuccessRule(), api=api)
        if error is not None:
            raise error
        if found_path and not has_path(answer.data, found_path):
            raise GiveUp(
                f"the probe's answer has no {found_path!r}; cannot tell whether the document exists",
                code="no_result",
                api=api,
            )
        return get_path(answer.data, found_path)

    async def aclose(self) -> None:
        await self.client.aclose()

    def __repr__(self) -> str:
        return f"RestTarget({self.method} {self.api}, mode={self.batch_mode}, client={self.client!r})"


def _text_or_none(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, Mapping | list):
        return None
    return redact(str(value))[:200]


def _fill(template: Any, values: Mapping[str, str | None]) -> Any:
    """Replace ``{source_id}``, ``{number}``, ``{key}`` in strings (recursively); other braces stay."""
    if isinstance(template, str):

        def sub(m: re.Match[str]) -> str:
            value = values.get(m.group(1))
            if value is None:
                raise GiveUp(f"the probe needs the record's {m.group(1)}, which it does not have")
            return value

        return _PLACEHOLDER.sub(sub, template)
    if isinstance(template, Mapping):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    return template


def _position(value: Any) -> int | None:
    """A result's 0-based item position: an int (not a bool) or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 12:
        return int(value)
    return None


def _short(value: Any) -> str:
    return redact(repr(value))[:40]


__all__ = ["BatchMode", "RestTarget"]
