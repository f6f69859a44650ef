"""``_function`` text functions: CONCAT, SUBSTRING, LOCATE, REPLACE, TRIM, LPAD, REPEAT and the rest.

Each takes MySQL values (see :mod:`ferry.expr.mysql`) and gives NULL for a NULL argument. A
function that can make its result longer than its input checks the result's size with
:func:`ferry.expr.mysql.room` *before* building it, and none does more than linear work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ferry.expr import mysql
from ferry.expr.limits import budget


def _str_args(*values: Any) -> list[str] | None:
    out = []
    for value in values:
        text = mysql.text(value)
        if text is None:
            return None
        out.append(text)
    return out


def left(s: Any, n: Any) -> Any:
    if s is None or n is None:
        return None
    text, count = mysql.text(s), mysql.as_int(n)
    assert text is not None and count is not None
    return text[:count] if count > 0 else ""


def right(s: Any, n: Any) -> Any:
    if s is None or n is None:
        return None
    text, count = mysql.text(s), mysql.as_int(n)
    assert text is not None and count is not None
    return text[-count:] if count > 0 else ""


def substring(s: Any, pos: Any, length: Any = None) -> Any:
    if s is None or pos is None:
        return None
    text, start = mysql.text(s), mysql.as_int(pos)
    assert text is not None and start is not None
    if start == 0 or abs(start) > len(text):
        return ""
    begin = start - 1 if start > 0 else len(text) + start
    if length is None:
        return text[begin:]
    count = mysql.as_int(length)
    if count is None:
        return None
    return text[begin : begin + count] if count > 0 else ""


def concat(values: list[Any]) -> Any:
    parts = _str_args(*values)
    if parts is None:
        return None
    mysql.room(sum(map(len, parts)), "CONCAT")
    return "".join(parts)


def concat_ws(values: list[Any]) -> Any:
    separator = mysql.text(values[0]) if values else None
    if separator is None:
        return None
    parts = [text for text in (mysql.text(v) for v in values[1:] if v is not None) if text is not None]
    mysql.room(sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0), "CONCAT_WS")
    return separator.join(parts)


def locate(haystack: Any, needle: Any, position: Any = None) -> Any:
    # sqlglot's StrPosition: this = the string searched, substr = what is looked for.
    args = _str_args(haystack, needle)
    if args is None:
        return None
    text, sub = args
    start = 1 if position is None else mysql.as_int(position)
    if start is None:
        return None
    if start < 1:
        return 0
    return text.find(sub, start - 1) + 1


def replace(s: Any, old: Any, new: Any = None) -> Any:
    args = _str_args(s, old, "" if new is None else new)
    if args is None:
        return None
    text, before, after = args
    if not before:
        return text
    mysql.room(len(text) + text.count(before) * (len(after) - len(before)), "REPLACE")
    return text.replace(before, after)


def length_bytes(s: Any) -> Any:
    text = mysql.text(s)
    # surrogatepass: a lone surrogate (invalid UTF-16 from a record) counts as its three bytes.
    return None if text is None else len(text.encode("utf-8", "surrogatepass"))


def length_chars(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else len(text)


# Case mapping can lengthen a text up to three times ('ΐ'.upper() has three characters).
_CASE_GROWTH = 3
_CASE_CHUNK = 65_536


def _change_case(text: str, change: Callable[[str], str], what: str) -> str:
    if len(text) * _CASE_GROWTH <= mysql.MAX_STRING or text.isascii():
        mysql.room(len(text), what)
        return change(text)
    # A long non-ASCII text: convert in chunks, counting, so a breach stops before the end.
    out: list[str] = []
    size = 0
    for begin in range(0, len(text), _CASE_CHUNK):
        chunk = change(text[begin : begin + _CASE_CHUNK])
        size += len(chunk)
        mysql.room(size, what)
        out.append(chunk)
    return "".join(out)


def upper(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else _change_case(text, str.upper, "UPPER")


def lower(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else _change_case(text, str.lower, "LOWER")


def trim(position: str | None) -> Callable[[Any, Any], Any]:
    def run(s: Any, remove: Any = None) -> Any:
        text = mysql.text(s)
        strip = " " if remove is None else mysql.text(remove)
        if text is None or strip is None:
            return None
        if not strip:
            return text
        # One pass of indices and one slice at the end: slicing per occurrence was quadratic.
        begin, end, width = 0, len(text), len(strip)
        if position in (None, "BOTH", "LEADING"):
            if width == 1:
                begin = end - len(text.lstrip(strip))
            else:
                while text.startswith(strip, begin, end):
                    begin += width
        if position in (None, "BOTH", "TRAILING"):
            if width == 1:
                end = begin + len(text[begin:].rstrip(strip))
            else:
                while end - width >= begin and text.endswith(strip, begin, end):
                    end -= width
        return text[begin:end]

    return run


def pad(left: bool) -> Callable[[Any, Any, Any], Any]:
    def run(s: Any, length: Any, fill: Any = None) -> Any:
        text, width = mysql.text(s), mysql.as_int(length)
        filler = " " if fill is None else mysql.text(fill)
        if text is None or width is None or filler is None or width < 0:
            return None
        mysql.room(width, "LPAD" if left else "RPAD")
        if width <= len(text):
            return text[:width]
        if not filler:
            return None
        needed = width - len(text)
        padding = (filler * (needed // len(filler) + 1))[:needed]
        return padding + text if left else text + padding

    return run


def repeat(s: Any, times: Any) -> Any:
    text, count = mysql.text(s), mysql.as_int(times)
    if text is None or count is None:
        return None
    if count <= 0:
        return ""
    mysql.room(len(text) * count, "REPEAT")
    return text * count


def substring_index(s: Any, delimiter: Any, count: Any) -> Any:
    args = _str_args(s, delimiter)
    n = mysql.as_int(count)
    if args is None or n is None:
        return None
    text, delim = args
    if not delim or n == 0:
        return ""
    # The same occurrences as text.split(delim) (non-overlapping, from the left), found without
    # building the list of parts, which for a long text would be huge.
    occurrences = text.count(delim)
    if abs(n) > occurrences:
        return text
    nth = n if n > 0 else occurrences + n + 1
    at = _nth(text, delim, nth)
    return text[:at] if n > 0 else text[at + len(delim) :]


def _nth(text: str, delim: str, nth: int) -> int:
    """Where the ``nth`` (1-based) non-overlapping occurrence of ``delim`` starts in ``text``."""
    at = text.find(delim)
    for index in range(1, nth):
        at = text.find(delim, at + len(delim))
        if index & 4095 == 0:
            budget().spend(4096)
    return at
