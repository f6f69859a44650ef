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
from ferry.expr.limits import budget
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


@dataclass(frozen=True, slots=True)
class Table:
    """An array field over a table whose row fields are all plain columns of the row
    (``{{details.sku}}``), assembled inline as a loop. ``build`` (the general rows) is called
    instead whenever a row is not a plain dict, a column is missing, a value fails a step, or the
    table is unusual (not a list, 64 rows or more, empty and required): rendering is deterministic,
    so the general path gives the same value, or raises the error with its path."""

    key: str  # the table's one-segment path
    proto: dict[str, Any]  # a row's prebuilt dict (constants in place)
    columns: tuple[tuple[str, Plain], ...]
    required: bool
    what: str  # the table named in a limit's error


def assemble(
    proto: dict[str, Any],
    fields: list[tuple[str, Build, Plain | Table | None]],
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
        "budget": budget,
    }
    lines = [
        "def build(scope):",
        "    rows = scope.rows",
        "    record = scope.record",
        "    plain = record if type(record) is dict else None",
    ]
    # The row bound to each table the fields read ({{details_list.x}}), or the record's object of that
    # name, looked up once.
    heads: dict[str, int] = {}
    for _, _, inline in fields:
        if isinstance(inline, Plain) and len(inline.segments) == 2:
            heads.setdefault(inline.segments[0], len(heads))
    for head, j in heads.items():
        ns[f"h{j}"] = head
        lines += [
            f"    d{j} = rows.get(h{j}) if rows is not None else None",
            f"    if type(d{j}) is not dict:",
            # not a bound row: the record's own object of that name ({{supplier.code}})
            f"        d{j} = plain.get(h{j}) if plain is not None and (rows is None or h{j} not in rows) else None",
            f"        if type(d{j}) is not dict:",
            f"            d{j} = None",
        ]
    lines += ["    out = proto.copy()", "    where = ''", "    try:"]
    for i, (key, build, inline) in enumerate(fields):
        ns[f"k{i}"] = key
        lines.append(f"        where = k{i}")
        if not isinstance(inline, Plain):
            ns[f"f{i}"] = build
            if inline is None:
                lines.append(f"        out[k{i}] = f{i}(scope)")
            else:
                lines += _table(i, inline, ns)
            continue
        lines += _lookup(i, inline, ns, heads)
        lines += _steps(str(i), inline, ns)
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


def _table(i: int, table: Table, ns: dict[str, Any]) -> list[str]:
    """The rows of ``table`` built in a loop (see :class:`Table`); ``f{i}`` builds them otherwise."""
    ns[f"tk{i}"], ns[f"tp{i}"], ns[f"tr{i}"], ns[f"tw{i}"] = (
        table.key,
        table.proto,
        table.required,
        table.what,
    )
    lines = [
        f"        if rows is not None and tk{i} in rows:",
        f"            tv = rows[tk{i}]",
        "        elif plain is not None:",
        f"            tv = plain.get(tk{i}, MISSING)",
        "        else:",
        "            tv = MISSING",
        "        tl = None",
        f"        if type(tv) is list and len(tv) < 64 and (tv or not tr{i}):",
        "            try:",
        f"                budget().items(len(tv), tw{i})",
        "                lst = []",
        "                for item in tv:",
        "                    if type(item) is not dict:",
        "                        break",
        f"                    o = tp{i}.copy()",
    ]
    for j, (key, column) in enumerate(table.columns):
        name = f"{i}_{j}"
        ns[f"ck{name}"], ns[f"ct{name}"] = key, column.segments[1]
        lines += [
            f"                    v = item.get(ct{name}, MISSING)",
            "                    if v is MISSING:",
            "                        break",
            *_steps(name, column, ns, indent=20),
            f"                    o[ck{name}] = v",
        ]
    return [
        *lines,
        "                    lst.append(o)",
        "                else:",
        "                    tl = lst",
        "            except Exception:",
        "                tl = None",
        f"        out[k{i}] = tl if tl is not None else f{i}(scope)",
    ]


def _steps(i: str, inline: Plain, ns: dict[str, Any], indent: int = 8) -> list[str]:
    """The lines applying ``inline``'s steps to ``v`` (their names end in ``i``), ``indent`` deep."""
    pad = " " * indent
    lines = []
    if inline.pipe is not None:
        ns[f"y{i}"] = inline.pipe
        lines.append(pad + f"v = y{i}(v, scope)")
    if inline.mapper is not None:
        ns[f"m{i}"], ns[f"n{i}"] = inline.table, inline.mapper
        lines += [
            pad + "if type(v) is str:",
            pad + f"    v = m{i}.get(v, v)",
            pad + "else:",
            pad + f"    v = n{i}(v)",
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
        lines += [pad + f"if {test}:", pad + f"    v = convert(c{i}, v, scope.ctx)"]
    if inline.wrap is not None:
        if len(inline.wrap) == 1:
            ns[f"w{i}"] = inline.wrap[0]
            wrapped = f"{{w{i}: v}}"
        else:
            ns[f"w{i}"], ns[f"x{i}"] = inline.wrap
            wrapped = f"{{w{i}: {{x{i}: v}}}}"
        lines += [pad + "if v is not None:", pad + f"    v = {wrapped}"]
    if inline.parser is not None:
        ns[f"z{i}"] = inline.parser
        lines.append(pad + f"v = z{i}(v)")
    if inline.required is not None:
        ns[f"q{i}"] = inline.required
        lines += [
            pad + "if (v is None or v == '' or v == []) and not scope.ctx.compat:",
            pad + f"    raise ExprError(q{i})",
        ]
    return lines
