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
      timeout: 120                 # seconds for a whole call, body included
      max_response_bytes: 16777216 # the largest answer read (default 16 MiB)
      concurrency: 4               # calls in flight (alias max_concurrency); halves on MsgCode 13/14, 5xx
      envelope: named              # named (Python SDK) | parameters (Java SDK)
      verify: true                 # TLS certificate check

Scheme side (``target``): ``api`` (Push | Save | BatchSave | Draft), ``batch_size``, ``follow_up``, ``probe``
(see :class:`~ferry.connectors.kingdee.target.ProbeSettings`) and ``params``: ``form_id`` (the Save form when
the request does not name one), ``follow_up_attempts`` (quick tries of a follow-up call inside a write or a
probe, default 3; what still failed is ``TargetDoc.pending``), ``follow_up_retry_delay`` (seconds, 0.5).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ferry.connectors.base import Check, ConnectionUse
from ferry.connectors.errors import AccessDenied, ConnectorError, GiveUp, Reauthenticate
from ferry.connectors.kingdee.auth import AuthMode
from ferry.connectors.kingdee.client import KingdeeClient
from ferry.connectors.kingdee.query import KingdeeQuerier
from ferry.connectors.kingdee.spec import KingdeeLookup, KingdeeSettings, KingdeeTargetParams, ProbeSettings
from ferry.connectors.kingdee.target import TARGET_APIS, FollowUpStep, KingdeeTarget
from ferry.connectors.settings import ConnectionSettingsError
from ferry.connectors.spec import parse
from ferry.observe.calls import CallRecorder
from ferry.scheme import TargetSpec


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
        max_response_bytes=settings.max_response_bytes,
        concurrency=settings.concurrency,
        envelope=settings.envelope,
        verify=verify,
    )


def build_target(conn: Any, spec: TargetSpec, ctx: Any) -> KingdeeTarget:
    """The engine's hook (see :mod:`ferry.engine.registry`): ``conn.settings`` + ``spec`` → :class:`KingdeeTarget`."""
    settings = parse_settings(conn.settings, conn.name)
    params: KingdeeTargetParams = parse(KingdeeTargetParams, spec.params, what="target.params")
    follow_ups = [
        FollowUpStep(operation=f.operation, form_id=f.form_id, params=dict(f.params), on_draft=f.on_draft)
        for f in spec.follow_up
    ]
    probe = ProbeSettings.from_mapping(spec.probe)
    if spec.api.strip().casefold() not in TARGET_APIS:
        raise ValueError(f"Kingdee target api must be one of Push, Save, BatchSave, Draft; got {spec.api!r}")
    # everything is checked before the client (and its connection pool) exists
    client = build_client(settings, getattr(ctx, "recorder", None), connection=conn.name)
    return KingdeeTarget(
        client,
        api=spec.api,
        batch_size=spec.batch_size,
        follow_ups=follow_ups,
        probe=probe,
        form_id=params.form_id,
        follow_up_attempts=params.follow_up_attempts,
        follow_up_retry_delay=params.follow_up_retry_delay,
    )


def build_querier(conn: Any, ctx: Any) -> KingdeeQuerier:
    """Lookups for a scheme's ``enrich`` steps (ExecuteBillQuery)."""
    settings = parse_settings(conn.settings, conn.name)
    return KingdeeQuerier(build_client(settings, getattr(ctx, "recorder", None), connection=conn.name))


def build_source(conn: Any, spec: Any, ctx: Any) -> Any:
    """Kingdee is a target only (queries are used by the probe); a Kingdee source is not built."""
    raise ValueError(f"connection {conn.name!r} (kingdee) can only be a target")


def _constant(fields: Any, name: str) -> str | None:
    """The constant value of the request field ``name`` (case-insensitive), if it has one."""
    for f in fields:
        if f.field.casefold() == name.casefold() and isinstance(f.value, str):
            value = f.value.strip()
            if value and "{" not in value and not value.startswith("_"):
                return value
    return None


def forms_to_check(use: ConnectionUse) -> dict[str, list[str]]:
    """The forms (and the fields of each) a scheme relies on: the Push source and target forms, the
    probe's form and fields, follow-up forms, and the forms lookups read. A typo in any of them would
    fail every record, or switch reconciliation off."""
    forms: dict[str, list[str]] = {}

    def need(form: str | None, *fields: str | None) -> None:
        if form:
            wanted = forms.setdefault(form, [])
            wanted.extend(f for f in fields if f and f not in wanted)

    target = use.target
    if target is not None:
        fields = [*target.request, *target.other_request]
        params: KingdeeTargetParams = parse(KingdeeTargetParams, target.params, what="target.params")
        source_form = _constant(fields, "FormId") or params.form_id
        target_form = _constant(fields, "TargetFormId")
        push = target.api.strip().casefold() == "push"
        need(source_form, "FID", "FBillNo")
        probe = ProbeSettings.from_mapping(target.probe)
        probe_form = probe.form_id or (target_form or "AP_PAYBILL" if push else source_form)
        number_field = probe.source_number_field or ("FPAYBILLSRCENTRY_FSRCBILLNO" if push else None)
        need(probe_form, probe.id_field, probe.number_field, number_field)
        for step in target.follow_up:
            need(step.form_id or target_form or source_form, "FID")
    for query in use.lookups:
        lookup: KingdeeLookup = parse(KingdeeLookup, query, what="enrich query")
        keys = lookup.fields if isinstance(lookup.fields, list) else lookup.fields.split(",")
        need(lookup.form_id, *(k.strip() for k in keys), *lookup.where)
    return forms


async def preflight(conn: Any, use: ConnectionUse, ctx: Any) -> list[Check]:
    """Before a pass: the connection logs in, and every form and field the scheme names exists."""
    name = conn.name
    settings = parse_settings(conn.settings, name)
    forms = forms_to_check(use)
    client = build_client(settings, getattr(ctx, "recorder", None), connection=name)
    checks: list[Check] = []
    try:
        if settings.auth_mode != AuthMode.SIGNED_HEADERS:
            try:
                await client.login()
            except ConnectorError as e:
                checks.append(Check(name, "login", False, f"{settings.username}@{settings.acct_id}: {e}"))
                return checks
            checks.append(Check(name, "login", True, f"{settings.username}@{settings.acct_id}"))
        for form, fields in forms.items():
            try:
                await client.execute_bill_query(form, fields or ["FID"], "", top_row_count=1)
            except (AccessDenied, Reauthenticate) as e:
                checks.append(Check(name, "authentication", False, str(e)))
                return checks
            except GiveUp as e:
                checks.append(Check(name, f"form {form}", False, f"{', '.join(fields)}: {e}"))
            except ConnectorError as e:
                checks.append(
                    Check(name, f"form {form}", False, f"could not be checked: {e}", blocking=False)
                )
            else:
                checks.append(Check(name, f"form {form}", True, ", ".join(fields)))
    finally:
        await client.aclose()
    return checks


__all__ = [
    "KingdeeSettings",
    "build_client",
    "build_querier",
    "build_source",
    "build_target",
    "forms_to_check",
    "parse_settings",
    "preflight",
]
