"""Which connector serves which connection ``type``; each entry builds a Source or a Target.

Factories are imported lazily so a scheme that uses only the REST connector never imports the
DingTalk or Kingdee clients.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from ferry.connectors.base import Querier, Source, Target
from ferry.observe.calls import CallRecorder
from ferry.scheme import SourceSpec, TargetSpec


class ConnectionLike(Protocol):
    """A named connection of a given type (see :mod:`ferry.connectors.settings`)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def settings(self) -> Any: ...


@dataclass(frozen=True)
class BuildContext:
    """What a connector factory may use besides its connection and scheme side."""

    recorder: CallRecorder
    scheme_id: str
    #: the ledger, for sources that must know which records are already final (DingTalk)
    ledger: Any = None


#: connection type -> module with ``build_source(conn, spec, ctx)`` / ``build_target(conn, spec, ctx)``
CONNECTORS: dict[str, str] = {
    "http": "ferry.connectors.http.factory",
    "rest": "ferry.connectors.http.factory",
    "dingtalk": "ferry.connectors.dingtalk.factory",
    "kingdee": "ferry.connectors.kingdee.factory",
}


class UnknownConnector(Exception):
    pass


def _module(conn: ConnectionLike) -> Any:
    path = CONNECTORS.get(conn.type)
    if path is None:
        known = ", ".join(sorted(CONNECTORS))
        raise UnknownConnector(f"connection '{conn.name}' has type '{conn.type}'; known types: {known}")
    return importlib.import_module(path)


def build_source(conn: ConnectionLike, spec: SourceSpec, ctx: BuildContext) -> Source:
    src: Source = _module(conn).build_source(conn, spec, ctx)
    return src


def build_target(conn: ConnectionLike, spec: TargetSpec, ctx: BuildContext) -> Target:
    tgt: Target = _module(conn).build_target(conn, spec, ctx)
    return tgt


def build_querier(conn: ConnectionLike, ctx: BuildContext) -> Querier:
    """A connection's lookup capability, for the scheme's ``enrich`` steps."""
    module = _module(conn)
    factory = getattr(module, "build_querier", None)
    if factory is None:
        raise UnknownConnector(f"connection '{conn.name}' (type '{conn.type}') cannot answer lookups")
    querier: Querier = factory(conn, ctx)
    return querier
