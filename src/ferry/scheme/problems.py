"""What is wrong with a file, and where: :class:`Problem` values and the :class:`SchemeError` that carries them.

A problem names the file, the key path (``source.pagination.page_size``), the 1-based line and column
(0 when unknown) and a message a person can act on. A warning is a problem that does not stop a load
(an unknown key in Qingyi metadata, a side whose params could not be checked); it prints as
``file:line:col: path: warning: message``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ferry.errors import ConfigError

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file. ``line`` and ``column`` are 1-based; 0 when unknown."""

    file: str
    path: str
    line: int
    column: int
    message: str
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def where(self) -> str:
        """``file:line:col``, or ``file:line`` / ``file`` when less is known."""
        if self.line and self.column:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file

    def __str__(self) -> str:
        key = f" {self.path}:" if self.path else ""
        kind = " warning:" if self.severity == "warning" else ""
        return f"{self.where}:{key}{kind} {self.message}"


def errors_in(problems: Iterable[Problem]) -> list[Problem]:
    """The problems that are errors (not warnings)."""
    return [p for p in problems if p.is_error]


def path_text(loc: Sequence[str | int]) -> str:
    """``("source", "request", 0, "value")`` -> ``source.request[0].value``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class SchemeError(ConfigError):
    """A scheme file (or a file read like one) could not be loaded; ``problems`` says every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid scheme")

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


__all__ = ["Problem", "SchemeError", "Severity", "errors_in", "path_text"]
