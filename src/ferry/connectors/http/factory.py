"""The engine's entry to the REST connector: scheme sides in, Source and Target out."""

from __future__ import annotations

from typing import Any

from ferry.connectors.http.adapter import RestSource, RestTarget
from ferry.connectors.http.adapter import build_source as _build_source
from ferry.connectors.http.adapter import build_target as _build_target
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
