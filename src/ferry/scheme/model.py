"""The scheme model (集成方案): one pydantic model, two spellings.

A scheme is written either in Ferry's native YAML form (readable snake_case names) or as the JSON
metadata that Qingyi Cloud (轻易云) exports (camelCase: ``idCheck``, ``otherRequest``, ``beatFlat``,
``effect`` or ``type``). Every field has its native name and, where Qingyi differs, an alias; both
are accepted in both forms.

Blocks Qingyi also writes (:class:`~ferry.scheme.base.QingyiBlock`) keep unknown keys in
``model_extra``, so Qingyi metadata round-trips; Ferry-only blocks (:class:`~ferry.scheme.base.FerryBlock`)
refuse them. How a *file* treats unknown keys (native: errors; Qingyi: editor keys kept, near misses
errors, the rest warnings) is the loader's rule, see :mod:`ferry.scheme.load`.

Field lists, filters and derived fields are in :mod:`ferry.scheme.fields`, schedules in
:mod:`ferry.scheme.schedule`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, PrivateAttr, field_validator

from ferry.scheme.base import FerryBlock, QingyiBlock
from ferry.scheme.fields import ConditionTerm, FieldSpec, FormatRule, Parser, normalise_fields, truthy
from ferry.scheme.quality import AnomalyChecks, QualityRule
from ferry.scheme.schedule import Schedule, check_cron, schedule_shapes

#: a connector type name, as connectors register themselves (``dingtalk``, ``kingdee``, ``http``)
_CONNECTOR = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"


class Pagination(QingyiBlock):
    """Paging of a source API. ``style`` is for the generic REST connector; Qingyi sets only ``pageSize``."""

    page_size: int | None = Field(default=None, validation_alias=AliasChoices("page_size", "pageSize"), gt=0)
    style: Literal["page", "offset", "cursor", "next_link", "none"] | None = None
    start_page: int = Field(default=1, ge=0, validation_alias=AliasChoices("start_page", "startPage"))
    #: where the page number / offset / cursor goes in the request
    param: str | None = None
    #: where the size goes in the request
    size_param: str | None = Field(default=None, validation_alias=AliasChoices("size_param", "sizeParam"))
    #: dotted path of the next cursor or next link in the response
    next_path: str | None = Field(default=None, validation_alias=AliasChoices("next_path", "nextPath"))
    #: dotted path of the total count in the response (stops page paging early)
    total_path: str | None = Field(default=None, validation_alias=AliasChoices("total_path", "totalPath"))
    #: dotted path of a "there is more" flag in the response
    has_more_path: str | None = Field(
        default=None, validation_alias=AliasChoices("has_more_path", "hasMorePath")
    )
    #: stop after this many pages (a guard against an API that never says it is done)
    max_pages: int | None = Field(default=None, ge=1, validation_alias=AliasChoices("max_pages", "maxPages"))


class OmissionRemedy(QingyiBlock):
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
        return check_cron(v) if v else v


class _Side(QingyiBlock):
    block = "side"

    #: the connector type that serves this side (``dingtalk``, ``kingdee``, ``http``); lets
    #: ``ferry validate`` check ``params`` and ``probe`` without a connections file
    connector: str | None = Field(default=None, pattern=_CONNECTOR)
    #: the connection's name in the connections file (credentials live there)
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
        return schedule_shapes(v)

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
        return truthy(v)


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


class FollowUp(FerryBlock):
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


class Enrichment(FerryBlock):
    """A lookup (联查) made before a record is checked and written: the first row a connection's query
    returns is added to the record under ``name`` (None when nothing matched), for quality rules and
    the request to use. Values in ``query`` are templates over the record.

    Example: read the Kingdee payment request named on a DingTalk form, to compare amounts.
    """

    name: str = Field(pattern=r"^[A-Za-z_\u4e00-\u9fff][\w\u4e00-\u9fff]*$")
    #: the connection to ask (default: the target's)
    connection: str | None = None
    #: the connector type of that connection, when no connections file says (see ``_Side.connector``)
    connector: str | None = Field(default=None, pattern=_CONNECTOR)
    #: connector-specific query, e.g. {form_id, fields, filter} for Kingdee or {path, params} for REST
    query: dict[str, Any]


class RetryPolicy(FerryBlock):
    """How failed writes are retried: exponential back-off with jitter and a cap, then dead."""

    max_attempts: int = Field(default=8, ge=1)
    initial_delay: float = Field(default=10.0, gt=0, description="seconds before the first retry")
    max_delay: float = Field(default=3600.0, gt=0, description="cap on one back-off, seconds")
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="± fraction of each delay")


class Scheme(QingyiBlock):
    """One integration scheme (集成方案): a source, a target, and what lies between."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
    name: str | None = None
    description: str | None = None
    timezone: str = "Asia/Shanghai"
    source: SourceSpec
    target: TargetSpec
    enrich: list[Enrichment] = Field(default_factory=list)
    quality: list[QualityRule] = Field(default_factory=list)
    #: history-aware anomaly checks of payment documents (off unless the block is there)
    checks: AnomalyChecks | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    amount_field: str | None = Field(
        default=None,
        max_length=200,
        description="the source field holding each record's amount; the console totals it (today's amounts)",
    )
    #: Qingyi-style ``_function`` error behaviour: return the raw text instead of failing the record
    compat: bool = False

    #: the file this scheme was loaded from, with the place of every key (None when built in code)
    _document: Any = PrivateAttr(default=None)

    @property
    def document(self) -> Any:
        """The :class:`~ferry.scheme.document.Document` it was loaded from, or None (built in code)."""
        return self._document

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:  # not found, not a key (".."), too long for the file system
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v


__all__ = [
    "AnomalyChecks",
    "ConditionTerm",
    "Enrichment",
    "FieldSpec",
    "FollowUp",
    "FormatRule",
    "OmissionRemedy",
    "Pagination",
    "Parser",
    "QualityRule",
    "RetryPolicy",
    "Schedule",
    "Scheme",
    "SourceSpec",
    "TargetSpec",
    "normalise_fields",
]
