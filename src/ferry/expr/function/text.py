"""``_function`` text functions: CONCAT, SUBSTRING, LOCATE, REPLACE, TRIM, LPAD, REPEAT and the rest.

Each takes MySQL values (see :mod:`ferry.expr.mysql`) and gives NULL for a NULL argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ferry.expr import mysql


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
    return None if parts is None else mysql.cap("".join(parts))


def concat_ws(values: list[Any]) -> Any:
    separator = mysql.text(values[0]) if values else None
    if separator is None:
        return None
    parts = [mysql.text(v) for v in values[1:] if v is not None]
    return mysql.cap(separator.join(p for p in parts if p is not None))


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
    growth = text.count(before) * (len(after) - len(before))
    if len(text) + growth > mysql.MAX_STRING:
        raise mysql.ValueTooLarge(f"string result longer than {mysql.MAX_STRING} characters")
    return text.replace(before, after)


def length_bytes(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else len(text.encode("utf-8"))


def length_chars(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else len(text)


def upper(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else text.upper()


def lower(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else text.lower()


def trim(position: str | None) -> Callable[[Any, Any], Any]:
    def run(s: Any, remove: Any = None) -> Any:
        text = mysql.text(s)
        strip = " " if remove is None else mysql.text(remove)
        if text is None or strip is None:
            return None
        if not strip:
            return text
        if position in (None, "BOTH", "LEADING"):
            while text.startswith(strip):
                text = text[len(strip) :]
        if position in (None, "BOTH", "TRAILING"):
            while text.endswith(strip):
                text = text[: -len(strip)]
        return text

    return run


def pad(left: bool) -> Callable[[Any, Any, Any], Any]:
    def run(s: Any, length: Any, fill: Any = None) -> Any:
        text, width = mysql.text(s), mysql.as_int(length)
        filler = " " if fill is None else mysql.text(fill)
        if text is None or width is None or filler is None or width < 0:
            return None
        if width > mysql.MAX_STRING:
            raise mysql.ValueTooLarge(f"string result longer than {mysql.MAX_STRING} characters")
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
    if len(text) * count > mysql.MAX_STRING:
        raise mysql.ValueTooLarge(f"string result longer than {mysql.MAX_STRING} characters")
    return text * count


def substring_index(s: Any, delimiter: Any, count: Any) -> Any:
    args = _str_args(s, delimiter)
    n = mysql.as_int(count)
    if args is None or n is None:
        return None
    text, delim = args
    if not delim or n == 0:
        return ""
    parts = text.split(delim)
    return delim.join(parts[:n]) if n > 0 else delim.join(parts[n:])
