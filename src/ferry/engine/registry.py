"""Building a scheme's connectors: the spec registered for a connection's ``type`` names the factory.

Factories are imported lazily so a scheme that uses only the REST connector never imports the
DingTalk or Kingdee clients. No connector is named here: they register themselves
(:mod:`ferry.connectors.spec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ferry.connectors.base import Querier, Source, Target
from ferry.connectors.spec import get_spec
from ferry.errors import ConfigError
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


def _module(conn: ConnectionLike) -> Any:
    """The factory module of the connector serving ``conn.type`` (see :mod:`ferry.connectors.spec`)."""
    return get_spec(conn.type, connection=conn.name).module()


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
        raise ConfigError(f"connection '{conn.name}' (type '{conn.type}') cannot answer lookups")
    querier: Querier = factory(conn, ctx)
    return querier
