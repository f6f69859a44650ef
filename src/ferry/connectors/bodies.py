"""Reading an answer's body within a size cap, and the secrets its headers hand out.

The body is read as a stream: a declared ``Content-Length`` over the cap is refused before any byte is
read, and a body is dropped the moment it passes the cap. gzip and deflate are inflated here in bounded
steps (``max_length``), so a few KiB of compressed zeros cannot become gigabytes in memory; any other
encoding is refused (the transport asks for these two only).

:func:`parse_json` refuses, as a ``ValueError`` like any other non-JSON body, an answer nested deeper
than :data:`MAX_JSON_DEPTH` levels. Python's parser takes about a thousand, but what it takes from a
shallow stack, recursive code further on (hashing a record for the ledger, from the engine's deeper
stack) may not: a hostile source record nested 900 deep would pass here and crash a pass later.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import httpx

from ferry.observe.redact import register_secret

#: the deepest nesting of an answer read (real answers of the three systems nest well under 20)
MAX_JSON_DEPTH = 100


def parse_json(content: bytes | str) -> Any:
    """JSON of an answer body; ``ValueError`` for anything that is not, or nests deeper than
    :data:`MAX_JSON_DEPTH`."""
    try:
        value = json.loads(content)
    except RecursionError:
        raise ValueError("the answer is nested too deeply to read") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"the answer is not text: {e.reason}") from None
    if nested_deeper_than(value, MAX_JSON_DEPTH):
        raise ValueError(f"the answer nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def nested_deeper_than(value: Any, limit: int) -> bool:
    """True when the objects and lists of parsed JSON (plain dicts and lists) nest more than ``limit``
    levels. Walked level by level without recursion; about a third of the parse's own time."""
    level: list[Any] = [value] if value.__class__ is dict or value.__class__ is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            # exact classes: json.loads makes no subclasses, and the check is the hot path
            below.extend(
                [c for c in (node.values() if node.__class__ is dict else node) if c.__class__ in _CONTAINERS]
            )
        level = below
    return False


_CONTAINERS = (dict, list)


class AnswerTooLarge(Exception):
    """The answer passed the cap (``size``: the declared length, when there was one)."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


#: cookies registered from one answer at most (a server could send thousands to slow the redactor)
MAX_COOKIES_PER_ANSWER = 8


def register_cookies(headers: Any, names: frozenset[str]) -> None:
    """Register the values of the ``Set-Cookie`` headers (raw ``(name, value)`` pairs) that set one of the
    cookies ``names`` (lower case) as rotating secrets: that is how a server hands out a session."""
    count = 0
    for name, value in headers:
        if count >= MAX_COOKIES_PER_ANSWER:
            return
        if _lower(name) != "set-cookie":
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        cookie_name, _, rest = text.partition("=")
        cookie = rest.split(";", 1)[0].strip().strip('"')
        if cookie and cookie_name.strip().lower() in names:
            register_secret(cookie, transient=True)
            count += 1


def _lower(name: Any) -> str:
    return (name.decode("latin-1") if isinstance(name, bytes) else str(name)).lower()


def raw_headers(value: Any) -> list[tuple[Any, Any]]:
    """The header list inside httpcore's ``receive_response_headers`` result (HTTP/1.1 or HTTP/2 shape)."""
    if isinstance(value, tuple):
        for part in value:
            if isinstance(part, list) and all(isinstance(h, tuple) and len(h) == 2 for h in part):
                return part
    return []


class Inflater:
    """gzip/deflate decoding in bounded steps (``max_length``), like httpx's decoders but capped."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_deflate = False
        self._first = True
        wbits = zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(wbits)

    def feed(self, data: bytes, room: int) -> bytes:
        """Inflate ``data``, yielding at most ``room + 1`` bytes (one more tells the cap was passed)."""
        try:
            out = self._obj.decompress(data, room + 1)
        except zlib.error:
            if self.encoding == "deflate" and self._first:
                # some servers send raw deflate without the zlib header (httpx allows it too)
                self._raw_deflate = True
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._decompress(data, room)
            else:
                raise httpx.DecodingError(f"the answer is not valid {self.encoding}") from None
        self._first = False
        while self._obj.unconsumed_tail and len(out) <= room:
            out += self._decompress(self._obj.unconsumed_tail, room - len(out))
        return out

    def _decompress(self, data: bytes, room: int) -> bytes:
        try:
            return self._obj.decompress(data, room + 1)
        except zlib.error:
            raise httpx.DecodingError(f"the answer is not valid {self.encoding}") from None


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """The whole body of a streamed ``response``, decoded; :class:`AnswerTooLarge` past ``cap`` bytes."""
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > cap:
        raise AnswerTooLarge(int(declared))
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    inflater: Inflater | None = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = Inflater(encoding)
    elif encoding not in ("", "identity"):
        # we asked for gzip or deflate only
        raise httpx.DecodingError(f"the answer uses an unrequested encoding ({encoding[:32]})")
    body = bytearray()
    raw = 0
    async for chunk in response.aiter_raw():
        raw += len(chunk)
        if raw > cap:
            raise AnswerTooLarge(None)
        body += inflater.feed(chunk, cap - len(body)) if inflater else chunk
        if len(body) > cap:
            raise AnswerTooLarge(None)
    return bytes(body)


__all__ = [
    "MAX_COOKIES_PER_ANSWER",
    "MAX_JSON_DEPTH",
    "AnswerTooLarge",
    "Inflater",
    "nested_deeper_than",
    "parse_json",
    "raw_headers",
    "read_capped",
    "register_cookies",
]
