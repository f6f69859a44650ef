"""SQL ``LIKE`` without regular expressions: at worst O(len(text) * len(pattern)), usually linear.

Owns :func:`like_matcher`, used by ``_function``'s ``LIKE`` and by the ``like`` condition. The
pattern is split at ``%`` into segments of literal runs and ``_`` (any one character); ``\\``
escapes the next character. The first segment must match at the start, the last at the end,
and each middle one is placed at its leftmost match after the previous one, which is optimal
for this kind of pattern, so nothing is ever retried (no backtracking). A segment is searched
for with ``str.find`` on its literal runs and checked with ``str.startswith``; a pattern taken
from a record cannot build a regular expression, and long searches look at the time budget.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ferry.expr.limits import budget

# Patterns up to this long are compiled once and kept; longer ones (from records) are not kept.
_CACHED_PATTERN = 256


class _Segment:
    """A run of literal characters and ``_`` between two ``%``: ``width`` characters long."""

    __slots__ = ("pieces", "width")

    def __init__(self, chars: list[str | None]) -> None:
        self.width = len(chars)
        pieces: list[tuple[int, str]] = []
        run: list[str] = []
        for offset, char in enumerate([*chars, None]):
            if char is not None:
                run.append(char)
            elif run:
                pieces.append((offset - len(run), "".join(run)))
                run = []
        # The literal runs between the '_'s, longest (most selective) first.
        self.pieces = tuple(sorted(pieces, key=lambda piece: -len(piece[1])))

    def at(self, subject: str, start: int) -> bool:
        """Whether the segment matches ``subject`` at ``start`` (which leaves room for it)."""
        return all(subject.startswith(text, start + offset) for offset, text in self.pieces)

    def find(self, subject: str, start: int) -> int:
        """The leftmost place at or after ``start`` where the segment matches, or -1.

        Leapfrogging: when a run does not match at a place, no place before its next occurrence
        (found by str.find, in C) can match either, so the search jumps there.
        """
        last = len(subject) - self.width
        place = start
        tries = 0
        while place <= last:
            for offset, text in self.pieces:
                if not subject.startswith(text, place + offset):
                    found = subject.find(text, place + offset + 1)
                    if found < 0:
                        return -1
                    place = found - offset
                    break
            else:
                return place
            tries += 1
            if tries & 1023 == 0:
                budget().spend(1024 * (self.width + 1))
        return -1


def _segments(pattern: str, escape: str) -> list[_Segment]:
    chars: list[list[str | None]] = [[]]  # None stands for '_'
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == escape and i + 1 < n:
            chars[-1].append(pattern[i + 1])
            i += 2
            continue
        if ch == "%":
            if chars[-1] or len(chars) == 1:  # '%%' is '%': an empty middle segment matches anywhere
                chars.append([])
        elif ch == "_":
            chars[-1].append(None)
        else:
            chars[-1].append(ch)
        i += 1
    return [_Segment(segment) for segment in chars]


def like_matcher(pattern: str, escape: str = "\\") -> Callable[[str], bool]:
    """A matcher for a SQL LIKE pattern (``%`` any run, ``_`` one character), case-sensitive."""
    if len(pattern) <= _CACHED_PATTERN:
        return _cached_matcher(pattern, escape)
    return _matcher(pattern, escape)


@functools.lru_cache(maxsize=512)
def _cached_matcher(pattern: str, escape: str) -> Callable[[str], bool]:
    return _matcher(pattern, escape)


def _matcher(pattern: str, escape: str) -> Callable[[str], bool]:
    segments = _segments(pattern, escape)
    if len(segments) == 1:
        only = segments[0]
        return lambda subject: len(subject) == only.width and only.at(subject, 0)

    first, *middle, last = segments

    def match(subject: str) -> bool:
        if first.width > len(subject) or not first.at(subject, 0):
            return False
        position = first.width
        for segment in middle:
            found = segment.find(subject, position)
            if found < 0:
                return False
            position = found + segment.width
        tail = len(subject) - last.width
        return tail >= position and last.at(subject, tail)

    return match
