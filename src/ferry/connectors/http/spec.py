"""The generic REST connector's spec: connection keys, side params, probe, lookups, capabilities.

Connection (``type: http``, alias ``rest``)::

    orders_api:
      type: http
      base_url: https://api.example.com/v1
      auth: {type: bearer, token: "${ORDERS_TOKEN}"}   # none | bearer | basic | header | query
      timeout: 30               # seconds for the whole call
      max_concurrency: 8        # calls in flight
      limits: {per_second: 10, per_day: 50000}           # what the API allows (for the quota view)

The side keys a REST scheme may set inside ``params`` (the same keys may also stand on the side itself,
where the Qingyi form puts them): :class:`RestSourceParams`, :class:`RestTargetParams`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ferry.connectors.spec import ConnectorSpec

_STRICT = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RestAuthSettings(BaseModel):
    """``auth``: how requests prove who sends them. Which keys are needed depends on ``type``."""

    model_config = _STRICT

    type: Literal["none", "bearer", "basic", "header", "query"] = "none"
    #: bearer: a fixed token ...
    token: str | None = None
    #: ... or one fetched from a token endpoint (OAuth2 client credentials)
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    grant_type: str | None = None
    token_path: str | None = None
    scheme: str | None = None
    #: basic
    username: str | None = None
    password: str | None = None
    #: header / query: the key and where it goes
    name: str | None = None
    key: str | None = None
    prefix: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> RestAuthSettings:
        needed: dict[str, tuple[str, ...]] = {
            "basic": ("username", "password"),
            "header": ("key",),
            "query": ("key",),
        }
        wanted = needed.get(self.type, ())
        if self.type == "bearer":
            wanted = ("token_url", "client_id", "client_secret") if self.token_url else ("token",)
        missing = [k for k in wanted if not getattr(self, k)]
        if missing:
            raise ValueError(f"auth type {self.type!r} needs: {', '.join(missing)}")
        return self


class RestLimits(BaseModel):
    """What the API's owner allows; the quota view compares usage with these."""

    model_config = _STRICT

    per_second: float | None = Field(default=None, gt=0)
    per_minute: float | None = Field(default=None, gt=0)
    per_day: float | None = Field(default=None, gt=0)
    per_month: float | None = Field(default=None, gt=0)


class RestConnection(BaseModel):
    """A ``type: http`` connection."""

    model_config = _STRICT

    base_url: str = Field(min_length=1)
    auth: RestAuthSettings | Literal["none"] | None = None
    #: seconds for the whole call (connect, send, read)
    timeout: float = Field(default=30.0, gt=0, le=3600)
    connect_timeout: float | None = Field(default=None, gt=0, le=3600)
    headers: dict[str, str] = Field(default_factory=dict)
    max_concurrency: int = Field(default=8, ge=1, le=256)
    verify: bool = True
    limits: RestLimits | None = None
    #: the largest answer read, in bytes; a larger one is refused (default 16 MiB)
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)


class RestPagination(BaseModel):
    """``pagination`` (on the side or in its params)."""

    model_config = _STRICT

    style: Literal["page", "offset", "cursor", "next_link", "none"] | None = None
    page_size: int | None = Field(default=None, gt=0)
    start_page: int | None = None
    param: str | None = None
    size_param: str | None = None
    next_path: str | None = None
    total_path: str | None = None
    has_more_path: str | None = None
    max_pages: int | None = Field(default=None, ge=1)


class RestSuccess(BaseModel):
    """``success``: the answer's value at ``path`` that means it worked (``equals``, or one of ``in``)."""

    model_config = _STRICT

    path: str = Field(min_length=1)
    equals: Any = True
    in_: list[Any] | None = Field(default=None, alias="in")


class RestSourceParams(BaseModel):
    """A REST source's ``params``."""

    model_config = _STRICT

    pagination: RestPagination | None = None
    records_path: str | None = None
    #: static query parameters on every call
    query: dict[str, Any] = Field(default_factory=dict)
    #: the name calls are recorded under (default ``GET /path``)
    api_name: str | None = None
    #: how a page says the call worked, and where it reports an error (default: error-shaped bodies fail)
    success: RestSuccess | None = None
    error_path: str | None = None


class RestProbe(BaseModel):
    """``target.probe``: a lookup that finds a document an earlier write created.

    ``{source_id}``, ``{number}`` and ``{key}`` in ``path``, ``params`` and ``json`` are filled in.
    """

    model_config = _STRICT

    path: str | None = None
    api: str | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "get", "post"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    found_path: str | None = None
    id_path: str | None = None
    number_path: str | None = None
    api_name: str | None = None


class RestTargetParams(BaseModel):
    """A REST target's ``params``."""

    model_config = _STRICT

    batch_mode: Literal["single", "array"] = "single"
    batch_key: str | None = None
    results_path: str | None = None
    index_key: str = "index"
    id_path: str | None = "id"
    number_path: str | None = None
    query: dict[str, Any] = Field(default_factory=dict)
    api_name: str | None = None
    probe: RestProbe | None = None
    #: how an answer (or one item's result) says the write worked; see docs/connectors/http.md
    success: RestSuccess | None = None
    error_path: str | None = None
    #: an empty 2xx answer counts as written (an API that answers 201/204 without a body)
    accept_empty: bool = False


class RestLookup(BaseModel):
    """An ``enrich`` query over REST: ``path`` (+ ``params``), rows at ``records_path``."""

    model_config = _STRICT

    path: str = Field(min_length=1)
    method: Literal["GET", "POST", "get", "post"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict)
    records_path: str | None = None
    api_name: str | None = None


SPEC = ConnectorSpec(
    name="http",
    aliases=("rest",),
    summary="any JSON REST API: paging, auth, single or array writes, a probe by lookup",
    settings=RestConnection,
    factory="ferry.connectors.http.factory",
    capabilities=frozenset({"source", "target", "lookup", "probe"}),
    source_params=RestSourceParams,
    target_params=RestTargetParams,
    probe=RestProbe,
    lookup=RestLookup,
)

__all__ = [
    "SPEC",
    "RestAuthSettings",
    "RestConnection",
    "RestLimits",
    "RestLookup",
    "RestPagination",
    "RestProbe",
    "RestSourceParams",
    "RestSuccess",
    "RestTargetParams",
]
