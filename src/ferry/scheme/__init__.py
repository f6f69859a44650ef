"""Schemes (集成方案): the model, loading YAML and Qingyi JSON metadata, validation with places.

Owns the scheme model and its JSON Schema, the safe reading of scheme files (bounded size, depth and
alias expansion), the unknown-key rules of the two forms, and finding the schemes in a folder. May
use :mod:`ferry.expr` to compile expressions early; knows nothing of connectors (their checks of
``params``, ``probe`` and connections live in ``ferry.connectors.check``).

Module map: ``model`` (the scheme and its sides), ``fields`` (field lists, conditions, formats),
``schedule``, ``base`` (the two kinds of block), ``document`` (reading files), ``keys`` (unknown
keys), ``qingyi`` (Qingyi's editor keys), ``load`` (files to schemes), ``folder`` (folders of
schemes), ``problems``, ``suggest``, ``schema``.
"""

from ferry.scheme.document import Document, Form, form_of, read_document
from ferry.scheme.folder import Discovery, discover, duplicate_ids, load_folder
from ferry.scheme.load import check_values, load_scheme, load_side, parse_scheme
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
from ferry.scheme.problems import Problem, SchemeError, errors_in
from ferry.scheme.quality import AnomalyChecks, PaymentFields
from ferry.scheme.schema import native_json_schema
from ferry.scheme.suggest import closest, model_keys, suggest

__all__ = [
    "AnomalyChecks",
    "ConditionTerm",
    "Discovery",
    "Document",
    "Enrichment",
    "FieldSpec",
    "FollowUp",
    "Form",
    "FormatRule",
    "OmissionRemedy",
    "Pagination",
    "Parser",
    "PaymentFields",
    "Problem",
    "QualityRule",
    "RetryPolicy",
    "Schedule",
    "Scheme",
    "SchemeError",
    "SourceSpec",
    "TargetSpec",
    "check_values",
    "closest",
    "discover",
    "duplicate_ids",
    "errors_in",
    "form_of",
    "load_folder",
    "load_scheme",
    "load_side",
    "model_keys",
    "native_json_schema",
    "parse_scheme",
    "read_document",
    "suggest",
]
