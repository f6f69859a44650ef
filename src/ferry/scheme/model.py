"""The scheme model (集成方案): one pydantic model, two spellings.

A scheme is written either in Ferry's native YAML form (readable snake_case names) or as the JSON
metadata that Qingyi Cloud (轻易云) exports (camelCase: ``idCheck``, ``otherRequest``, ``beatFlat``,
``effect`` or ``type``). Every field has its native name and, where Qingyi differs, an alias; both
are accepted. Unknown keys (Qingyi UI state such as ``display``, ``enableDisplay``, ``name``,
``condition_bk``) are tolerated and preserved, so a scheme round-trips without loss.

Field lists (``request``, ``otherRequest``, ``response``, ...) accept three shapes and normalise to
one tree of :class:`FieldSpec`: a list of field objects nested with ``children``; a flat list whose
items point at their parent with ``parent``; or a plain mapping ``{"FormId": "CN_PAYAPPLY"}``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_CRON_FIELDS = 5
_INTERVAL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_INTERVAL_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class _Model(BaseModel):
    """Base: accept both spellings, keep unknown keys (Qingyi UI state) instead of rejecting them."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", validate_default=True)


class _Strict(BaseModel):
    """Base for Ferry-only blocks where an unknown key is a typo, not UI state."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class Parser(_Model):
    """A value parser (解析器), e.g. ``{"name": "ConvertObjectParser", "params": "FNumber"}``."""

    name: str
    params: Any = None


class FieldSpec(_Model):
    """One request or response field.

    ``value`` is a constant, a template (``{{单据编号}}``), a ``_function`` expression or a
    ``_findCollection`` lookup. An ``array`` field whose value is a bare key (``details_list``)
    repeats its ``children`` once per child row of that key.
    """

    field: str
    label: str | None = None
    type: str = "string"
    describe: str | None = None
    value: Any = None
    id: str | None = None
    parent: str | None = None
    children: list[FieldSpec] = Field(default_factory=list)
    parser: Parser | None = None
    is_required: bool = Field(default=False, validation_alias=AliasChoices("is_required", "required"))
    default: Any = None
    #: static value map (静态映射): source value -> target value
    value_map: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("value_map", "valueMap", "mapping")
    )

    @field_validator("children", mode="before")
    @classmethod
    def _children_shapes(cls, v: Any) -> Any:
        return normalise_fields(v)

    @field_validator("is_required", mode="before")
    @classmethod
    def _truthy(cls, v: Any) -> Any:
        # Qingyi exports write booleans as strings now and then ("true", "1")
        if isinstance(v, str):
            return v.strip().lower() in {"true", "1", "yes"}
        return v


class ConditionTerm(_Model):
    """One filter term: ``{"field": "status", "logic": "eq", "value": "COMPLETED"}``."""

    field: str
    logic: Literal[
        "eq",
        "eqv2",
        "neq",
        "gt",
        "egt",
        "lt",
        "elt",
        "like",
        "notlike",
        "between",
        "notnull",
        "isnull",
        "in",
        "notin",
    ]
    value: Any = None


class FormatRule(_Model):
    """A ``formatResponse`` rule: derive ``new`` from ``old`` with a format such as ``date`` or ``round(2)``."""

    old: str
    new: str
    format: str


class Schedule(_Strict):
    """When a side runs: a 5-field cron expression or a fixed interval (``30s``, ``5m``, ``1h`` or seconds)."""

    cron: str | None = Field(default=None, validation_alias=AliasChoices("cron", "crontab"))
    interval: float | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = v.split()
        if len(parts) != _CRON_FIELDS:
            raise ValueError(
                f"cron must have 5 fields (minute hour day month weekday), got {len(parts)}: {v!r}"
            )
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"invalid cron expression: {v!r}")
        return v

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> Any:
        if isinstance(v, str):
            m = _INTERVAL_RE.match(v)
            if not m:
                raise ValueError(f"interval must look like 30s, 5m, 1h, 1d or a number of seconds, got {v!r}")
            return float(m.group(1)) * _INTERVAL_UNITS[m.group(2)]
        return v

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a schedule has exactly one of 'cron' or 'interval'")
        if self.interval is not None and self.interval <= 0:
            raise ValueError("interval must be positive")
        return self


def _schedule_shapes(v: Any) -> Any:
    # "*/5 * * * *" or 300 are accepted as shorthands for {cron: ...} / {interval: ...}
    if isinstance(v, str):
        return {"cron": v} if len(v.split()) == _CRON_FIELDS else {"interval": v}
    if isinstance(v, int | float) and not isinstance(v, bool):
        return {"interval": v}
    return v


class Pagination(_Model):
    """Paging of a source API. ``style`` is for the generic REST connector; Qingyi sets only ``pageSize``."""

    page_size: int | None = Field(default=None, validation_alias=AliasChoices("page_size", "pageSize"), gt=0)
    style: Literal["page", "offset", "cursor", "next_link", "none"] | None = None
    start_page: int = Field(default=1, validation_alias=AliasChoices("start_page", "startPage"))
    #: where the page number / offset / cursor goes in the request
    param: str | None = None
    #: where the size goes in the request
    size_param: str | None = Field(default=None, validation_alias=AliasChoices("size_param", "sizeParam"))
    #: dotted path of the next cursor or next link in the response
    next_path: str | None = Field(default=None, validation_alias=AliasChoices("next_path", "nextPath"))
    #: dotted path of the total count in the response (stops page paging early)
    total_path: str | None = Field(default=None, validation_alias=AliasChoices("total_path", "totalPath"))


class OmissionRemedy(_Model):
    """漏单补救: a wider re-scan on its own schedule, with request fields that replace the usual ones.

    The remedy pass reads ``[now - days, now)`` for every partition without moving the watermark, so a
    record the regular passes missed (it arrived late, or an outage hid it) is collected; ``idCheck``
    leaves the records already stored as they are. ``take_over_request`` fields replace the source's
    request fields of the same name for this pass (Qingyi writes the window there, e.g.
    ``{{DAYS_AGO_2|datetime}}``); the other request fields, such as the page number, stay.
    """

    crontab: str | None = Field(
        default=None,
        validation_alias=AliasChoices("crontab", "cron"),
        description="when the remedy pass runs (5-field cron, in the scheme's time zone); unset: by hand only",
    )
    #: Qingyi's adapter class name; informative (Ferry uses the source's own connector)
    adapter: str | None = None
    take_over_request: list[FieldSpec] = Field(
        default_factory=list,
        validation_alias=AliasChoices("take_over_request", "takeOverRequest"),
        description="request fields for the remedy pass, replacing the source's fields of the same name",
    )
    days: float = Field(default=2.0, gt=0, description="how far back the remedy pass reaches, in days")

    @field_validator("take_over_request", mode="before")
    @classmethod
    def _fields(cls, v: Any) -> Any:
        return normalise_fields(v)

    @field_validator("crontab")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return Schedule(cron=v).cron if v else v


class _Side(_Model):
    connection: str | None = None
    api: str
    #: HTTP verb; unset means the connector's own default (GET for a REST source, POST otherwise)
    method: str | None = None
    effect: str | None = Field(default=None, validation_alias=AliasChoices("effect", "type"))
    id_check: bool = Field(default=True, validation_alias=AliasChoices("id_check", "idCheck"))
    request: list[FieldSpec] = Field(default_factory=list)
    other_request: list[FieldSpec] = Field(
        default_factory=list, validation_alias=AliasChoices("other_request", "otherRequest")
    )
    #: connector-specific settings (e.g. DingTalk process codes); never secrets
    params: dict[str, Any] = Field(default_factory=dict)
    schedule: Schedule | None = None

    @field_validator("request", "other_request", mode="before")
    @classmethod
    def _fields(cls, v: Any) -> Any:
        return normalise_fields(v)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, v: Any) -> Any:
        return _schedule_shapes(v)

    @field_validator("method")
    @classmethod
    def _method(cls, v: str | None) -> str | None:
        if v is None:
            return None
        m = v.upper()
        if m not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            raise ValueError(f"method must be an HTTP verb, got {v!r}")
        return m

    @field_validator("id_check", mode="before")
    @classmethod
    def _truthy(cls, v: Any) -> Any:
        if isinstance(v, str):
            return v.strip().lower() in {"true", "1", "yes"}
        return v


class SourceSpec(_Side):
    """The source side (请求调度者): which API to read and how to turn its answers into records."""

    #: dotted path of the record's unique key (Qingyi ``id``)
    id: str = "id"
    #: dotted path of the business document number shown to people (Qingyi ``number``)
    number: str | None = None
    response: list[FieldSpec] = Field(default_factory=list)
    other_response: list[FieldSpec] = Field(
        default_factory=list, validation_alias=AliasChoices("other_response", "otherResponse")
    )
    #: dotted path of the record list in a response (the generic REST connector)
    records_path: str | None = Field(
        default=None, validation_alias=AliasChoices("records_path", "recordsPath")
    )
    pagination: Pagination | None = None
    condition: list[list[ConditionTerm]] = Field(default_factory=list)
    strict_mode: bool = Field(default=False, validation_alias=AliasChoices("strict_mode", "strictMode"))
    beat_flat: list[str] = Field(default_factory=list, validation_alias=AliasChoices("beat_flat", "beatFlat"))
    format_response: list[FormatRule] = Field(
        default_factory=list, validation_alias=AliasChoices("format_response", "formatResponse")
    )
    omission_remedy: OmissionRemedy | None = Field(
        default=None, validation_alias=AliasChoices("omission_remedy", "omissionRemedy")
    )
    #: what to do when a record already taken comes back with different content
    on_change: Literal["ignore", "rewrite"] = Field(
        default="ignore", validation_alias=AliasChoices("on_change", "onChange")
    )
    #: seconds each collect window reaches back before the watermark; idCheck makes the overlap harmless
    lookback: float = Field(default=300.0, ge=0)
    #: the first window starts this many days before now when no watermark exists
    initial_days: float = Field(
        default=7.0, gt=0, validation_alias=AliasChoices("initial_days", "initialDays")
    )
    #: the longest window one list call may cover (split automatically)
    max_window_days: float | None = Field(
        default=None, gt=0, validation_alias=AliasChoices("max_window_days", "maxWindowDays")
    )

    @field_validator("condition", mode="before")
    @classmethod
    def _condition_shapes(cls, v: Any) -> Any:
        # a single AND-group written as a flat list is accepted as one group
        if isinstance(v, list) and v and all(isinstance(t, dict) for t in v):
            return [v]
        if v is None:
            return []
        return v

    @field_validator("beat_flat", mode="before")
    @classmethod
    def _beat_flat_shapes(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [v]
        return v or []


class FollowUp(_Strict):
    """An operation run on the document the target created, e.g. Kingdee Submit then Audit."""

    operation: str
    #: the form of the created document (defaults to the target's ``TargetFormId`` or ``FormId``)
    form_id: str | None = Field(default=None, validation_alias=AliasChoices("form_id", "formId", "FormId"))
    #: extra parameters for the operation's request
    params: dict[str, Any] = Field(default_factory=dict)
    #: also run it when the target kept only a draft (normally pointless: a draft cannot be submitted)
    on_draft: bool = False


class TargetSpec(_Side):
    """The target side (目标调度者): which API to call and how to build its request from a record."""

    batch_size: int = Field(
        default=1, ge=1, le=1000, validation_alias=AliasChoices("batch_size", "batchSize")
    )
    follow_up: list[FollowUp] = Field(
        default_factory=list, validation_alias=AliasChoices("follow_up", "followUp")
    )
    #: how the engine finds a document whose write had an unknown outcome (connector-specific)
    probe: dict[str, Any] | None = None

    @field_validator("follow_up", mode="before")
    @classmethod
    def _follow_up_shapes(cls, v: Any) -> Any:
        # ["Submit", "Audit"] is shorthand for [{"operation": "Submit"}, {"operation": "Audit"}]
        if isinstance(v, list):
            return [{"operation": x} if isinstance(x, str) else x for x in v]
        return v or []


class Enrichment(_Strict):
    """A lookup (联查) made before a record is checked and written: the first row a connection's query
    returns is added to the record under ``name`` (None when nothing matched), for quality rules and
    the request to use. Values in ``query`` are templates over the record.

    Example: read the Kingdee payment request named on a DingTalk form, to compare amounts.
    """

    name: str = Field(pattern=r"^[A-Za-z_\u4e00-\u9fff][\w\u4e00-\u9fff]*$")
    #: the connection to ask (default: the target's)
    connection: str | None = None
    #: connector-specific query, e.g. {form_id, fields, filter} for Kingdee or {path, params} for REST
    query: dict[str, Any]


class QualityRule(_Strict):
    """A data-quality rule (数据质量): a record failing it is quarantined with ``message`` as the reason.

    ``check`` is a ``_function`` expression (the prefix may be omitted) that must be true. ``message``
    may hold templates (``{{付款金额}}``) so the reason shows the values that failed.
    """

    name: str
    check: str
    message: str | None = None
    #: only records for which this expression is true are checked
    when: str | None = None


class RetryPolicy(_Strict):
    """How failed writes are retried: exponential back-off with jitter and a cap, then dead."""

    max_attempts: int = Field(default=8, ge=1)
    initial_delay: float = Field(default=10.0, gt=0, description="seconds before the first retry")
    max_delay: float = Field(default=3600.0, gt=0, description="cap on one back-off, seconds")
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="± fraction of each delay")


class Scheme(_Model):
    """One integration scheme (集成方案): a source, a target, and what lies between."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
    name: str | None = None
    description: str | None = None
    timezone: str = "Asia/Shanghai"
    source: SourceSpec
    target: TargetSpec
    enrich: list[Enrichment] = Field(default_factory=list)
    quality: list[QualityRule] = Field(default_factory=list)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    #: Qingyi-style ``_function`` error behaviour: return the raw text instead of failing the record
    compat: bool = False

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v


def normalise_fields(v: Any) -> Any:
    """Turn the accepted field-list shapes into a list of field dicts nested by ``children``.

    - a mapping ``{"FormId": "CN_PAYAPPLY"}`` becomes ``[{"field": "FormId", "value": "CN_PAYAPPLY"}]``;
    - a flat list whose items name a ``parent`` (by that item's ``id`` or ``field``) becomes a tree,
      keeping the written order, which Kingdee depends on.
    Anything else is returned untouched for pydantic to report.
    """
    if v is None:
        return []
    if isinstance(v, dict):
        return [{"field": str(k), "value": val} for k, val in v.items()]
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        return v
    if not any(x.get("parent") for x in v):
        return v
    items = [dict(x) for x in v]
    by_key: dict[str, dict[str, Any]] = {}
    for item in items:
        for key in (item.get("id"), item.get("field")):
            if isinstance(key, str) and key and key not in by_key:
                by_key[key] = item
    roots: list[dict[str, Any]] = []
    for item in items:
        parent = item.get("parent")
        if parent and parent in by_key and by_key[parent] is not item:
            holder = by_key[parent]
            holder["children"] = [*list(holder.get("children") or []), item]
        else:
            roots.append(item)
    return roots


FieldSpec.model_rebuild()
