"""The Kingdee connector's spec: connection keys, target params, probe, lookups, capabilities.

Connection (``connections.yaml``, ``type: kingdee``; secrets only as ``${ENV}`` references)::

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

Scheme side (``target``): ``api`` (Push | Save | BatchSave | Draft), ``batch_size``, ``follow_up``,
``probe`` (:class:`ProbeSettings`) and ``params`` (:class:`KingdeeTargetParams`). ``enrich`` queries:
:class:`KingdeeLookup`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from ferry.connectors.kingdee.auth import AuthMode, KingdeeAuth
from ferry.connectors.spec import ConnectorSpec, parse

#: where the flagship Push lands, and how its payment bill names its source (reference §6, §8)
DEFAULT_SOURCE_ID_FIELD = "FPAYBILLSRCENTRY_FSRCBILLID"


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
    #: seconds for a whole call: connect, send and read every byte
    timeout: float = Field(default=120.0, gt=0, le=3600)
    #: the largest answer read (a query page, a Push reply); a larger one is refused
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
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


class KingdeeTargetParams(BaseModel):
    """A Kingdee target's ``params``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the Save form when the rendered request does not name one
    form_id: str | None = None
    #: quick tries of one follow-up call inside a write or a probe (transient answers only); what still
    #: failed is reported in ``TargetDoc.pending`` for ``finish``, which tries once per call
    follow_up_attempts: int = Field(default=3, ge=1)
    #: seconds between those tries
    follow_up_retry_delay: float = Field(default=0.5, ge=0)


class ProbeSettings(BaseModel):
    """How ``probe`` finds a document: the scheme's ``target.probe`` block.

    ``form_id``: the target form to query (default: the Push's ``TargetFormId``, else AP_PAYBILL; for
    Save, the Save's form). ``source_number_field``: the field holding the source number (default
    ``FPAYBILLSRCENTRY_FSRCBILLNO`` for Push; ``number_from`` for Save). ``number_from``: for Save
    targets, the key of the rendered request (or its ``Model``) whose value identifies the record.
    ``follow_up``: also run the follow-ups on the documents found (default true); when false, those
    the status does not show as done come back in ``pending``, for ``finish``.

    An unknown key is an error: a typo would switch the probe off, and an unprobed unknown outcome is
    a possible duplicate payment.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    form_id: str | None = Field(default=None, validation_alias=AliasChoices("form_id", "formid", "FormId"))
    source_number_field: str | None = Field(
        default=None, validation_alias=AliasChoices("source_number_field", "source_field")
    )
    source_id_field: str = DEFAULT_SOURCE_ID_FIELD
    number_field: str = "FBillNo"
    id_field: str = "FID"
    status_field: str = "FDocumentStatus"
    number_from: str | None = None
    extra_filter: str | None = None
    follow_up: bool = True

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> ProbeSettings:
        """Read the scheme's ``probe`` mapping, or raise a ConfigError naming the bad key."""
        if not raw:
            return cls()
        settings: ProbeSettings = parse(cls, raw, what="target.probe")
        return settings


class KingdeeLookup(BaseModel):
    """An ``enrich`` query answered by ExecuteBillQuery; values in ``where`` are templates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    form_id: str = Field(min_length=1)
    #: field keys to read (a list, or a comma-separated text)
    fields: list[str] | str
    #: field: value; an unfiltered lookup would read a whole form for every record
    where: dict[str, Any] = Field(min_length=1)
    limit: int = Field(default=2, ge=1, le=100)


SPEC = ConnectorSpec(
    name="kingdee",
    summary="Kingdee Cloud Galaxy (金蝶云星空) WebAPI: Push, Save, BatchSave, Draft, follow-ups, lookups",
    settings=KingdeeSettings,
    factory="ferry.connectors.kingdee.factory",
    capabilities=frozenset({"target", "lookup", "probe", "preflight"}),
    target_params=KingdeeTargetParams,
    probe=ProbeSettings,
    lookup=KingdeeLookup,
)

__all__ = ["SPEC", "KingdeeLookup", "KingdeeSettings", "KingdeeTargetParams", "ProbeSettings"]
