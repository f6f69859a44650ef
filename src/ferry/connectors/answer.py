"""What :class:`~ferry.connectors.transport.Transport` returns: an HTTP answer read whole, within limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from ferry.connectors.bodies import parse_json
from ferry.connectors.failures import parse_retry_after


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read whole and within the limits."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: httpx.URL
    #: cookies this answer set (the transport's jar has them too)
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)
    elapsed_ms: float = 0.0

    @property
    def text(self) -> str:
        """The body as text (the declared charset, else UTF-8; undecodable bytes replaced)."""
        charset = "utf-8"
        content_type = self.headers.get("content-type", "")
        for part in content_type.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip("\"' ")
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return parse_json(self.content)

    @property
    def retry_after(self) -> float | None:
        """The clamped ``Retry-After``, if any."""
        return parse_retry_after(self.headers.get("retry-after"))

    def header(self, name: str, limit: int = 128) -> str | None:
        """A header's value, cut to ``limit`` characters (ids for logs, never whole bodies)."""
        value = self.headers.get(name)
        return value[:limit] if value is not None else None


__all__ = ["Answer"]
