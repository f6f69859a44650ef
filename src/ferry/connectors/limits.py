"""The limits of one call through :class:`~ferry.connectors.transport.Transport`: deadline and size cap."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_DEADLINE_S = 30.0


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """How long one call may take and how much of an answer is read; safe defaults."""

    #: seconds for the whole call: connect, send and read the whole body
    deadline_s: float = DEFAULT_DEADLINE_S
    #: seconds to establish a connection (default: the deadline, at most 10)
    connect_s: float | None = None
    #: the largest answer body read, after decompression
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    #: connections kept to the server
    max_connections: int = 8

    def __post_init__(self) -> None:
        if not self.deadline_s > 0:
            raise ValueError("deadline_s must be positive")
        if self.max_response_bytes < 1:
            raise ValueError("max_response_bytes must be positive")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")

    def httpx_timeout(self) -> httpx.Timeout:
        """httpx's per-phase timeouts: the connect timeout, and a second past the deadline for the
        rest, so the call's deadline is what strikes (with a message that names the phase)."""
        connect = self.connect_s if self.connect_s is not None else min(self.deadline_s, 10.0)
        return httpx.Timeout(self.deadline_s + 1.0, connect=connect)


__all__ = ["DEFAULT_DEADLINE_S", "DEFAULT_MAX_RESPONSE_BYTES", "TransportLimits"]
