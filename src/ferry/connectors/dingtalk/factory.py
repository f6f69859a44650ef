"""The engine's entry to the DingTalk connector: a connection and a scheme's source side in, an
:class:`~ferry.connectors.dingtalk.source.ApprovalSource` out. The keys it accepts are declared in
:mod:`ferry.connectors.dingtalk.spec`.

DingTalk is a source only: there is no DingTalk target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ferry.connectors.base import Check, ConnectionUse
from ferry.connectors.dingtalk.client import DingTalkClient
from ferry.connectors.dingtalk.source import ApprovalSource
from ferry.connectors.dingtalk.spec import ApprovalParams, DingTalkConnection, DingTalkSettings
from ferry.connectors.errors import ConnectorError, GiveUp
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


#: DingTalk codes that mean "no such template": the check fails for good, not for now
_UNKNOWN_TEMPLATE = frozenset({"processCodeError", "invalidProcessCode", "830001", "40035"})


async def preflight(conn: Any, use: ConnectionUse, ctx: Any) -> list[Check]:
    """Before a pass: the app gets a token, each process code names a template, quota is left.

    A process code that was listed before (its watermark exists) is not asked again, so a scheduled
    pass spends no metered call on its check; a new one costs one call, once.
    """
    name = conn.name
    settings = connection_settings(name, conn.settings)
    client = DingTalkClient(settings.client_settings(name), recorder=ctx.recorder)
    checks: list[Check] = []
    try:
        try:
            await client.get_token()
        except ConnectorError as e:
            checks.append(Check(name, "access token", False, f"DingTalk refused app {settings.app_key}: {e}"))
            return checks
        checks.append(Check(name, "access token", True, f"app {settings.app_key}"))
        if use.source is not None:
            params: ApprovalParams = parse(ApprovalParams, use.source.params, what="source.params")
            for code in params.process_code:
                listed = (
                    ctx.ledger is not None
                    and (await asyncio.to_thread(ctx.ledger.get_watermark, use.scheme_id, code)) is not None
                )
                if listed:
                    checks.append(Check(name, f"process code {code}", True, "listed before"))
                    continue
                try:
                    title = await client.check_process_code(code)
                except ConnectorError as e:
                    unknown = e.code in _UNKNOWN_TEMPLATE
                    detail = f"no such template: {e}" if unknown else f"could not be checked: {e}"
                    checks.append(Check(name, f"process code {code}", False, detail, blocking=unknown))
                else:
                    checks.append(Check(name, f"process code {code}", True, f"template {title}"))
        if ctx.ledger is not None:
            used = await asyncio.to_thread(ctx.ledger.metered_this_month, name)
            left = settings.monthly_quota - used
            checks.append(
                Check(
                    name,
                    "monthly quota",
                    left > 0 or settings.monthly_quota == 0,
                    f"{used:,} of {settings.monthly_quota:,} metered calls used this month, {max(left, 0):,} left",
                )
            )
    finally:
        await client.aclose()
    return checks
