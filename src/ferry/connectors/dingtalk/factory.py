"""The engine's entry to the DingTalk connector: a connection and a scheme's source side in, an
:class:`~ferry.connectors.dingtalk.source.ApprovalSource` out. The keys it accepts are declared in
:mod:`ferry.connectors.dingtalk.spec`.

DingTalk is a source only: there is no DingTalk target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferry.connectors.dingtalk.client import DingTalkClient
from ferry.connectors.dingtalk.source import ApprovalSource
from ferry.connectors.dingtalk.spec import ApprovalParams, DingTalkConnection, DingTalkSettings
from ferry.connectors.errors import GiveUp
from ferry.connectors.spec import parse
from ferry.scheme import SourceSpec, TargetSpec


def connection_settings(name: str, settings: Mapping[str, Any]) -> DingTalkConnection:
    """A connection's settings, checked against the spec (a ConfigError naming each bad key)."""
    conn: DingTalkConnection = parse(DingTalkConnection, settings, what=f"DingTalk connection {name!r}")
    return conn


def client_settings(name: str, settings: Mapping[str, Any]) -> DingTalkSettings:
    """The protocol client's part of a connection's settings."""
    return connection_settings(name, settings).client_settings(name)


def build_source(conn: Any, spec: SourceSpec, ctx: Any) -> ApprovalSource:
    """An approval source for the scheme's ``params`` (``process_code``, ``statuses``, ``result``, ...)."""
    settings = client_settings(conn.name, conn.settings)
    params: ApprovalParams = parse(ApprovalParams, spec.params, what="source.params")
    client = DingTalkClient(settings, recorder=ctx.recorder)
    return ApprovalSource(client, params, ledger=ctx.ledger, scheme_id=ctx.scheme_id)


def build_target(conn: Any, spec: TargetSpec, ctx: Any) -> Any:
    raise GiveUp(f"connection '{conn.name}' is DingTalk, which Ferry reads from but does not write to")
