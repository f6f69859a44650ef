"""The one error type of :mod:`ferry.expr`, carrying where in the text it went wrong.

Owns: :class:`ExprError` (a :class:`ferry.errors.FerryError`) and its one refinement
:class:`LimitExceeded`. Every failure of compiling or rendering an expression, template,
parser, format, condition or request field raises an ``ExprError``, so callers need one
``except``; :func:`translate` turns anything else that escapes the evaluator into one.
"""

from __future__ import annotations

import reprlib
from typing import Any, Final

from ferry.errors import FerryError

_KEEP: Final[Any] = object()


class ExprError(FerryError, ValueError):
    """An expression could not be compiled or evaluated.

    ``position`` is a 0-based character offset into ``text`` (the expression as the user wrote
    it, including a ``_function`` prefix); ``line`` and ``column`` are 1-based and derived from
    it. ``field`` names the request field path (``Model.FEntity[2].FQty``) when the error comes
    from building a request.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str | None = None,
        position: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.text = text
        self.position = position
        self.field = field
        self.line: int | None = None
        self.column: int | None = None
        if text is not None and position is not None:
            position = max(0, min(position, len(text)))
            self.position = position
            before = text[:position]
            self.line = before.count("\n") + 1
            self.column = position - (before.rfind("\n") + 1) + 1
        super().__init__(message)
        # FerryError keeps the bare message; str() of an expression error is the full description
        self._text = self._describe()

    def __str__(self) -> str:
        return self._text

    def lines(self) -> list[str]:
        return [self._text]

    def _describe(self) -> str:
        parts = []
        if self.field:
            parts.append(f"field {self.field!r}: ")
        parts.append(self.message)
        if self.line is not None:
            parts.append(f" (line {self.line}, column {self.column})")
        if self.text is not None:
            shown = self.text if len(self.text) <= 200 else self.text[:197] + "..."
            parts.append(f" in {shown!r}")
        return "".join(parts)

    def replace(self, *, text: Any = _KEEP, position: Any = _KEEP, field: Any = _KEEP) -> ExprError:
        """A copy with another text, position or field path, of the same class (a limit stays a limit)."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        ExprError.__init__(
            clone,
            self.message,
            text=self.text if text is _KEEP else text,
            position=self.position if position is _KEEP else position,
            field=self.field if field is _KEEP else field,
        )
        return clone

    def anchored(self, text: str, position: int) -> ExprError:
        """This error placed at ``position`` in ``text`` unless it already knows where it happened."""
        if self.text is not None:
            return self
        return self.replace(text=text, position=position)

    def with_field(self, field: str) -> ExprError:
        """The same error, attributed to a request field path (the innermost path wins)."""
        if self.field:
            return self
        return self.replace(field=field)

    def with_text(self, text: str, offset: int = 0) -> ExprError:
        """The same error, re-anchored in an enclosing text where this text starts at ``offset``."""
        position = None if self.position is None else self.position + offset
        return self.replace(text=text, position=position)

    def caret(self) -> str:
        """The offending line of the text with a ``^`` under the position; '' if unknown."""
        if self.text is None or self.position is None or self.line is None or self.column is None:
            return ""
        line_text = self.text.split("\n")[self.line - 1]
        # Wide (CJK) characters take two terminal cells; pad the caret accordingly.
        pad = "".join(_cell_pad(ch) for ch in line_text[: self.column - 1])
        return f"{line_text}\n{pad}^"


def _cell_pad(ch: str) -> str:
    if ch == "\t":
        return "\t"
    import unicodedata

    return "  " if unicodedata.east_asian_width(ch) in ("W", "F") else " "


class LimitExceeded(ExprError):
    """A value or the work of one rendering outgrew one of the :class:`ferry.expr.Limits`.

    ``limit`` names the limit (``max_text_chars``, ``time_budget``...). Unlike other expression
    errors, compat mode never turns it into raw text: a breach is always reported.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        text: str | None = None,
        position: int | None = None,
        field: str | None = None,
    ) -> None:
        self.limit = limit
        super().__init__(message, text=text, position=position, field=field)


def translate(exc: BaseException) -> ExprError:
    """An ``ExprError`` for an exception that escaped the evaluator, worded for a person.

    Root causes are fixed where they are cheap; this is the net under them, applied at every
    public entry point so that nothing but ``ExprError`` reaches the caller.
    """
    if isinstance(exc, ExprError):
        return exc
    if isinstance(exc, RecursionError):
        return LimitExceeded("a value or expression is nested too deeply to evaluate", limit="depth")
    if isinstance(exc, MemoryError):
        return LimitExceeded("a value is too large to build in memory", limit="memory")
    if isinstance(exc, ArithmeticError):
        return ExprError("cannot compute with this number (out of range or not a number)")
    if isinstance(exc, UnicodeError):
        return ExprError("a text value is not valid Unicode")
    return ExprError("cannot evaluate this value (unsupported value or operation)")


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 60
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 4
_SHOWN.maxlevel = 2


def shown(value: Any) -> str:
    """A value as quoted in a message: a repr bounded in length and depth, whatever the value."""
    try:
        return _SHOWN.repr(value)
    except Exception:  # the repr of a hostile object must not break the error that reports it
        return f"<{type(value).__name__}>"
