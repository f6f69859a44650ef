"""The thin layer between a scheme's side and :class:`RestClient`: a :class:`Source` and a :class:`Target`.

Request fields: the scheme renders them into a dict. For GET (and DELETE) they become query parameters
(an object or list value that is not a list of scalars is sent as JSON text); for POST, PUT and PATCH they
are the JSON body. Static query parameters (``query``) go to the query string either way.

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

Sources: a page whose body says it failed (``success: false``...) or an empty body is an error, never an
empty page, so the watermark does not move. Probes: an error-shaped answer or a missing ``found_path``
is an error, never "not found" (which would let the engine send the write again).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

from ferry.connectors.base import Page, RenderRequest, TargetDoc, Window, WriteItem, WriteOutcome
from ferry.connectors.errors import ConnectorError, GiveUp, OutcomeUnknown
from ferry.connectors.http.auth import build_auth
from ferry.connectors.http.client import RestAnswer, RestClient
from ferry.connectors.http.outcome import SuccessRule, page_failure, write_verdict
from ferry.connectors.http.paging import Paginator, make_paginator
from ferry.connectors.http.paths import get_path, has_path, records_at
from ferry.connectors.settings import ConnectionSettings, ConnectionSettingsError
from ferry.connectors.transport import DEFAULT_MAX_RESPONSE_BYTES
from ferry.observe.calls import CallRecorder
from ferry.observe.redact import redact, redact_value

BatchMode = Literal["single", "array"]
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PLACEHOLDER = re.compile(r"\{(source_id|number|key)\}")


def _query_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _query(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _query_value(v) for k, v in fields.items() if v is not None}


class RestSource:
    """Pages through a JSON list API. Records come from ``records_path`` (empty: the answer is the list)."""

    def __init__(
        self,
        client: RestClient,
        *,
        api: str,
        method: str = "GET",
        pagination: Mapping[str, Any] | None = None,
        records_path: str | None = None,
        query: Mapping[str, Any] | None = None,
        api_name: str | None = None,
        success: SuccessRule | None = None,
    ) -> None:
        self.client = client
        self.api = api
        self.method = method.upper()
        self.success = success or SuccessRule()
        self.pagination = dict(pagination or {})
        self.records_path = records_path or None
        self.query = dict(query or {})
        self.api_name = api_name or f"{self.method} {api}"
        make_paginator(self.pagination)  # fail on bad settings now, not on the first run

    def paginator(self) -> Paginator:
        return make_paginator(self.pagination, api=self.api_name)

    async def pages(self, window: Window, render: RenderRequest) -> AsyncIterator[Page]:
        """Yield each page in order; ``render`` receives the paging variables (``PAGINATION_START_PAGE``...)."""
        paginator = self.paginator()
        nested = self.method in _BODY_METHODS
        while True:
            paginator.check_budget()
            link = paginator.link
            answer: RestAnswer
            if link is not None:
                url = self.client.url_for(link)
                answer = await self.client.call(
                    "GET", link, params=_query(self.query) or None, api_name=self.api_name
                )
            else:
                url = self.client.url_for(self.api)
                fields = paginator.merge(dict(render(paginator.variables())), nested=nested)
                if nested:
                    answer = await self.client.call(
                        self.method,
                        self.api,
                        params=_query(self.query) or None,
                        json=fields,
                        api_name=self.api_name,
                    )
                else:
                    answer = await self.client.call(
                        self.method,
                        self.api,
                        params={**_query(self.query), **_query(fields)} or None,
                        api_name=self.api_name,
                    )
            data = self._checked(answer)
            records = records_at(data, self.records_path, api=self.api_name)
            more = paginator.advance(data, records, url)
            yield Page(records=records, next_cursor=paginator.position if more else None)
            if not more:
                return

    def _checked(self, answer: RestAnswer) -> Any:
        """The page's data, or the error its body reports: a failed page is never an empty one."""
        if answer.empty:
            raise GiveUp(
                f"the source answered HTTP {answer.status} with an empty body; that is not an empty page",
                code="empty",
                api=self.api_name,
                request_id=answer.request_id,
            )
        error = page_failure(answer.data, self.success, api=self.api_name)
        if error is not None:
            error.request_id = answer.request_id
            raise error
        return answer.data

    async def aclose(self) -> None:
        await self.client.aclose()

    def __repr__(self) -> str:
        return f"RestSource({self.method} {self.api}, client={self.client!r})"


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
                self.method, self.api, params=_query(self.query) or None, json=body, api_name=self.api_name
            )
        params = {**_query(self.query), **(_query(body) if isinstance(body, Mapping) else {})}
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
            params=_query({**self.query, **params}) or None,
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


# -- factories: plain settings in, adapters out ------------------------------------------------------


def _side_option(spec: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A side option from the spec itself, else from its connector-specific ``params``."""
    if spec.get(key) is not None:
        return spec[key]
    params = spec.get("params")
    if isinstance(params, Mapping) and params.get(key) is not None:
        return params[key]
    return default


def build_client(
    settings: Mapping[str, Any] | ConnectionSettings,
    recorder: CallRecorder | None = None,
    *,
    connection_name: str | None = None,
) -> RestClient:
    """A :class:`RestClient` from a connection's settings.

    Keys: ``base_url`` (required), ``auth`` (see :mod:`.auth`), ``timeout`` (seconds for a whole call,
    default 30), ``connect_timeout``, ``headers``, ``max_concurrency`` (default 8), ``verify`` (TLS,
    default true), ``max_response_bytes`` (default 16 MiB).
    """
    name = connection_name
    if isinstance(settings, ConnectionSettings):
        name = name or settings.name
        conf: Mapping[str, Any] = settings.settings
    else:
        conf = settings
    name = name or "http"
    base_url = conf.get("base_url")
    if not base_url:
        raise ConnectionSettingsError(f"connection {name!r} needs a base_url")
    try:
        timeout = float(conf.get("timeout", 30.0))
        connect = float(conf.get("connect_timeout") or min(timeout, 10.0))
        max_concurrency = int(conf.get("max_concurrency", 8))
        max_bytes = int(conf.get("max_response_bytes") or DEFAULT_MAX_RESPONSE_BYTES)
    except (TypeError, ValueError):
        raise ConnectionSettingsError(
            f"connection {name!r}: timeout, connect_timeout, max_concurrency and max_response_bytes "
            "must be numbers"
        ) from None
    if not (timeout > 0 and connect > 0 and max_bytes > 0):
        raise ConnectionSettingsError(
            f"connection {name!r}: timeouts and max_response_bytes must be positive"
        )

    client: RestClient | None = None

    def refresher_for(token_conf: Mapping[str, Any]) -> Any:
        async def refresh() -> str:
            assert client is not None
            return await client.fetch_token(token_conf)

        return refresh

    try:
        auth = build_auth(conf.get("auth"), token_refresher=refresher_for)
    except ConnectionSettingsError as e:
        raise ConnectionSettingsError(f"connection {name!r}: {e}") from None
    headers = conf.get("headers") or {}
    client = RestClient(
        str(base_url),
        auth=auth,
        timeout=timeout,
        connect_timeout=connect,
        max_response_bytes=max_bytes,
        headers={str(k): str(v) for k, v in headers.items()},
        recorder=recorder,
        connection_name=name,
        max_concurrency=max_concurrency,
        verify=bool(conf.get("verify", True)),
    )
    return client


def build_source(
    settings: Mapping[str, Any] | ConnectionSettings,
    spec: Mapping[str, Any],
    recorder: CallRecorder | None = None,
    *,
    connection_name: str | None = None,
) -> RestSource:
    """A :class:`RestSource` from a connection's settings and the source side's plain fields.

    Side keys (on the side, or inside its ``params``): ``api`` (path), ``method`` (default GET),
    ``pagination`` (dict), ``records_path``, ``query`` (static query parameters), ``api_name``,
    ``success`` / ``error_path`` (how a page says it failed: :mod:`.outcome`).
    """
    api = spec.get("api")
    if not api:
        raise ConnectionSettingsError("the source side needs an 'api' (the path to call)")
    pagination = _side_option(spec, "pagination")
    if pagination is not None and not isinstance(pagination, Mapping):
        pagination = dict(pagination)
    client = build_client(settings, recorder, connection_name=connection_name)
    return RestSource(
        client,
        api=str(api),
        method=str(spec.get("method") or "GET"),
        pagination=pagination,
        records_path=_side_option(spec, "records_path"),
        query=_side_option(spec, "query"),
        api_name=_side_option(spec, "api_name"),
        success=_success_rule(spec),
    )


def _success_rule(spec: Mapping[str, Any]) -> SuccessRule:
    """``success`` / ``error_path`` / ``accept_empty`` of a side (see :mod:`.outcome`)."""
    success = _side_option(spec, "success")
    if success is not None and not isinstance(success, Mapping):
        raise ConnectionSettingsError(
            "success must be a mapping: {path: ..., equals: ...} or {path: ..., in: [...]}"
        )
    try:
        return SuccessRule.from_settings(
            success,
            error_path=_side_option(spec, "error_path"),
            accept_empty=bool(_side_option(spec, "accept_empty", False)),
        )
    except ValueError as e:
        raise ConnectionSettingsError(str(e)) from None


def build_target(
    settings: Mapping[str, Any] | ConnectionSettings,
    spec: Mapping[str, Any],
    recorder: CallRecorder | None = None,
    *,
    connection_name: str | None = None,
) -> RestTarget:
    """A :class:`RestTarget` from a connection's settings and the target side's plain fields.

    Side keys (on the side, or inside its ``params``): ``api``, ``method`` (default POST), ``batch_size``,
    ``batch_mode`` (``single`` | ``array``), ``batch_key``, ``results_path``, ``index_key``, ``id_path``
    (default ``id``), ``number_path``, ``probe`` (dict), ``query``, ``api_name``, ``success``,
    ``error_path``, ``accept_empty`` (how an answer says it worked: :mod:`.outcome`).
    """
    api = spec.get("api")
    if not api:
        raise ConnectionSettingsError("the target side needs an 'api' (the path to call)")
    mode = str(_side_option(spec, "batch_mode", "single"))
    if mode not in ("single", "array"):
        raise ConnectionSettingsError(f"batch_mode must be 'single' or 'array', got {mode!r}")
    client = build_client(settings, recorder, connection_name=connection_name)
    return RestTarget(
        client,
        api=str(api),
        method=str(spec.get("method") or "POST"),
        batch_size=int(_side_option(spec, "batch_size", 1)),
        batch_mode="array" if mode == "array" else "single",
        batch_key=_side_option(spec, "batch_key"),
        results_path=_side_option(spec, "results_path"),
        index_key=str(_side_option(spec, "index_key", "index")),
        id_path=_side_option(spec, "id_path", "id"),
        number_path=_side_option(spec, "number_path"),
        probe=_side_option(spec, "probe"),
        query=_side_option(spec, "query"),
        api_name=_side_option(spec, "api_name"),
        success=_success_rule(spec),
    )


__all__ = ["BatchMode", "RestSource", "RestTarget", "build_client", "build_source", "build_target"]
