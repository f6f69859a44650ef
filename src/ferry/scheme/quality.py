"""The scheme's data-quality blocks: declarative rules (``quality:``) and anomaly checks (``checks:``).

A rule looks at one record; a check also looks at the scheme's history (the ledger). Both are
Ferry-only blocks: an unknown key is an error. What they do is :mod:`ferry.quality`'s business.

Severity:

- ``quarantine`` (the default of a rule, today's behaviour): the record is invalid; it waits, quarantined,
  for a fix at the source.
- ``block``: the record may be valid but needs a person: it is held for review (待复核) before any target
  call and released or rejected by hand.
- ``warn``: a note is stored and the record goes on.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ferry.scheme.base import FerryBlock

Severity = Literal["quarantine", "block", "warn"]
RuleKind = Literal[
    "expression", "required", "type", "regex", "range", "enum", "length", "date", "lookup", "unique"
]

#: the keys each rule kind needs (one of each tuple), besides ``name``
_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "expression": (("check",),),
    "required": (("field", "fields"),),
    "type": (("field",), ("type",)),
    "regex": (("field",), ("pattern",)),
    "range": (("field",), ("min", "max")),
    "enum": (("field",), ("values",)),
    "length": (("field",), ("min_length", "max_length")),
    "date": (("field",),),
    "lookup": (("lookup",),),
    "unique": (("field", "fields"),),
}
#: the keys each kind may have besides the common ones (name, kind, severity, message, when)
_MAY: dict[str, set[str]] = {
    "expression": {"check"},
    "required": {"field", "fields"},
    "type": {"field", "type"},
    "regex": {"field", "pattern"},
    "range": {"field", "min", "max"},
    "enum": {"field", "values"},
    "length": {"field", "min_length", "max_length"},
    "date": {"field", "not_future", "closed_before", "closed_months"},
    "lookup": {"lookup"},
    "unique": {"field", "fields", "window_days"},
}
_SPECIFIC = set().union(*_MAY.values())


class QualityRule(FerryBlock):
    """One data-quality rule (数据质量). ``kind`` defaults to ``expression`` (a ``check`` that must be
    true, the ``_function`` prefix optional); ``message`` may hold templates (``{{付款金额}}``, and
    ``{{value}}`` for the value looked at) so the reason shows what failed.

    Kinds: ``required`` (``field`` or ``fields``), ``type`` (number, integer, string, boolean, date),
    ``regex`` (``pattern``, whole value), ``range`` (``min``/``max``), ``enum`` (``values``), ``length``
    (``min_length``/``max_length``), ``date`` (``not_future``, ``closed_before`` a date, ``closed_months``
    list of ``YYYY-MM``), ``lookup`` (the named ``enrich`` step found a row), ``unique`` (no other record
    of the scheme had the same ``field``/``fields`` value within ``window_days``).
    """

    name: str = Field(min_length=1, max_length=100)
    kind: RuleKind = "expression"
    check: str | None = None
    field: str | None = None
    fields: list[str] | None = None
    type: Literal["number", "integer", "string", "boolean", "date"] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    values: list[Any] | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    not_future: bool = True
    closed_before: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    closed_months: list[str] | None = None
    lookup: str | None = None
    window_days: float = Field(default=30.0, gt=0)
    severity: Severity = "quarantine"
    message: str | None = None
    #: only records for which this expression is true are checked
    when: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> QualityRule:
        given = {k for k in _SPECIFIC if k in self.model_fields_set}
        for options in _NEEDS[self.kind]:
            if not any(getattr(self, k) is not None for k in options):
                raise ValueError(f"a {self.kind} rule needs {' or '.join(repr(k) for k in options)}")
        extra = sorted(given - _MAY[self.kind])
        if extra:
            raise ValueError(f"a {self.kind} rule does not take {', '.join(repr(k) for k in extra)}")
        if self.pattern is not None:
            import re

            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern is not a regular expression: {e}") from None
        for month in self.closed_months or []:
            if not (len(month) == 7 and month[4] == "-" and month[:4].isdigit() and month[5:].isdigit()):
                raise ValueError(f"closed_months takes YYYY-MM, not {month!r}")
        return self


class _Check(FerryBlock):
    enabled: bool = True


class DuplicateCheck(_Check):
    """Same payee + same amount + business date within ``days`` + summary similarity >= ``similarity``."""

    days: float = Field(default=14.0, gt=0)
    #: 0..1, rapidfuzz token-set ratio of the two summaries; 0 accepts any summary
    similarity: float = Field(default=0.6, ge=0, le=1)
    severity: Severity = "block"


class ReferenceCheck(_Check):
    """The same normalised invoice or reference number on two records (spaces, dashes, case, O/0, a
    trailing letter and one transposition of adjacent characters ignored)."""

    severity: Severity = "block"


class OutlierCheck(_Check):
    """Per payee: modified z-score ``0.6745·(x − median)/MAD`` above ``z``; with fewer than
    ``min_history`` past payments (or a MAD of 0), an amount above ``cap``."""

    z: float = Field(default=3.5, gt=0)
    min_history: int = Field(default=10, ge=2)
    cap: float = Field(default=500_000.0, gt=0)
    #: the MAD is taken as at least this fraction of the median, so a short or very regular history does
    #: not make an ordinary payment an outlier: about twice the usual amount is then needed (0: textbook)
    mad_floor: float = Field(default=0.2, ge=0, le=1)
    severity: Severity = "warn"


class SimpleCheck(_Check):
    severity: Severity = "block"


class WarnCheck(_Check):
    severity: Severity = "warn"


class PaymentFields(FerryBlock):
    """Where a payment document keeps each fact (dotted paths); the defaults are the DingTalk payment
    form of the flagship scheme."""

    payee: str = "支付对象"
    amount: str = "付款金额"
    #: the business date: a date, an ISO text or epoch milliseconds
    date: str = "create_time"
    summary: str = "付款事由"
    #: invoice or reference number; unset: the reference check is off
    reference: str | None = None
    account: str = "银行账户"
    details: str = "费用明细"
    detail_amount: str = "金额（元）"
    #: the amount in words (大写); unset: read from the DingTalk MoneyField named by ``amount``
    amount_words: str | None = None
    applicant: str = "originator_userid"
    #: the approver's user id; unset: the agreeing approvers of the DingTalk instance
    approver: str | None = None


class AnomalyChecks(FerryBlock):
    """History-aware checks of payment documents (``checks:``); each on with its default once the block
    is there (``checks: {}`` is the payment defaults)."""

    fields: PaymentFields = Field(default_factory=PaymentFields)
    duplicate: DuplicateCheck = Field(default_factory=DuplicateCheck)
    reference: ReferenceCheck = Field(default_factory=ReferenceCheck)
    outlier: OutlierCheck = Field(default_factory=OutlierCheck)
    total: SimpleCheck = Field(default_factory=SimpleCheck)
    amount_words: SimpleCheck = Field(default_factory=SimpleCheck)
    new_account: WarnCheck = Field(default_factory=WarnCheck)
    self_approval: SimpleCheck = Field(default_factory=SimpleCheck)


__all__ = [
    "AnomalyChecks",
    "DuplicateCheck",
    "OutlierCheck",
    "PaymentFields",
    "QualityRule",
    "ReferenceCheck",
    "RuleKind",
    "Severity",
]
