"""Unknown keys: the rule that stops a typo from switching something off.

:func:`check_keys` walks a file's data beside the model that will read it, block by block, and
returns a :class:`~ferry.scheme.problems.Problem` for every key the model does not know:

- **native form** (``.yaml``/``.yml``): every unknown key is an error, with the closest known key
  ("``qualty``: unknown key (did you mean 'quality'?)"). Qingyi spellings (``idCheck``) are known keys
  in both forms; Qingyi editor keys (``display``) are errors here too, since they do nothing.
- **Qingyi form** (``.json``): the editor keys Qingyi is known to write (:mod:`ferry.scheme.qingyi`)
  are kept; an unknown key a few edits from a known one is an error with the suggestion
  (``idChek`` -> ``idCheck``); in Ferry-only blocks (``retry``, ``quality``...) every unknown key is an
  error; any other unknown key is a warning that names it, and the load goes on.

The same field given in two spellings (``id_check`` and ``idCheck``) is an error in both forms: which
one wins would otherwise be an accident. Free-form blocks (``params``, ``probe``, ``query``, field
values) are not walked here; the connector checks (``ferry.connectors.check``) read ``params``,
``probe`` and ``query`` against each connector's own models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ferry.scheme.base import QingyiBlock
from ferry.scheme.document import Document, Form
from ferry.scheme.problems import Problem
from ferry.scheme.qingyi import inert_keys, unsupported_keys
from ferry.scheme.suggest import closest, model_keys, spellings

#: how many keys an "unknown key" message lists when no single one is close
_LIST_AT_MOST = 30


def check_keys(
    data: Any, model: type[BaseModel], doc: Document, form: Form, loc: list[str | int] | None = None
) -> list[Problem]:
    """Every unknown or doubled key in ``data`` (a mapping read by ``model``) and the blocks below it."""
    problems: list[Problem] = []
    if isinstance(data, Mapping):
        _walk_mapping(data, model, doc, form, list(loc or []), problems)
    return problems


def _walk_mapping(
    data: Mapping[str, Any],
    model: type[BaseModel],
    doc: Document,
    form: Form,
    loc: list[str | int],
    problems: list[Problem],
) -> None:
    names = spellings(model)
    field_of = {spelling: field for field, all_ in names.items() for spelling in all_}
    for all_ in names.values():
        given = [s for s in all_ if s in data]
        if len(given) > 1:
            problems.append(
                doc.problem([*loc, given[1]], f"the same key as {given[0]!r} in another spelling; keep one")
            )
    for key, value in data.items():
        field = field_of.get(key)
        if field is not None:
            inner, levels = _model_in(model.model_fields[field].annotation)
            if inner is not None:
                _walk_value(value, inner, levels, doc, form, [*loc, key], problems, top=True)
            continue
        problem = _unknown(key, model, doc, form, [*loc, key])
        if problem is not None:
            problems.append(problem)


def _walk_value(
    value: Any,
    model: type[BaseModel],
    levels: int,
    doc: Document,
    form: Form,
    loc: list[str | int],
    problems: list[Problem],
    *,
    top: bool = False,
) -> None:
    if isinstance(value, Mapping):
        # a mapping where a list is expected is a shorthand (a field list as {key: value}) or a type
        # error pydantic reports; a mapping inside a list is one block (a flat condition group too)
        if levels == 0 or not top:
            _walk_mapping(value, model, doc, form, loc, problems)
    elif isinstance(value, list) and levels > 0:
        for i, item in enumerate(value):
            _walk_value(item, model, levels - 1, doc, form, [*loc, i], problems)


def _unknown(
    key: str, model: type[BaseModel], doc: Document, form: Form, loc: list[str | int]
) -> Problem | None:
    block = getattr(model, "block", "")
    inert, unsupported = inert_keys(block), unsupported_keys(block)
    known = model_keys(model)
    if key in unsupported:
        return doc.problem(loc, unsupported[key])
    if form == "native":
        if key in inert:
            return doc.problem(
                loc, f"{key!r} is Qingyi editor state and does nothing in a native scheme; remove it"
            )
        near = closest(key, known)
        if near is not None:
            # the native name is the one to suggest in a native file, even when an alias is closer
            native = next(f for f, names in spellings(model).items() if near in names)
            return doc.problem(loc, f"unknown key (did you mean {native!r}?)")
        return doc.problem(loc, _unknown_message(key, known, list(model.model_fields), block))
    if key in inert:
        return None
    near = closest(key, [*known, *inert])
    if near is not None:
        return doc.problem(loc, f"unknown key (did you mean {near!r}?)")
    tolerant = isinstance(model, type) and issubclass(model, QingyiBlock) and model.qingyi_tolerant
    if not tolerant:
        return doc.problem(loc, _unknown_message(key, known, list(model.model_fields), block))
    return doc.problem(loc, "unknown key; kept as it is, but Ferry does not use it", warning=True)


def _unknown_message(key: str, known: list[str], listed: list[str], block: str) -> str:
    near = closest(key, known)
    if near is not None:
        return f"unknown key (did you mean {near!r}?)"
    shown = ", ".join(listed[:_LIST_AT_MOST]) + (", ..." if len(listed) > _LIST_AT_MOST else "")
    where = "; connector settings go under 'params'" if block == "side" else ""
    return f"unknown key{where}; known here: {shown}"


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, int]:
    """The model inside ``X``, ``X | None``, ``list[X]``, ``list[list[X]]``, and how many lists deep."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, 0
    origin = getattr(annotation, "__origin__", None)
    args = getattr(annotation, "__args__", ()) or ()
    if origin is list and args:
        inner, levels = _model_in(args[0])
        return (inner, levels + 1) if inner is not None else (None, 0)
    if origin is dict:
        return None, 0  # free-form mappings (params, probe, value maps) are not walked
    for arg in args:  # X | None
        inner, levels = _model_in(arg)
        if inner is not None:
            return inner, levels
    return None, 0


__all__ = ["check_keys"]
