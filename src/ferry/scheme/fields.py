"""Field lists (字段), filters and derived fields: the parts of a side that the expression language runs.

Field lists (``request``, ``otherRequest``, ``response``, ...) accept three shapes and normalise to
one tree of :class:`FieldSpec`: a list of field objects nested with ``children``; a flat list whose
items point at their parent with ``parent``; or a plain mapping ``{"FormId": "CN_PAYAPPLY"}``.

``condition`` terms and ``formatResponse`` rules are compiled by :mod:`ferry.expr` as they are
validated, so one that could only fail at run time (an unknown format, a ``between`` with one bound)
fails here, with its place.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from ferry.scheme.base import QingyiBlock

#: the operators ``ferry.expr.compile_condition`` implements (``eqv2``, seen in exports, means ``eq``)
Logic = Literal[
    "eq", "eqv2", "neq", "gt", "egt", "lt", "elt", "like", "notlike", "between", "notnull", "isnull"
]  # fmt: skip
_NEEDS_VALUE = {"gt", "egt", "lt", "elt", "like", "notlike"}
_NO_VALUE = {"notnull", "isnull"}


class Parser(QingyiBlock):
    """A value parser (解析器), e.g. ``{"name": "ConvertObjectParser", "params": "FNumber"}``."""

    name: str
    params: Any = None


class FieldSpec(QingyiBlock):
    """One request or response field.

    ``value`` is a constant, a template (``{{单据编号}}``), a ``_function`` expression or a
    ``_findCollection`` lookup. An ``array`` field whose value is a bare key (``details_list``)
    repeats its ``children`` once per child row of that key.
    """

    block = "field"

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
        return truthy(v)


def truthy(v: Any) -> Any:
    """Qingyi's string booleans (``"true"``, ``"1"``, ``"yes"``) as booleans; other values unchanged."""
    if isinstance(v, str):
        return v.strip().lower() in {"true", "1", "yes"}
    return v


class ConditionTerm(QingyiBlock):
    """One filter term: ``{"field": "status", "logic": "eq", "value": "COMPLETED"}``."""

    field: str = Field(min_length=1)
    logic: Logic
    value: Any = None

    @model_validator(mode="after")
    def _compiles(self) -> ConditionTerm:
        # values that make a term always false (or meaningless) would drop every record at run time
        v = self.value
        if self.logic in _NEEDS_VALUE and (v is None or v == ""):
            raise ValueError(f"'{self.logic}' needs a value to compare with")
        if self.logic != "between" and self.logic not in _NO_VALUE and isinstance(v, list | dict):
            raise ValueError(
                f"'{self.logic}' compares with one value (text or a number), not a {type(v).__name__}"
            )
        if self.logic == "between":
            bounds = v if isinstance(v, list) else str(v if v is not None else "").split(",")
            if len(bounds) != 2 or any(b is None or str(b).strip() == "" for b in bounds):
                raise ValueError(f'between needs two bounds, e.g. "1,10" or [1, 10], got {v!r}')
        from ferry.expr import ExprError, compile_condition

        try:
            compile_condition([[{"field": self.field, "logic": self.logic, "value": v}]])
        except ExprError as e:
            raise ValueError(str(e).removeprefix("condition[0][0]: ")) from None
        return self


class FormatRule(QingyiBlock):
    """A ``formatResponse`` rule: derive ``new`` from ``old`` with a format such as ``date`` or ``round(2)``."""

    old: str = Field(min_length=1)
    new: str = Field(min_length=1)
    format: str

    @field_validator("format")
    @classmethod
    def _known(cls, v: str) -> str:
        from ferry.expr import ExprError, compile_format

        try:
            compile_format(v)
        except ExprError as e:
            raise ValueError(str(e)) from None
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

    def parent_of(item: dict[str, Any]) -> dict[str, Any] | None:
        parent = item.get("parent")
        holder = by_key.get(parent) if isinstance(parent, str) else None
        return holder if holder is not item else None

    def in_a_loop(item: dict[str, Any]) -> bool:
        # items that name each other as parents would nest forever: keep them at the top level
        node, steps = parent_of(item), 0
        while node is not None and steps <= len(items):
            if node is item:
                return True
            node, steps = parent_of(node), steps + 1
        return False

    roots: list[dict[str, Any]] = []
    for item in items:
        holder = parent_of(item)
        if holder is not None and not in_a_loop(item):
            holder["children"] = [*list(holder.get("children") or []), item]
        else:
            roots.append(item)
    return roots


FieldSpec.model_rebuild()

__all__ = ["ConditionTerm", "FieldSpec", "FormatRule", "Logic", "Parser", "normalise_fields", "truthy"]
