"""The engine's entry to the DingTalk connector: a connection and a scheme's source side in, an
:class:`~ferry.connectors.dingtalk.source.ApprovalSource` out.

Connection settings (``connections.yaml``, type ``dingtalk``):

| key | default | meaning |
|---|---|---|
| ``app_key`` | required | the app's Client ID (AppKey) |
| ``app_secret`` | required, ``${...}`` | the app's Client Secret |
| ``api_style`` | ``v1`` | ``v1`` (api.dingtalk.com) or ``oapi`` (legacy oapi.dingtalk.com) |
| ``api_base`` / ``oapi_base`` | the real hosts | point them at the sandbox in tests |
| ``qps`` | 20 | calls per second per API for this app |
| ``timeout_s`` | 10 | HTTP timeout per call |
| ``event_token``, ``event_aes_key``, ``event_owner_key`` | — | HTTP-push events (read by the callback endpoint, not here) |
| ``stream`` | — | Stream-mode events (read by the stream client, not here) |

DingTalk is a source only: there is no DingTalk target.
"""

from __future__ import annotations

from typing import Any

from ferry.connectors.dingtalk.client import DingTalkClient, DingTalkSettings
from ferry.connectors.dingtalk.source import ApprovalParams, ApprovalSource
from ferry.connectors.errors import GiveUp
from ferry.scheme import SourceSpec, TargetSpec

#: connection keys that belong to event intake, not to the API client
EVENT_KEYS = frozenset({"event_token", "event_aes_key", "event_owner_key", "stream"})


def client_settings(name: str, settings: dict[str, Any]) -> DingTalkSettings:
    """The client's settings from a connection's; unknown keys are refused (typos), event keys skipped."""
    values = {k: v for k, v in settings.items() if k not in EVENT_KEYS}
    return DingTalkSettings(connection=name, **values)


def build_source(conn: Any, spec: SourceSpec, ctx: Any) -> ApprovalSource:
    """An approval source for the scheme's ``params`` (``process_code``, ``statuses``, ``result``, ...)."""
    settings = client_settings(conn.name, dict(conn.settings))
    params = ApprovalParams.model_validate(spec.params)
    client = DingTalkClient(settings, recorder=ctx.recorder)
    return ApprovalSource(client, params, ledger=ctx.ledger, scheme_id=ctx.scheme_id)


def build_target(conn: Any, spec: TargetSpec, ctx: Any) -> Any:
    raise GiveUp(f"connection '{conn.name}' is DingTalk, which Ferry reads from but does not write to")
