"""The engine's entry to the REST connector: scheme sides in, Source and Target out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferry.connectors.errors import GiveUp
from ferry.connectors.http.adapter import RestSource, RestTarget, build_client
from ferry.connectors.http.adapter import build_source as _build_source
from ferry.connectors.http.adapter import build_target as _build_target
from ferry.connectors.http.client import RestClient
from ferry.connectors.http.outcome import SuccessRule, page_failure
from ferry.connectors.http.paths import get_path, has_path
from ferry.scheme import SourceSpec, TargetSpec


def _side(spec: SourceSpec | TargetSpec) -> dict[str, Any]:
    # plain fields, native names; Pagination keeps only what was set so defaults stay the adapter's
    side = spec.model_dump(
        exclude={"request", "other_request", "response", "other_response"}, exclude_none=True
    )
    pagination = getattr(spec, "pagination", None)
    if pagination is not None:
        side["pagination"] = pagination.model_dump(exclude_none=True)
    return side


def build_source(conn: Any, spec: SourceSpec, ctx: Any) -> RestSource:
    return _build_source(conn.settings, _side(spec), ctx.recorder, connection_name=conn.name)


def build_target(conn: Any, spec: TargetSpec, ctx: Any) -> RestTarget:
    return _build_target(conn.settings, _side(spec), ctx.recorder, connection_name=conn.name)


class RestQuerier:
    """Lookups over REST: ``{path, params, records_path, method}`` -> the rows at ``records_path``.

    A lookup that failed is an error, never "no rows": a quality rule that asks "was this payee paid
    before?" must not hear "no" from an answer that says it failed, an empty body or a missing path.
    """

    def __init__(self, client: RestClient) -> None:
        self.client = client

    async def query(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        path = params.get("path")
        if not isinstance(path, str) or not path:
            raise GiveUp("a REST lookup needs a 'path'")
        method = str(params.get("method") or "GET").upper()
        body = params.get("params") or {}
        api_name = str(params.get("api_name") or path)
        answer = await self.client.call(
            method,
            path,
            params=body if method == "GET" else None,
            json=None if method == "GET" else body,
            api_name=api_name,
        )
        if answer.empty:
            raise GiveUp(
                f"lookup {path}: the answer is empty; cannot tell whether anything matches", api=api_name
            )
        failure = page_failure(answer.data, SuccessRule(), api=api_name)
        if failure is not None:
            raise failure
        records_path = params.get("records_path")
        if records_path and not has_path(answer.data, str(records_path)):
            raise GiveUp(f"lookup {path}: the answer has no {records_path!r}", api=api_name)
        rows = get_path(answer.data, str(records_path)) if records_path else answer.data
        if rows is None:
            return []
        if isinstance(rows, dict):
            return [rows]
        if not isinstance(rows, list):
            raise GiveUp(f"lookup {path}: expected a list of rows, got {type(rows).__name__}")
        return [r for r in rows if isinstance(r, dict)]

    async def aclose(self) -> None:
        await self.client.aclose()


def build_querier(conn: Any, ctx: Any) -> RestQuerier:
    return RestQuerier(build_client(conn.settings, ctx.recorder, connection_name=conn.name))
