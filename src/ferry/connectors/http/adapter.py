"""The thin layer between a scheme's side and :class:`RestClient`: the :class:`RestSource`, and the
``build_*`` factories that map a connection's settings and a side's fields onto the source and the target.

Request fields: the scheme renders them into a dict. For GET (and DELETE) they become query parameters
(an object or list value that is not a list of scalars is sent as JSON text); for POST, PUT and PATCH they
are the JSON body. Static query parameters (``query``) go to the query string either way.

The target (batch modes, verified outcomes, one-to-one matching, the probe) is :mod:`.target`.

Sources: a page whose body says it failed (``success: false``...) or an empty body is an error, never an
empty page, so the watermark does not move.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from ferry.connectors.base import Page, RenderRequest, Window
from ferry.connectors.errors import GiveUp
from ferry.connectors.http.auth import build_auth
from ferry.connectors.http.client import RestAnswer, RestClient, query_fields
from ferry.connectors.http.outcome import SuccessRule, page_failure
from ferry.connectors.http.paging import Paginator, make_paginator
from ferry.connectors.http.paths import records_at
from ferry.connectors.http.target import BatchMode, RestTarget
from ferry.connectors.settings import ConnectionSettings, ConnectionSettingsError
from ferry.connectors.transport import DEFAULT_MAX_RESPONSE_BYTES
from ferry.observe.calls import CallRecorder

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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
                    "GET", link, params=query_fields(self.query) or None, api_name=self.api_name
                )
            else:
                url = self.client.url_for(self.api)
                fields = paginator.merge(dict(render(paginator.variables())), nested=nested)
                if nested:
                    answer = await self.client.call(
                        self.method,
                        self.api,
                        params=query_fields(self.query) or None,
                        json=fields,
                        api_name=self.api_name,
                    )
                else:
                    answer = await self.client.call(
                        self.method,
                        self.api,
                        params={**query_fields(self.query), **query_fields(fields)} or None,
                        api_name=self.api_name,
                    )
            data = self._checked(answer)
            records = records_at(data, self.records_path, api=self.api_name)
            more = paginator.advance(data, records, url)
            yield Page(
                records=records, next_cursor=paginator.position if more else None, total=paginator.total
            )
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
