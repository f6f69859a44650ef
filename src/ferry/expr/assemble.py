"""Assembling an object of compiled fields as one straight-line function, generated once.

Owns :func:`assemble` and :class:`Plain`. A request body is mostly plain paths
(``{{单据编号}}``, ``{{details_list.金额}}``) with a type and perhaps Kingdee's ``{"FNumber": x}``
wrapper; run as a loop over closures, each such field costs a few Python calls, which is most of
the time a body takes. So the object is compiled into one function whose body, for each field,
either looks the path up inline and applies the type and wrapper there, or calls the field's
closure, and writes the value into a copy of the prebuilt dict (constants are already in it, and
the written order is kept).

Safety: the generated text is made only of this module's fixed lines and numbered names
(``k0``, ``p0``, ``f0``...); every key, path and function is passed in the namespace, never
written into the source, so no scheme text can become code. Semantics are those of the closures
it replaces (:mod:`ferry.expr.paths` for lookups, :mod:`ferry.expr.fields` for the steps); the
general lookup is still called for anything but a dict record or a bound dict row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferry.expr.errors import ExprError
from ferry.expr.paths import MISSING, Scope

Build = Callable[[Scope], Any]


@dataclass(frozen=True, slots=True)
class Plain:
    """A field that is one plain path ``{{a}}`` or ``{{a.b}}`` with simple steps, assembled inline."""

    segments: tuple[str, ...]
    get: Build  # the general lookup (missing -> None), for anything but the common shapes
    pipe: Callable[[Any, Scope], Any] | None  # the placeholder's pipes (|date...), if any
    table: dict[str, Any] | None  # a value map by text, for a text value
    mapper: Callable[[Any], Any] | None  # the value map for any other value
    converter: Callable[..., Any] | None
    ready: tuple[type, ...]  # types that skip the converter
    number: bool  # finite floats are ready numbers too
    wrap: tuple[str, ...] | None  # a wrapping parser's keys
    parser: Callable[[Any], Any] | None  # any other parser
    required: str | None  # the error message when required and empty


def assemble(
    proto: dict[str, Any],
    fields: list[tuple[str, Build, Plain | None]],
    located: Callable[[BaseException, str], BaseException],
    convert: Callable[..., Any],
) -> Build:
    """A function building ``proto.copy()`` with each of ``fields`` written in; see the module doc."""
    ns: dict[str, Any] = {
        "proto": proto,
        "located": located,
        "convert": convert,
        "MISSING": MISSING,
        "ExprError": ExprError,
    }
    lines = [
        "def build(scope):",
        "    rows = scope.rows",
        "    record = scope.record",
        "    plain = record if type(record) is dict else None",
    ]
    # The row bound to each table the fields read ({{details_list.x}}), looked up once.
    heads: dict[str, int] = {}
    for _, _, inline in fields:
        if inline is not None and len(inline.segments) == 2:
            heads.setdefault(inline.segments[0], len(heads))
    for head, j in heads.items():
        ns[f"h{j}"] = head
        lines += [
            f"    d{j} = rows.get(h{j}) if rows is not None else None",
            f"    if type(d{j}) is not dict:",
            f"        d{j} = None",
        ]
    lines += ["    out = proto.copy()", "    where = ''", "    try:"]
    for i, (key, build, inline) in enumerate(fields):
        ns[f"k{i}"] = key
        lines.append(f"        where = k{i}")
        if inline is None:
            ns[f"f{i}"] = build
            lines.append(f"        out[k{i}] = f{i}(scope)")
            continue
        lines += _lookup(i, inline, ns, heads)
        lines += _steps(i, inline, ns)
        lines.append(f"        out[k{i}] = v")
    lines += [
        "    except Exception as exc:",
        "        raise located(exc, where) from None",
        "    return out",
    ]
    exec(compile("\n".join(lines), "<ferry.expr request fields>", "exec"), ns)
    built: Build = ns["build"]
    return built


def _lookup(i: int, inline: Plain, ns: dict[str, Any], heads: dict[str, int]) -> list[str]:
    ns[f"g{i}"] = inline.get
    if len(inline.segments) == 1:
        # paths.compile_path, one segment: a bound row of that name wins, then the record's key.
        ns[f"p{i}"] = inline.segments[0]
        return [
            f"        if rows is not None and p{i} in rows:",
            f"            v = rows[p{i}]",
            "        elif plain is not None:",
            f"            v = plain.get(p{i})",
            "        else:",
            f"            v = g{i}(scope)",
        ]
    # Two segments: the column of a bound dict row; anything else takes the general walk.
    j = heads[inline.segments[0]]
    ns[f"t{i}"] = inline.segments[1]
    return [
        f"        v = d{j}.get(t{i}, MISSING) if d{j} is not None else MISSING",
        "        if v is MISSING:",
        f"            v = g{i}(scope)",
    ]


def _steps(i: int, inline: Plain, ns: dict[str, Any]) -> list[str]:
    lines = []
    if inline.pipe is not None:
        ns[f"y{i}"] = inline.pipe
        lines.append(f"        v = y{i}(v, scope)")
    if inline.mapper is not None:
        ns[f"m{i}"], ns[f"n{i}"] = inline.table, inline.mapper
        lines += [
            "        if type(v) is str:",
            f"            v = m{i}.get(v, v)",
            "        else:",
            f"            v = n{i}(v)",
        ]
    if inline.converter is not None:
        ns[f"c{i}"] = inline.converter
        test = "v is not None"
        if len(inline.ready) == 1:
            ns[f"r{i}"] = inline.ready[0]
            test += f" and type(v) is not r{i}"
        elif inline.ready:
            ns[f"r{i}"] = inline.ready
            test += f" and type(v) not in r{i}"
        if inline.number:
            test += " and not (type(v) is float and v - v == 0.0)"
        lines += [f"        if {test}:", f"            v = convert(c{i}, v, scope.ctx)"]
    if inline.wrap is not None:
        if len(inline.wrap) == 1:
            ns[f"w{i}"] = inline.wrap[0]
            wrapped = f"{{w{i}: v}}"
        else:
            ns[f"w{i}"], ns[f"x{i}"] = inline.wrap
            wrapped = f"{{w{i}: {{x{i}: v}}}}"
        lines += ["        if v is not None:", f"            v = {wrapped}"]
    if inline.parser is not None:
        ns[f"z{i}"] = inline.parser
        lines.append(f"        v = z{i}(v)")
    if inline.required is not None:
        ns[f"q{i}"] = inline.required
        lines += [
            "        if (v is None or v == '' or v == []) and not scope.ctx.compat:",
            f"            raise ExprError(q{i})",
        ]
    return lines
