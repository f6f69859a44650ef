"""The engine's entry to the Kingdee connector: a connection and a scheme's target side in, a Target out.

Connection settings (``connections.yaml``; secrets only as ``${ENV}`` references)::

    kingdee_main:
      type: kingdee
      base_url: https://erp.example.com/k3cloud/   # the site root, ending in /k3cloud/
      auth_mode: signed_headers    # validate_user | app_secret | sign | signed_headers
      acct_id: 65a0b1c2d3e4f5      # data-centre id (账套 ID)
      username: integration
      app_id: 224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef   # app modes
      app_secret: ${KINGDEE_APP_SECRET}                 # app modes
      password: ${KINGDEE_PASSWORD}                     # validate_user only
      lcid: 2052                   # language (2052 = simplified Chinese)
      org_num: "0"                 # organisation sent in signed-header mode (0 = the user's default)
      timeout: 120                 # seconds per call
      concurrency: 4               # calls in flight (alias max_concurrency); halves on MsgCode 13/14, 5xx
      envelope: named              # named (Python SDK) | parameters (Java SDK)
      verify: true                 # TLS certificate check

Scheme side (``target``): ``api`` (Push | Save | BatchSave | Draft), ``batch_size``, ``follow_up``, ``probe``
(see :class:`~ferry.connectors.kingdee.target.ProbeSettings`) and ``params``: ``form_id`` (the Save form when
the request does not name one), ``follow_up_attempts`` (default 3), ``follow_up_retry_delay`` (seconds, 0.5).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ferry.connectors.kingdee.auth import AuthMode, KingdeeAuth
from ferry.connectors.kingdee.client import KingdeeClient
from ferry.connectors.kingdee.query import KingdeeQuerier
from ferry.connectors.kingdee.target import TARGET_APIS, FollowUpStep, KingdeeTarget, ProbeSettings
from ferry.connectors.settings import ConnectionSettingsError
from ferry.observe.calls import CallRecorder
from ferry.scheme import TargetSpec

#: keys of ``target.params`` this connector reads
_PARAMS = ("form_id", "follow_up_attempts", "follow_up_retry_delay")


class KingdeeSettings(BaseModel):
    """One Kingdee connection, validated up front. Secrets are :class:`SecretStr`: never in reprs or errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    base_url: str = Field(min_length=1)
    auth_mode: AuthMode
    acct_id: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr = SecretStr("")
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    lcid: int = 2052
    org_num: str = "0"
    timeout: float = Field(default=120.0, gt=0)
    concurrency: int = Field(default=4, ge=1, validation_alias=AliasChoices("concurrency", "max_concurrency"))
    envelope: Literal["named", "parameters"] = "named"
    verify: bool = True

    @field_validator("acct_id", "username", "app_id", "org_num", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        # YAML reads a numeric data-centre id or org number as an int
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    def auth(self) -> KingdeeAuth:
        """The client's credentials; ``ValueError`` naming what this auth mode is missing."""
        return KingdeeAuth.create(
            self.auth_mode,
            acct_id=self.acct_id,
            username=self.username,
            app_id=self.app_id,
            app_secret=self.app_secret,
            password=self.password,
            lcid=self.lcid,
            org_num=self.org_num,
        )


def parse_settings(raw: Mapping[str, Any], connection: str = "kingdee") -> KingdeeSettings:
    """Validate a connection's settings; one :class:`ConnectionSettingsError` naming every problem, no values."""
    try:
        settings = KingdeeSettings.model_validate(dict(raw))
        settings.auth()
    except ValidationError as err:
        # pydantic's default text quotes the input, which may be a secret: name the key and the rule only
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in err.errors()
        )
        raise ConnectionSettingsError(f"Kingdee connection {connection!r}: {problems}") from None
    except ValueError as err:
        raise ConnectionSettingsError(f"Kingdee connection {connection!r}: {err}") from None
    return settings


def build_client(
    settings: KingdeeSettings, recorder: CallRecorder | None = None, *, connection: str = "kingdee"
) -> KingdeeClient:
    """A :class:`KingdeeClient` for the settings, reporting every call to ``recorder`` under ``connection``."""
    verify: ssl.SSLContext | None = None
    if not settings.verify:
        # private deployments often run on self-signed certificates
        verify = ssl.create_default_context()
        verify.check_hostname = False
        verify.verify_mode = ssl.CERT_NONE
    return KingdeeClient(
        settings.base_url,
        settings.auth(),
        connection=connection,
        recorder=recorder,
        timeout=settings.timeout,
        concurrency=settings.concurrency,
        envelope=settings.envelope,
        verify=verify,
    )


def _params(spec: TargetSpec) -> tuple[str | None, int, float]:
    unknown = sorted(set(spec.params) - set(_PARAMS))
    if unknown:
        raise ValueError(f"target.params: unknown key(s) {', '.join(unknown)} (known: {', '.join(_PARAMS)})")
    form_id = spec.params.get("form_id")
    try:
        attempts = int(spec.params.get("follow_up_attempts", 3))
        delay = float(spec.params.get("follow_up_retry_delay", 0.5))
    except (TypeError, ValueError):
        raise ValueError(
            "target.params: follow_up_attempts and follow_up_retry_delay must be numbers"
        ) from None
    return (str(form_id) if form_id else None), attempts, delay


def build_target(conn: Any, spec: TargetSpec, ctx: Any) -> KingdeeTarget:
    """The engine's hook (see :mod:`ferry.engine.registry`): ``conn.settings`` + ``spec`` → :class:`KingdeeTarget`."""
    settings = parse_settings(conn.settings, conn.name)
    form_id, attempts, delay = _params(spec)
    follow_ups = [
        FollowUpStep(operation=f.operation, form_id=f.form_id, params=dict(f.params), on_draft=f.on_draft)
        for f in spec.follow_up
    ]
    probe = ProbeSettings.from_mapping(spec.probe)
    if spec.api.strip().casefold() not in TARGET_APIS:
        raise ValueError(f"Kingdee target api must be one of Push, Save, BatchSave, Draft; got {spec.api!r}")
    if attempts < 1:
        raise ValueError("target.params.follow_up_attempts must be at least 1")
    # everything is checked before the client (and its connection pool) exists
    client = build_client(settings, getattr(ctx, "recorder", None), connection=conn.name)
    return KingdeeTarget(
        client,
        api=spec.api,
        batch_size=spec.batch_size,
        follow_ups=follow_ups,
        probe=probe,
        form_id=form_id,
        follow_up_attempts=attempts,
        follow_up_retry_delay=delay,
    )


def build_querier(conn: Any, ctx: Any) -> KingdeeQuerier:
    """Lookups for a scheme's ``enrich`` steps (ExecuteBillQuery)."""
    settings = parse_settings(conn.settings, conn.name)
    return KingdeeQuerier(build_client(settings, getattr(ctx, "recorder", None), connection=conn.name))


def build_source(conn: Any, spec: Any, ctx: Any) -> Any:
    """Kingdee is a target only (queries are used by the probe); a Kingdee source is not built."""
    raise ValueError(f"connection {conn.name!r} (kingdee) can only be a target")


__all__ = [
    "KingdeeSettings",
    "build_client",
    "build_querier",
    "build_source",
    "build_target",
    "parse_settings",
]
