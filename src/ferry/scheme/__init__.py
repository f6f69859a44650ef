"""Schemes (集成方案): the model, loading YAML and Qingyi JSON metadata, validation with places.

Owns the scheme model and its JSON Schema; may use :mod:`ferry.expr` to check expressions early.
"""

from ferry.scheme.load import Problem, SchemeError, load_scheme, load_side
from ferry.scheme.model import (
    ConditionTerm,
    Enrichment,
    FieldSpec,
    FollowUp,
    FormatRule,
    OmissionRemedy,
    Pagination,
    Parser,
    QualityRule,
    RetryPolicy,
    Schedule,
    Scheme,
    SourceSpec,
    TargetSpec,
)
from ferry.scheme.schema import native_json_schema

__all__ = [
    "ConditionTerm",
    "Enrichment",
    "FieldSpec",
    "FollowUp",
    "FormatRule",
    "OmissionRemedy",
    "Pagination",
    "Parser",
    "Problem",
    "QualityRule",
    "RetryPolicy",
    "Schedule",
    "Scheme",
    "SchemeError",
    "SourceSpec",
    "TargetSpec",
    "load_scheme",
    "load_side",
    "native_json_schema",
]
