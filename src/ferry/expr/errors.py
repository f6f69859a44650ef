"""The one error type of :mod:`ferry.expr`, carrying where in the text it went wrong.

Owns: :class:`ExprError` (a :class:`ferry.errors.FerryError`). Every failure of compiling or rendering an expression, template,
parser, format, condition or request field raises it, so callers need one ``except``.
"""

from __future__ import annotations

from ferry.errors import FerryError


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

    def with_field(self, field: str) -> ExprError:
        """The same error, attributed to a request field path (the innermost path wins)."""
        if self.field:
            return self
        return ExprError(self.message, text=self.text, position=self.position, field=field)

    def with_text(self, text: str, offset: int = 0) -> ExprError:
        """The same error, re-anchored in an enclosing text where this text starts at ``offset``."""
        position = None if self.position is None else self.position + offset
        return ExprError(self.message, text=text, position=position, field=self.field)

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
