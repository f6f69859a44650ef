"""The DingTalk connector's spec: its connection keys, its source params, what it can do.

Connection (``connections.yaml``, ``type: dingtalk``)::

    dingtalk_main:
      type: dingtalk
      app_key: dingxxxxxxxxxxxxxxxx        # the app's Client ID (AppKey)
      app_secret: ${DINGTALK_APP_SECRET}   # the app's Client Secret
      api_style: v1                        # v1 (api.dingtalk.com) or oapi (legacy oapi.dingtalk.com)
      qps: 20                              # calls per second per API for this app
      monthly_quota: 5000                  # the org's monthly allowance of metered calls
      # events: HTTP push (事件订阅 → HTTP 推送) ...
      event_token: ${DINGTALK_EVENT_TOKEN}
      event_aes_key: ${DINGTALK_EVENT_AES_KEY}
      # ... or Stream mode (no public URL needed)
      stream: true

A scheme's ``source.params`` for a DingTalk approval source: :class:`ApprovalParams`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ferry.connectors.spec import ConnectorSpec

ApiStyle = Literal["oapi", "v1"]

#: both hosts refuse pages larger than this
MAX_PAGE_SIZE = 20


class DingTalkSettings(BaseModel):
    """What the protocol client needs: which app, which host style, where the hosts are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connection: str = "dingtalk"
    app_key: str = Field(min_length=1)
    app_secret: SecretStr
    api_style: ApiStyle = "v1"
    oapi_base: str = "https://oapi.dingtalk.com"
    api_base: str = "https://api.dingtalk.com"
    #: calls per second per API for this app (a standard org has 20)
    qps: float = Field(default=20.0, gt=0)
    #: seconds for a whole call: connect, send and read every byte
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    #: the largest answer read; a larger one is refused
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    #: fetch a new token this long before the old one expires
    refresh_margin_s: float = Field(default=300.0, ge=0)
    #: read v1.0 ``…Z`` times as Beijing wall-clock time (what captures show) rather than UTC
    v1_z_is_beijing: bool = True


class DingTalkConnection(DingTalkSettings):
    """A ``type: dingtalk`` connection: the client's keys plus quota and event intake."""

    #: the org's monthly allowance of metered calls (a standard org has 5,000)
    monthly_quota: int = Field(default=5000, ge=0)
    #: HTTP-push events: the token and AES key set in the app's 事件订阅 page
    event_token: SecretStr | None = None
    event_aes_key: SecretStr | None = None
    #: the key the callback is encrypted for: the app key for an internal app (the default)
    event_owner_key: str | None = None
    #: where ``ferry serve`` receives HTTP-push events
    event_path: str = Field(default="/dingtalk/events", pattern=r"^/[A-Za-z0-9/_.-]*$")
    #: Stream mode: ``ferry serve`` opens a WebSocket to DingTalk and receives events over it
    stream: bool = False

    def client_settings(self, connection: str) -> DingTalkSettings:
        """The part the protocol client takes."""
        keys = set(DingTalkSettings.model_fields) - {"connection"}
        return DingTalkSettings(connection=connection, **{k: getattr(self, k) for k in keys})

    @property
    def http_events(self) -> bool:
        """True when the connection is set up for HTTP-push events (token and AES key given)."""
        return self.event_token is not None and self.event_aes_key is not None


class ApprovalParams(BaseModel):
    """The scheme's ``source.params`` for a DingTalk source; an unknown key is a typo and refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: one template code or a list; each is its own watermark partition
    process_code: tuple[str, ...] = Field(min_length=1)
    #: instance statuses taken as records to write
    statuses: tuple[str, ...] = ("COMPLETED",)
    #: the result a COMPLETED instance must have (``agree``); null takes any result
    result: tuple[str, ...] | None = ("agree",)
    #: RUNNING instances are re-checked until they are this old, then skipped
    max_age_days: float = Field(default=60, gt=0)
    #: the most detail calls in flight at once; by default as many as the rate limit and the observed
    #: latency need (Little's law, :mod:`ferry.connectors.dingtalk.flow`), up to 64. The rate limiter
    #: paces them either way
    concurrency: int | None = Field(default=None, ge=1, le=64)
    #: IDs per list call (DingTalk allows at most 20)
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    #: v1 host only: ask the list API for RUNNING + the wanted statuses, so revoked instances cost no
    #: detail call. Off by default: an instance in a state the filter cannot name (NEW) would be missed.
    list_status_filter: bool = False
    #: events are on (HTTP push or Stream): a newly listed instance is stored as a ``watching`` stub
    #: without a detail call, since its finish event will fetch it; stubs and running instances are
    #: looked at again only after ``event_grace_hours``, in case an event was lost
    events: bool = False
    event_grace_hours: float = Field(default=24.0, gt=0)
    #: tries of one call on a transient or throttling answer before the pass gives up
    attempts: int = Field(default=5, ge=1)
    #: first back-off after a transient answer, doubled each try
    retry_base_s: float = Field(default=1.0, ge=0)

    @field_validator("process_code", "statuses", "result", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        if isinstance(v, str):
            return (v,)
        return v

    @field_validator("statuses")
    @classmethod
    def _upper(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(s.upper() for s in v)


SPEC = ConnectorSpec(
    name="dingtalk",
    summary="DingTalk OA approvals (钉钉审批): approval instances as a source, with events",
    settings=DingTalkConnection,
    factory="ferry.connectors.dingtalk.factory",
    capabilities=frozenset({"source", "refetch", "events", "preflight"}),
    source_params=ApprovalParams,
)

__all__ = ["MAX_PAGE_SIZE", "SPEC", "ApiStyle", "ApprovalParams", "DingTalkConnection", "DingTalkSettings"]
