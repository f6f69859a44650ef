"""DingTalk access tokens, cached by (host, app key): clients of one app may share a cache, and its token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float


class TokenCache:
    """Tokens by (host, app key). Share one between clients of the same app to share its token."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"

    def lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def get(self, key: tuple[str, str]) -> _Token | None:
        return self._tokens.get(key)

    def put(self, key: tuple[str, str], token: _Token) -> None:
        self._tokens[key] = token

    def drop(self, key: tuple[str, str], value: str | None = None) -> None:
        """Forget the token (only if it is still ``value``, when given: another task may have refreshed)."""
        current = self._tokens.get(key)
        if current is not None and (value is None or current.value == value):
            del self._tokens[key]


__all__ = ["TokenCache"]
