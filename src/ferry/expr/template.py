"""Templates: the value of a scheme field, compiled once and rendered per record.

Owns: :class:`Template`, :func:`compile_template` (LRU-cached by text), :func:`render` and
:func:`check`. A template is one of

* a constant (no placeholders) -> the text itself;
* text with ``{{field}}`` / ``{VAR}`` placeholders (see :mod:`ferry.expr.interpolate`);
* ``_function <expr>`` (see :mod:`ferry.expr.function`);
* ``_findCollection find F from S where A={{a}}`` as the whole value (see :mod:`ferry.expr.lookup`).

Strict by default: errors raise :class:`ExprError`. With ``Context(compat=True)`` a
``_function``/``_findCollection`` that fails to compile or evaluate renders as its raw text with
the fields substituted as text, which is what Qingyi returns; a breached limit
(:class:`~ferry.expr.errors.LimitExceeded`) is raised in every mode.

Every public function and method here is total: for any text, record and context it returns or
raises ``ExprError``, within the context's :class:`~ferry.expr.limits.Limits`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from ferry.expr.errors import ExprError, LimitExceeded
from ferry.expr.function import compile_function
from ferry.expr.interpolate import Placeholder, compile_text
from ferry.expr.limits import bounded, total
from ferry.expr.lookup import compile_find, parse_find
from ferry.expr.paths import MISSING, Scope
from ferry.expr.variables import Context, to_text

_FUNCTION = re.compile(r"^\s*_function\s+", re.S)
_FIND = re.compile(r"^\s*_findCollection\s", re.S)

_DEFAULT_CONTEXT = Context()


class Template:
    """A compiled template. ``render(record, ctx)`` gives the typed value (see module docs)."""

    __slots__ = ("_error", "_fallback", "_render", "fields", "kind", "single", "text", "variables")

    def __init__(
        self,
        text: str,
        kind: str,
        render: Callable[[Scope], Any] | None,
        fields: tuple[str, ...],
        variables: tuple[str, ...] = (),
        error: ExprError | None = None,
    ) -> None:
        self.text = text
        #: 'constant', 'field' (exactly one placeholder), 'text', 'function' or 'lookup'
        self.kind = kind
        #: record field paths this template reads
        self.fields = fields
        #: system/context variable names this template reads
        self.variables = variables
        self._render = render
        self._error = error
        self._fallback: Callable[[Scope], Any] | None = None
        #: the placeholder of a 'field' template (the whole text is exactly it)
        self.single: Placeholder | None = None

    def __repr__(self) -> str:
        return f"Template({self.text!r}, kind={self.kind!r})"

    @property
    def error(self) -> ExprError | None:
        """The compile error kept for compat rendering (only for ``compile_template(..., compat=True)``)."""
        return self._error

    def render(self, record: Mapping[str, Any], ctx: Context | None = None) -> Any:
        """Render against one record."""
        context = ctx or _DEFAULT_CONTEXT
        return bounded(context.limits, self._render_scope, Scope(record, context))

    def render_scope(self, scope: Scope) -> Any:
        """Render in an existing scope (inside an array row, for example)."""
        return bounded(scope.ctx.limits, self._render_scope, scope)

    def _render_scope(self, scope: Scope) -> Any:
        render = self._render
        if render is None:
            if scope.ctx.compat:
                return self._raw(scope)
            assert self._error is not None
            raise self._error
        if self.kind in ("function", "lookup") and scope.ctx.compat:
            try:
                return render(scope)
            except LimitExceeded:
                raise
            except ExprError:
                return self._raw(scope)
        return render(scope)

    def renderer(self) -> Callable[[Scope], Any]:
        """The fastest closure rendering this template in a scope, for callers that already run
        inside a rendering (compiled field lists): it does not open a budget of its own."""
        render = self._render
        if render is None:
            return self._render_scope
        if self.kind not in ("function", "lookup"):
            return render
        raw = self._raw

        def function(scope: Scope) -> Any:
            if scope.ctx.compat:
                try:
                    return render(scope)
                except LimitExceeded:
                    raise
                except ExprError:
                    return raw(scope)
            return render(scope)

        return function

    def _raw(self, scope: Scope) -> Any:
        # Qingyi splices fields into the text and, on failure, hands back that text.
        if self._fallback is None:
            body = _FUNCTION.sub("", self.text, count=1)
            try:
                compiled = compile_text(body).render
            except ExprError:
                compiled = _constant(body)
            self._fallback = compiled
        value = self._fallback(scope)
        return to_text(value)


def _constant(text: str) -> Callable[[Scope], Any]:
    def constant(scope: Scope) -> Any:
        return text

    return constant


@functools.lru_cache(maxsize=8192)
def _compile_cached(text: str) -> Template:
    return total(_compile, text)


def _compile(text: str) -> Template:
    if not isinstance(text, str):
        raise ExprError(f"a template is a text, got {type(text).__name__}")
    function = _FUNCTION.match(text)
    if function:
        compiled = compile_function(text, function.end())
        return Template(text, "function", compiled.evaluate, compiled.fields)
    if _FIND.match(text):
        start = text.index("_findCollection")
        body = text[start:].strip()
        if body.endswith("_endFind"):
            body = body[: -len("_endFind")].rstrip()
        spec = parse_find(body, full_text=text, offset=start)
        fields = tuple(p.name for _, v in spec.where for p in v.placeholders if not p.is_variable)
        return Template(text, "lookup", compile_find(spec, text=text, position=start), fields)
    compiled_text = compile_text(text)
    fields = tuple(dict.fromkeys(p.name for p in compiled_text.placeholders if not p.is_variable))
    variables = tuple(dict.fromkeys(p.name for p in compiled_text.placeholders if p.is_variable))
    if compiled_text.is_constant:
        kind = "constant"
    elif compiled_text.single is not None:
        kind = "field"
    else:
        kind = "text"
    template = Template(text, kind, compiled_text.render, fields, variables)
    template.single = compiled_text.single
    return template


def compile_template(text: str, *, compat: bool = False) -> Template:
    """Compile ``text`` once (cached by text). Raises ``ExprError`` unless ``compat`` is set,
    in which case a broken template is returned and renders as its raw text in compat contexts."""
    if not isinstance(text, str):  # before the cache, which would need to hash it
        raise ExprError(f"a template is a text, got {type(text).__name__}")
    try:
        return _compile_cached(text)
    except ExprError as exc:
        if not compat:
            raise
        return Template(text, "function", None, (), error=exc)


def check(text: str) -> Template:
    """Compile only (for scheme validation); raises ``ExprError`` with the position of a problem."""
    if not isinstance(text, str):
        raise ExprError(f"a template is a text, got {type(text).__name__}")
    return _compile_cached(text)


def render(value: Any, record: Mapping[str, Any], ctx: Context | None = None) -> Any:
    """Render a template string, or every string inside a dict/list, against ``record``."""
    context = ctx or _DEFAULT_CONTEXT
    return bounded(context.limits, _render_value, value, Scope(record, context))


def _render_value(value: Any, scope: Scope) -> Any:
    if isinstance(value, str):
        return compile_template(value, compat=scope.ctx.compat)._render_scope(scope)
    if isinstance(value, Mapping):
        return {key: _render_value(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_value(item, scope) for item in value]
    return value


def value_or_none(value: Any) -> Any:
    """``MISSING`` as ``None`` (for callers that resolve paths themselves)."""
    return None if value is MISSING else value
