"""Plain-text interpolation: ``{{field}}``, ``{{a.b|pipe}}`` and ``{VAR}`` inside a string.

Owns: splitting a text into literal parts and placeholders once, and the closure that renders
it. ``_function`` and ``_findCollection`` are not handled here (see :mod:`ferry.expr.template`).

Rules (documented in docs/expressions.md):

* ``{{NAME}}`` is a system variable when NAME is ``LAST_SYNC_TIME``, ``CURRENT_TIME``,
  ``DAYS_AGO_n`` or ``PAGINATION_START_PAGE``; otherwise a field path in the record.
* ``{NAME}`` (single braces, identifier characters only) is a context/system variable; if no
  such variable is set it falls back to a record field of that name; if neither exists the
  text ``{NAME}`` is kept as written (so constants like ``{abc}`` survive untouched).
* Missing values: a text that is exactly one placeholder renders the raw typed value, or
  ``None`` when missing; inside longer text a missing value renders as ''.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferry.expr.errors import ExprError, shown
from ferry.expr.limits import SHORT_TEXT, budget
from ferry.expr.paths import MISSING, Resolver, Scope, compile_path
from ferry.expr.variables import PIPE_NAMES, SYSTEM_VARIABLE, compile_pipe, to_text

# ``{NAME}`` or ``{NAME|pipe}``; ``{{...}}`` is found with str.find (a lazy ``.*?`` per ``{{`` was
# quadratic in a text with many unclosed ones).
_SINGLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\s*\|\s*[A-Za-z_]+)*)\}")


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One ``{{...}}`` or ``{...}`` occurrence."""

    source: str  # as written, braces included
    name: str  # path or variable name, without pipes
    is_variable: bool
    start: int  # offset in the text it was found in
    resolve: Resolver  # value or MISSING
    #: the pipes alone, applied to a value in a scope (errors placed at this placeholder), or None
    pipe: Callable[[Any, Scope], Any] | None = None


@dataclass(frozen=True, slots=True)
class CompiledText:
    """A compiled text. ``render`` returns the raw value when the text is one placeholder."""

    text: str
    placeholders: tuple[Placeholder, ...]
    render: Callable[[Scope], Any]

    @property
    def is_constant(self) -> bool:
        return not self.placeholders

    @property
    def single(self) -> Placeholder | None:
        """The placeholder when the whole text is exactly one."""
        if len(self.placeholders) == 1 and self.placeholders[0].source == self.text:
            return self.placeholders[0]
        return None


def compile_placeholder(inner: str, *, single_brace: bool, source: str, start: int, text: str) -> Placeholder:
    """Compile the inside of one placeholder (``path|pipe|pipe``)."""
    pieces = [p.strip() for p in inner.split("|")]
    name, pipe_names = pieces[0], pieces[1:]
    if not name:
        raise ExprError("empty placeholder: write {{field}} with a field name", text=text, position=start)
    if "{" in name or "}" in name:
        raise ExprError(f"malformed placeholder {source!r}", text=text, position=start)
    pipes = []
    for pipe_name in pipe_names:
        if pipe_name not in PIPE_NAMES:
            raise ExprError(
                f"unknown pipe |{pipe_name} (known: {', '.join(PIPE_NAMES)})",
                text=text,
                position=start + source.find(pipe_name, 2),
            )
        pipes.append(compile_pipe(pipe_name))

    is_variable = single_brace or bool(SYSTEM_VARIABLE.match(name))
    base: Resolver
    if single_brace:
        field_getter = compile_path(name)

        def base_single(scope: Scope) -> Any:
            value = scope.ctx.variable(name)
            if value is MISSING:
                value = field_getter(scope)
            return value

        base = base_single
    elif is_variable:

        def base_variable(scope: Scope) -> Any:
            return scope.ctx.variable(name)

        base = base_variable
    else:
        base = compile_path(name)

    resolve = base
    apply_pipes: Callable[[Any, Scope], Any] | None = None
    if pipes:
        chain = tuple(pipes)

        def apply_pipes(value: Any, scope: Scope) -> Any:
            tz = scope.ctx.zone
            try:
                for pipe in chain:
                    value = pipe(value, tz)
            except ExprError as exc:
                raise exc.anchored(text, start) from None
            return value

        def piped(scope: Scope) -> Any:
            return apply_pipes(base(scope), scope)

        resolve = piped
    return Placeholder(
        source=source, name=name, is_variable=is_variable, start=start, resolve=resolve, pipe=apply_pipes
    )


def compile_text(text: str) -> CompiledText:
    """Compile a text with placeholders; raises ``ExprError`` with the position of a bad one."""
    parts: list[str | Placeholder] = []
    placeholders: list[Placeholder] = []
    last = 0
    for start, end, inner, single_brace in _tokens(text):
        if start > last:
            parts.append(text[last:start])
        placeholder = compile_placeholder(
            inner, single_brace=single_brace, source=text[start:end], start=start, text=text
        )
        parts.append(placeholder)
        placeholders.append(placeholder)
        last = end
    if last < len(text):
        parts.append(text[last:])
    unclosed = text.find("{{", last)
    if unclosed >= 0:
        raise ExprError("unclosed '{{': every {{ needs a matching }}", text=text, position=unclosed)
    return CompiledText(text=text, placeholders=tuple(placeholders), render=_renderer(text, parts))


def _tokens(text: str) -> list[tuple[int, int, str, bool]]:
    """The placeholders of ``text`` as (start, end, inside, single brace), left to right, in linear time.

    Same reading as the pattern ``\\{\\{(.*?)\\}\\}|\\{NAME\\}``: a ``{{`` runs to the next ``}}``; once
    no ``}}`` is left, only ``{NAME}`` placeholders can follow.
    """
    found: list[tuple[int, int, str, bool]] = []
    closes = True  # whether a '}}' may still follow
    at = text.find("{")
    while at >= 0:
        if closes and text.startswith("{{", at):
            close = text.find("}}", at + 2)
            if close >= 0:
                found.append((at, close + 2, text[at + 2 : close], False))
                at = text.find("{", close + 2)
                continue
            closes = False
        single = _SINGLE.match(text, at)
        if single:
            found.append((at, single.end(), single.group(1), True))
            at = text.find("{", single.end())
        else:
            at = text.find("{", at + 1)
    return found


def _renderer(text: str, parts: list[str | Placeholder]) -> Callable[[Scope], Any]:
    if not parts:

        def empty(scope: Scope) -> Any:
            return text

        return empty
    if len(parts) == 1:
        only = parts[0]
        if isinstance(only, str):

            def constant(scope: Scope) -> Any:
                return only

            return constant
        resolve, source, single_brace = only.resolve, only.source, only.source[1] != "{"
        if not single_brace:
            if not only.is_variable and "|" not in source:
                # A bare {{path}}: resolve straight to None when missing, no wrapper call.
                return compile_path(only.name, missing=None)

            def whole_field(scope: Scope) -> Any:
                value = resolve(scope)
                return None if value is MISSING else value

            return whole_field

        def whole(scope: Scope) -> Any:
            value = resolve(scope)
            if value is MISSING:
                # An unknown {NAME} stays as written; a missing {{field}} is None.
                return source if single_brace else None
            return value

        return whole

    steps: list[tuple[str, Resolver | None, str, str | None]] = []
    for part in parts:
        if isinstance(part, str):
            steps.append((part, None, "", None))
        else:
            fallback = part.source if part.source[1] != "{" else ""
            # A bare one-segment {{key}} is read from a dict record inline (paths.compile_path's
            # rule when no row is bound); anything else calls its resolver.
            plain_key = (
                part.name if part.pipe is None and not part.is_variable and "." not in part.name else None
            )
            steps.append(("", part.resolve, fallback, plain_key))
    frozen = tuple(steps)

    def joined(scope: Scope) -> Any:
        out = []
        record = scope.record
        plain = record if scope.rows is None and type(record) is dict else None
        for literal, resolve, fallback, key in frozen:
            if resolve is None:
                out.append(literal)
                continue
            value = plain.get(key, MISSING) if plain is not None and key is not None else resolve(scope)
            if type(value) is str:
                out.append(value)
            else:
                out.append(fallback if value is MISSING else to_text(value))
        size = sum(map(len, out))
        if size > SHORT_TEXT:  # checked before joining; shorter texts are within any limit
            budget().result(size, f"the text {shown(text)}")
        return "".join(out)

    return joined
