"""Values in and out of the ledger's columns, converted once each and the same on every backend.

- One canonical JSON encoding (orjson: sorted keys, compact, UTF-8 kept readable; ``Decimal``,
  ``datetime`` and other objects as their ``str()``) is both what ``content_hash`` hashes and the text
  the column stores, so a value is encoded once.
- Datetimes: aware UTC in; SQLite stores naive UTC text in SQLAlchemy's own format (so SQL comparisons
  and SQLAlchemy reads agree), PostgreSQL takes the aware value.
- What a column cannot hold, the same on both backends: NaN and ±infinity (not JSON), NUL characters
  (PostgreSQL ``text`` and ``jsonb`` refuse ``\\u0000``), lone surrogates (not UTF-8), and text over a
  column's 200 characters. :func:`encode_checked` and :func:`text_problem` say which field and what was
  wrong; :func:`sanitized` and :func:`clean_text` make a copy a person can read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import orjson

#: sorted keys; datetimes go to ``default`` (``str()``, as the hash always had them); int keys as text
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
#: the width of every key column (source_id, number, partition, target_id, target_number)
KEY_LIMIT = 200
_REPLACEMENT = "\ufffd"
_MAX_PROBLEMS = 5


def _fallback(value: Any) -> str:
    # integers beyond 64 bits (orjson's range): the standard library writes the same canonical form
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def encode_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (the stored text and the hashed text)."""
    try:
        return orjson.dumps(value, default=str, option=_CANONICAL).decode()
    except TypeError:
        return _fallback(value)


def decode_json(text: str | bytes | None) -> Any:
    """A stored JSON text back as Python values (None for SQL NULL)."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # rows written before the canonical encoding may hold NaN, which only the standard library reads
        return json.loads(text)


def digest(text: str) -> str:
    """sha256 of canonical JSON text (``content_hash``)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def content_hash(content: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``content`` (sorted keys, compact, Decimal/datetime as text)."""
    return digest(encode_json(content))


def encode_checked(value: Any, where: str) -> tuple[str, list[str]]:
    """``value``'s canonical JSON and what in it no backend can hold (empty when all is well).

    When something is wrong the text is that of :func:`sanitized` ``value``, so it can still be stored
    for a person to read. The common case costs one encoding: NaN and infinities come out of orjson
    as ``null`` and NUL as ``\\u0000``, so only a text holding either is walked value by value.
    """
    raw = _canonical(value)
    text = None if raw is None else raw.decode()
    # searched as text: str's search is twice as fast as bytes' on these short needles
    if text is not None and "null" not in text and "\\u0000" not in text:
        return text, []
    return _checked(value, where, text)


def encode_hashed(value: Any, where: str) -> tuple[str, str, list[str]]:
    """:func:`encode_checked` with the text's :func:`digest`, hashed from the encoded bytes in the
    common case (collect stores both for every record)."""
    raw = _canonical(value)
    if raw is None:
        text, problems = _checked(value, where, None)
    else:
        text = raw.decode()
        if "null" not in text and "\\u0000" not in text:
            return text, hashlib.sha256(raw).hexdigest(), []
        text, problems = _checked(value, where, text)
    return text, digest(text), problems


def _canonical(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value, default=str, option=_CANONICAL)
    except TypeError:
        return None  # a lone surrogate, or an integer beyond 64 bits


def _checked(value: Any, where: str, text: str | None) -> tuple[str, list[str]]:
    """The slow part of :func:`encode_checked`: ``text`` (orjson's, if it could) holds null or a NUL
    escape, or orjson could not encode ``value``; look at the values themselves."""
    problems: list[str] = []
    clean = _sanitize(value, where, problems)
    if not problems:
        return (text if text is not None else _fallback(value)), []
    return encode_json(clean), problems


def sanitized(value: Any) -> Any:
    """A copy of ``value`` every backend can hold: NaN/±infinity as the strings ``"NaN"``,
    ``"Infinity"``, ``"-Infinity"``; NUL and lone surrogates as U+FFFD."""
    return _sanitize(value, "", [])


def _sanitize(value: Any, path: str, problems: list[str]) -> Any:
    if isinstance(value, str):
        problem = _string_problem(value)
        if problem is None:
            return value
        problems.append(f"{path or 'the value'} {problem}")
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        problems.append(f"{path or 'the value'} is {shown}, which is not a number JSON can hold")
        return shown
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key if isinstance(key, str) else str(key)
            problem = _string_problem(name)
            if problem is not None:
                problems.append(f"a key in {path or 'the value'} {problem}")
                name = clean_text(name)
            out[name] = _sanitize(item, f"{path}.{name}" if path else name, problems)
        return out
    if isinstance(value, list | tuple):
        return [_sanitize(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return str(value)
    # Decimal and anything else is stored as its text, as the canonical encoding does
    return _sanitize(str(value), path, problems)


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def text_problem(value: str | None, what: str, limit: int = KEY_LIMIT) -> str | None:
    """Why ``value`` cannot go in a ``limit``-character key column, or None when it can."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{what} is a {type(value).__name__}, not text"
    if len(value) <= limit and value.isascii() and "\x00" not in value:
        return None  # the common case, without encoding
    problem = _string_problem(value)
    if problem is not None:
        return f"{what} {problem}"
    if len(value) > limit:
        return f"{what} is {len(value)} characters long (the ledger holds at most {limit})"
    return None


def clean_text(value: str, limit: int | None = None) -> str:
    """``value`` with NUL and lone surrogates as U+FFFD, cut to ``limit`` characters."""
    if "\x00" in value:
        value = value.replace("\x00", _REPLACEMENT)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join(_REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    return value if limit is None else value[:limit]


def clean_optional(value: str | None, limit: int | None = None) -> str | None:
    """:func:`clean_text` of a value that may be None; a non-text value becomes its text."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    elif value.isascii() and "\x00" not in value and (limit is None or len(value) <= limit):
        return value
    if limit is not None and len(value) > limit:
        value = value[:limit]
    if "\x00" in value or not value.isascii():
        return clean_text(value, limit)
    return value


def summarize(problems: list[str]) -> str:
    """The first few problems in one line."""
    shown = "; ".join(problems[:_MAX_PROBLEMS])
    more = len(problems) - _MAX_PROBLEMS
    return shown + (f"; and {more} more" if more > 0 else "")


def sqlite_time(value: dt.datetime | None) -> str | None:
    """An aware datetime as SQLite holds it: naive UTC text with microseconds (SQLAlchemy's format)."""
    if value is None:
        return None
    if value.tzinfo is dt.UTC:  # the common case (every ``now`` of the ledger): half the cost
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the ledger takes timezone-aware datetimes")
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """An aware datetime as PostgreSQL takes it (naive ones refused)."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"naive datetime {value!r}: the ledger takes timezone-aware datetimes")
    return value
