"""What httpcore reports having done with a request: how far it got, and whether anything was sent.

:class:`~ferry.connectors.transport.Transport` reads it to name the phase a failure struck in and to decide
whether a write may have been applied; it also hands the session cookies of an answer to the redactor
before httpcore logs the headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferry.connectors.bodies import raw_headers, register_cookies


class Progress:
    """What httpcore reports having done with a request (its ``trace`` extension)."""

    def __init__(self, session_cookies: frozenset[str] = frozenset()) -> None:
        self.session_cookies = session_cookies
        self.traced = False
        self.sending = False
        self.sent = False
        self.answered = False
        self.reading = False

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        self.traced = True
        if event.endswith("send_request_headers.started"):
            self.sending = True
        elif event.endswith("send_request_body.complete"):
            self.sent = True
        elif event.endswith("receive_response_headers.complete"):
            self.answered = True
            # httpcore logs these headers at DEBUG right after this hook returns: a session cookie must
            # be known to the redactor before that line is written
            if self.session_cookies:
                register_cookies(raw_headers(info.get("return_value")), self.session_cookies)

    @property
    def phase(self) -> str:
        if self.reading or self.answered:
            return "read"
        if self.sending and not self.sent:
            return "send"
        if self.sending:
            return "wait"
        # in-process test transports trace nothing: say "waiting", not "connecting"
        return "connect" if self.traced else "wait"

    @property
    def nothing_sent(self) -> bool:
        """True only when httpcore said so (in-process test transports report nothing: assume sent)."""
        return self.traced and not self.sending


__all__ = ["Progress"]
