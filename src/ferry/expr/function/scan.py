"""Scanning a ``_function`` text: every value becomes a parameter before sqlglot sees the text.

Owns :func:`scan`, which rewrites the expression with ``:pN`` parameters for every ``{{field}}``,
quoted ``'{{field}}'``, ``{VAR}`` and ``_findCollection ... _endFind`` (so a value holding a quote
stays a value), blanks comments, checks the parenthesis depth, and keeps an :class:`OffsetMap` so
that errors point into the text the user wrote.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferry.expr.errors import ExprError
from ferry.expr.interpolate import compile_placeholder, compile_text
from ferry.expr.lookup import compile_find, parse_find
from ferry.expr.paths import Scope
from ferry.expr.variables import to_text

MAX_PAREN_DEPTH = 32

Fn = Callable[[Scope], Any]

_SINGLE_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\s*\|\s*[A-Za-z_]+)*)\}")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$]")
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


@dataclass(frozen=True, slots=True)
class Param:
    """One value bound into the expression: how to resolve it, where it was written, what it reads."""

    resolve: Fn
    position: int  # offset in the full text
    source: str
    fields: tuple[str, ...]


class OffsetMap:
    """Maps offsets in the rewritten SQL text back to offsets in the user's text."""

    def __init__(self) -> None:
        self.sql_starts: list[int] = []
        self.orig_starts: list[int] = []
        self.copied: list[bool] = []

    def add(self, sql_start: int, orig_start: int, copied: bool) -> None:
        self.sql_starts.append(sql_start)
        self.orig_starts.append(orig_start)
        self.copied.append(copied)

    def original(self, sql_pos: int) -> int:
        k = bisect.bisect_right(self.sql_starts, sql_pos) - 1
        if k < 0:
            return self.orig_starts[0] if self.orig_starts else 0
        if self.copied[k]:
            return self.orig_starts[k] + (sql_pos - self.sql_starts[k])
        return self.orig_starts[k]


def scan(full: str, start: int) -> tuple[str, list[Param], OffsetMap]:
    """Rewrite the expression with ``:pN`` parameters; comments become blanks."""
    out: list[str] = []
    params: list[Param] = []
    omap = OffsetMap()
    n = len(full)
    i = start
    copy_from = start
    sql_len = 0
    depth = 0

    def flush(upto: int) -> None:
        nonlocal copy_from, sql_len
        if upto > copy_from:
            chunk = full[copy_from:upto]
            omap.add(sql_len, copy_from, True)
            out.append(chunk)
            sql_len += len(chunk)
        copy_from = upto

    def emit(param: Param, orig_end: int) -> None:
        nonlocal copy_from, sql_len
        flush(param.position)
        name = f" :p{len(params)} "
        omap.add(sql_len, param.position, False)
        out.append(name)
        sql_len += len(name)
        params.append(param)
        copy_from = orig_end

    def blank(orig_end: int) -> None:
        nonlocal copy_from, sql_len
        chunk = "".join("\n" if c == "\n" else " " for c in full[copy_from:orig_end])
        omap.add(sql_len, copy_from, True)
        out.append(chunk)
        sql_len += len(chunk)
        copy_from = orig_end

    while i < n:
        ch = full[i]
        if ch in "'\"":
            end, content = scan_string(full, i)
            param = string_param(full, i, end, content)
            if param is not None:
                emit(param, end)
            i = end
            continue
        if ch == "`":
            close = full.find("`", i + 1)
            i = n if close < 0 else close + 1
            continue
        if full.startswith("{{", i):
            close = full.find("}}", i + 2)
            if close < 0:
                raise ExprError("unclosed '{{': every {{ needs a matching }}", text=full, position=i)
            source = full[i : close + 2]
            holder = compile_placeholder(
                full[i + 2 : close], single_brace=False, source=source, start=i, text=full
            )
            fields: tuple[str, ...] = () if holder.is_variable else (holder.name,)
            emit(Param(holder.resolve, i, source, fields), close + 2)
            i = close + 2
            continue
        if ch == "{":
            match = _SINGLE_VAR.match(full, i)
            if match:
                holder = compile_placeholder(
                    match.group(1), single_brace=True, source=match.group(0), start=i, text=full
                )
                emit(Param(holder.resolve, i, match.group(0), ()), match.end())
                i = match.end()
                continue
        if full.startswith("_findCollection", i) and (i == 0 or not _IDENT_CHAR.match(full[i - 1])):
            close = full.find("_endFind", i)
            if close < 0:
                raise ExprError(
                    "_findCollection inside _function must end with _endFind", text=full, position=i
                )
            spec = parse_find(full[i:close].rstrip(), full_text=full, offset=i)
            fields = tuple(p.name for _, v in spec.where for p in v.placeholders if not p.is_variable)
            emit(Param(compile_find(spec, text=full, position=i), i, full[i:close], fields), close + 8)
            i = close + len("_endFind")
            continue
        if ch == "#" or (full.startswith("--", i) and (i + 2 >= n or full[i + 2].isspace())):
            flush(i)
            newline = full.find("\n", i)
            i = n if newline < 0 else newline
            blank(i)
            continue
        if full.startswith("/*", i):
            flush(i)
            close = full.find("*/", i + 2)
            if close < 0:
                raise ExprError("unclosed comment '/*'", text=full, position=i)
            i = close + 2
            blank(i)
            continue
        if ch in ":?@":
            raise ExprError(
                f"unexpected {ch!r}: variables and assignments are not allowed; write fields as {{{{field}}}}",
                text=full,
                position=i,
            )
        if ch == "(":
            depth += 1
            if depth > MAX_PAREN_DEPTH:
                raise ExprError(
                    f"expression nested too deeply (more than {MAX_PAREN_DEPTH} parentheses)",
                    text=full,
                    position=i,
                )
        elif ch == ")":
            depth -= 1
        i += 1
    flush(n)
    return "".join(out), params, omap


def scan_string(full: str, start: int) -> tuple[int, str]:
    """End offset (after the closing quote) and unescaped content of a MySQL string literal."""
    quote = full[start]
    i = start + 1
    n = len(full)
    content: list[str] = []
    while i < n:
        ch = full[i]
        if ch == "\\" and i + 1 < n:
            nxt = full[i + 1]
            content.append(_ESCAPES.get(nxt, nxt if nxt not in "%_" else "\\" + nxt))
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and full[i + 1] == quote:
                content.append(quote)
                i += 2
                continue
            return i + 1, "".join(content)
        content.append(ch)
        i += 1
    raise ExprError(f"unterminated string: missing closing {quote}", text=full, position=start)


def string_param(full: str, start: int, end: int, content: str) -> Param | None:
    """A quoted ``'{{x}}'``/``'a-{{x}}'`` becomes a text parameter; a quoted _findCollection a lookup."""
    if content.lstrip().startswith("_findCollection"):
        body = content.strip()
        if body.endswith("_endFind"):
            body = body[: -len("_endFind")].rstrip()
        spec = parse_find(body, full_text=full, offset=start + 1)
        fields = tuple(p.name for _, v in spec.where for p in v.placeholders if not p.is_variable)
        return Param(compile_find(spec, text=full, position=start), start, full[start:end], fields)
    if "{" not in content:
        return None
    try:
        compiled = compile_text(content)
    except ExprError as exc:
        raise exc.with_text(full, start + 1) from None
    if compiled.is_constant:
        return None
    render = compiled.render

    def as_text(scope: Scope) -> Any:
        # Quoting makes a string in Qingyi: the value is always text, missing is ''.
        value = render(scope)
        return to_text(value)

    fields = tuple(p.name for p in compiled.placeholders if not p.is_variable)
    return Param(as_text, start, full[start:end], fields)
