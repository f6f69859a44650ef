"""Loading schemes from files, with every problem located by file, key path, line and column.

Which form a file is in goes by its name: a ``.json`` file is Qingyi metadata (what Qingyi exports:
``{"id", "name", "source": {...}, "target": {...}}``, the sides as exported); ``.yaml``, ``.yml`` (and
any other name) is Ferry's native form. Both spellings of every key are accepted in both forms;
what differs is how an unknown key is treated (:mod:`ferry.scheme.keys`): an error in the native
form, a warning (or an error when it is a near miss of a known key) in Qingyi metadata.

A load runs in this order, and reports every problem it finds rather than the first:

1. :func:`~ferry.scheme.document.read_document`: bounded, safe parsing with positions;
2. :func:`~ferry.scheme.keys.check_keys`: unknown and doubled keys;
3. the pydantic model: types, ranges, cron, time zone, conditions, formats; pydantic's error
   locations are walked back to lines through the document;
4. :func:`check_values`: every template, ``_function`` expression, field type and parser the run
   would compile, so a scheme that loads is one the engine can compile.

Warnings (unknown Qingyi keys) never stop a load; pass ``warnings=[]`` to receive them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from ferry.scheme.document import MAX_PROBLEMS, Document, Form, form_of, read_document
from ferry.scheme.keys import check_keys
from ferry.scheme.model import FieldSpec, Scheme, SourceSpec, TargetSpec
from ferry.scheme.problems import Problem, SchemeError, errors_in, path_text
from ferry.scheme.suggest import model_keys, spellings, suggest

Side = Literal["source", "target"]
M = TypeVar("M", bound=BaseModel)


def load_scheme(path: str | Path, *, warnings: list[Problem] | None = None) -> Scheme:
    """Load and validate one scheme file (native YAML or Qingyi JSON), or raise :class:`SchemeError`.

    Warnings (unknown keys in Qingyi metadata) are appended to ``warnings`` when it is given, even
    when the load fails; they never fail it.
    """
    p = Path(path)
    doc = read_document(p)
    return scheme_from_document(doc, form_of(p), default_id=p.stem, warnings=warnings)


def load_side(
    path: str | Path, side: Side, *, warnings: list[Problem] | None = None
) -> SourceSpec | TargetSpec:
    """Load one side's metadata alone (a Qingyi 源平台 or 目标平台 export), or raise :class:`SchemeError`."""
    p = Path(path)
    doc = read_document(p)
    model: type[SourceSpec | TargetSpec] = SourceSpec if side == "source" else TargetSpec
    spec = _validate(doc, _top_mapping(doc), model, form_of(p), warnings, prefix=())
    return spec


def parse_scheme(
    data: Mapping[str, Any],
    *,
    form: Form = "native",
    file: str = "<scheme>",
    warnings: list[Problem] | None = None,
) -> Scheme:
    """Validate a scheme built in code (a dict) with the same rules as a file; problems have no lines."""
    doc = Document(file, _plain_copy(data))
    return scheme_from_document(doc, form, default_id=None, warnings=warnings)


def scheme_from_document(
    doc: Document, form: Form, *, default_id: str | None, warnings: list[Problem] | None = None
) -> Scheme:
    """A :class:`Scheme` from a parsed document (see :func:`load_scheme`)."""
    data = _top_mapping(doc)
    if form == "qingyi" and "id" not in data and default_id is not None:
        # a Qingyi export often has no scheme id: the file name is a stable, readable default
        if not _is_scheme_id(default_id):
            raise SchemeError(
                [
                    doc.problem(
                        [],
                        f"no 'id', and the file name {default_id!r} is not a scheme id "
                        '(letters, digits, _ . : -); add an "id" key',
                    )
                ]
            )
        data = {"id": default_id, **data}
    scheme = _validate(doc, data, Scheme, form, warnings, prefix=())
    scheme._document = doc
    return scheme


def _is_scheme_id(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", text) is not None


def _top_mapping(doc: Document) -> dict[str, Any]:
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else f"a single value ({type(doc.data).__name__})"
        raise SchemeError(
            [Problem(doc.file, "", 1, 1, f"expected a mapping of keys at the top level, got {kind}")]
        )
    return dict(doc.data)


def _validate(
    doc: Document,
    data: dict[str, Any],
    model: type[M],
    form: Form,
    warnings: list[Problem] | None,
    prefix: Sequence[str | int],
) -> M:
    problems = [*doc.problems, *check_keys(data, model, doc, form, list(prefix))]
    instance: M | None = None
    try:
        instance = model.model_validate(data)
    except ValidationError as e:
        # a key reported as unknown is not reported again, nor is the key its suggestion names
        # ("chek: did you mean 'check'?" explains why 'check' is missing)
        reported = {p.path for p in problems} | _suggested_paths(problems)
        problems.extend(p for p in _pydantic_problems(doc, e, model, prefix) if p.path not in reported)
    if instance is not None and not doc.problems:
        problems.extend(check_values(doc, instance, data, list(prefix)))
    if warnings is not None:
        warnings.extend(p for p in problems if not p.is_error)
    errors = sorted(errors_in(problems), key=lambda p: (p.line or 10**9, p.column, p.path))
    if len(errors) > MAX_PROBLEMS:
        # one mistake repeated through a list (or an alias) would bury the rest of the output
        more = Problem(doc.file, "", 0, 0, f"... and {len(errors) - MAX_PROBLEMS} more problems")
        errors = [*errors[:MAX_PROBLEMS], more]
    if errors:
        raise SchemeError(errors)
    assert instance is not None
    return instance


_SUGGESTION = re.compile(r"did you mean '([^']+)'\?")


def _suggested_paths(problems: Sequence[Problem]) -> set[str]:
    out = set()
    for p in problems:
        m = _SUGGESTION.search(p.message)
        if m:
            parent = p.path.rsplit(".", 1)[0] if "." in p.path else ""
            out.add(f"{parent}.{m.group(1)}" if parent else m.group(1))
    return out


def _pydantic_problems(
    doc: Document, err: ValidationError, model: type[BaseModel], prefix: Sequence[str | int]
) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False, include_input=False):
        # pydantic adds the validator's name ("function-before[...]") to some locations; drop those
        loc = [*prefix, *(p for p in e["loc"] if not (isinstance(p, str) and "[" in p and "]" in p))]
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "extra_forbidden":
            msg = f"unknown key{suggest(str(loc[-1]), _keys_near(model, loc))}"
        problems.append(doc.problem(loc, msg))
    return problems


def _keys_near(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys of the block holding the last part of ``loc`` (for a suggestion)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(str(part)) or next(
            (fields[f] for f, names in spellings(current).items() if part in names), None
        )
        if info is None:
            return []
        current = _model_of(info.annotation)
        if current is None:
            return []
    return model_keys(current) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _plain_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_copy(v) for v in value]
    return value


# --- what the run would compile ---------------------------------------------------------------


def check_values(
    doc: Document, model: BaseModel, data: Mapping[str, Any], prefix: list[str | int]
) -> list[Problem]:
    """Compile every template, expression, field type and parser a run would, so none fails later."""
    from ferry.expr import ExprError, check

    problems: list[Problem] = []

    def template(text: Any, loc: list[str | int]) -> None:
        if isinstance(text, str):
            try:
                check(text)
            except ExprError as e:
                problems.append(doc.problem(loc, str(e)))
        elif isinstance(text, list):
            for i, item in enumerate(text):
                template(item, [*loc, i])
        elif isinstance(text, dict):
            for key, item in text.items():
                template(item, [*loc, key])

    def side(spec: SourceSpec | TargetSpec, raw: Any, base: list[str | int]) -> None:
        lists: list[tuple[str, Any]] = [("request", spec.request), ("other_request", spec.other_request)]
        for attr, fields in lists:
            key = _written(raw, type(spec), attr)
            _check_fields(doc, fields, _get(raw, key), [*base, key], problems, template)
        if isinstance(spec, SourceSpec) and spec.omission_remedy is not None:
            remedy_key = _written(raw, SourceSpec, "omission_remedy")
            raw_remedy = _get(raw, remedy_key)
            key = _written(raw_remedy, type(spec.omission_remedy), "take_over_request")
            loc: list[str | int] = [*base, remedy_key, key]
            _check_fields(
                doc, spec.omission_remedy.take_over_request, _get(raw_remedy, key), loc, problems, template
            )

    if isinstance(model, Scheme):
        side(model.source, data.get("source"), ["source"])
        side(model.target, data.get("target"), ["target"])
        for i, rule in enumerate(model.quality):
            for attr in ("check", "when"):
                text = getattr(rule, attr)
                if text is not None:
                    function = text if text.lstrip().startswith("_function") else f"_function {text}"
                    try:
                        check(function)
                    except ExprError as e:
                        problems.append(doc.problem(["quality", i, attr], str(e)))
            template(rule.message, ["quality", i, "message"])
        for i, step in enumerate(model.enrich):
            template(step.query, ["enrich", i, "query"])
    elif isinstance(model, SourceSpec | TargetSpec):
        side(model, data, prefix)
    return problems


def _check_fields(
    doc: Document,
    fields: Sequence[FieldSpec],
    raw: Any,
    loc: list[str | int],
    problems: list[Problem],
    template: Any,
) -> None:
    """One request field list: each field's value, default, type and parser; then the list as a whole."""
    from ferry import expr

    before = len(problems)

    def node(f: FieldSpec, *, children: bool = False, **only: Any) -> expr.FieldNode:
        return expr.FieldNode(
            field=f.field,
            children=(expr.FieldNode(field="_"),) if children else (),
            required=f.is_required,
            **only,
        )

    def compiles(n: expr.FieldNode, where: list[str | int]) -> None:
        try:
            expr.compile_request([n])
        except expr.ExprError as e:
            problems.append(doc.problem(where, e.message))

    def walk(items: Sequence[FieldSpec], raw_items: Any, base: list[str | int]) -> None:
        for i, f in enumerate(items):
            raw_item = _matching(raw_items, i, f)
            here: list[str | int] = [*base, i] if raw_item is not None else list(base)
            if isinstance(raw_items, dict):
                here = [*base, f.field]  # the {key: value} shorthand: the key is the field
                template(f.value, here)
                continue
            template(f.value, [*here, "value"])
            template(f.default, [*here, "default"])
            compiles(node(f, type=f.type), [*here, "type"])
            if f.parser is not None:
                compiles(
                    node(f, parser={"name": f.parser.name, "params": f.parser.params}), [*here, "parser"]
                )
            if f.children:
                compiles(node(f, type=f.type, value=f.value, children=True), [*here, "value"])
            raw_children = raw_item.get("children") if isinstance(raw_item, dict) else None
            walk(f.children, raw_children, [*here, "children"])

    walk(fields, raw, loc)
    if len(problems) == before and fields:
        # the run compiles the list as a whole: whatever that finds, report it too
        try:
            expr.compile_request(_nodes(fields))
        except expr.ExprError as e:
            problems.append(doc.problem(loc, str(e)))


def _nodes(fields: Sequence[FieldSpec]) -> list[Any]:
    from ferry import expr

    return [
        expr.FieldNode(
            field=f.field,
            type=f.type,
            value=f.value,
            children=tuple(_nodes(f.children)),
            parser={"name": f.parser.name, "params": f.parser.params} if f.parser else None,
            value_map=f.value_map,
            required=f.is_required,
            default=f.default,
            label=f.label,
        )
        for f in fields
    ]


def _matching(raw_items: Any, index: int, f: FieldSpec) -> dict[str, Any] | None:
    """The written item behind ``f`` when the written list lines up with the model's (not a flat parent list)."""
    if isinstance(raw_items, list) and index < len(raw_items):
        item = raw_items[index]
        if isinstance(item, dict) and item.get("field") == f.field:
            return item
    return None


def _written(raw: Any, model: type[BaseModel], field: str) -> str:
    """The spelling of ``field`` used in ``raw`` (``otherRequest`` or ``other_request``), else its name."""
    if isinstance(raw, dict):
        for name in spellings(model).get(field, (field,)):
            if name in raw:
                return name
    return field


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else None


__all__ = [
    "Problem",
    "SchemeError",
    "Side",
    "check_values",
    "load_model",
    "load_scheme",
    "load_side",
    "parse_scheme",
    "path_text",
    "scheme_from_document",
]


def load_model(path: str | Path, model: type[M]) -> M:
    """Read any native YAML file with the scheme rules (bounded parsing, every unknown key an error with a
    suggestion, file:line:col on each problem) into ``model``, or raise :class:`SchemeError`.

    For files that sit next to the schemes and are not schemes (``alerts.yaml``)."""
    doc = read_document(Path(path))
    return _validate(doc, _top_mapping(doc), model, "native", None, prefix=())
