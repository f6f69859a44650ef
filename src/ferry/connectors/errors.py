"""Connector errors, typed by what the caller should do about them.

The engine never parses messages: it looks at the class. The hierarchy follows httpx's habit of
naming the remedy, and dlt's marker classes:

- :class:`RetryLater`      transient; try again after back-off (5xx, dropped before sending, MsgCode 13/14).
- :class:`SlowDown`        throttled; the limiter for that API should slow down, then retry.
- :class:`Reauthenticate`  the token or session is gone; log in again, then retry once.
- :class:`OutcomeUnknown`  the request may have reached the target; reconcile before any retry.
- :class:`GiveUp`          permanent; retrying cannot help (validation, not found, quota for the month).
- :class:`AccessDenied`    the connection itself is refused (a wrong password or app secret, a token that
                           cannot be obtained, a permission every call needs): no record is to blame, so
                           the pass stops and the records go back untouched.

``code`` is the remote system's own error code (``"90018"``, ``"MsgCode=11"``) and ``api`` the API name,
so the ledger can store them as columns rather than in prose.

``retry_after`` often comes from the remote system (a ``Retry-After`` header, a penalty end time in a
message): it is clamped to [0, :data:`MAX_RETRY_AFTER_S`] seconds (a month for :class:`QuotaExhausted`) and a non-finite value is dropped, so
no answer can make the engine compute an impossible date.
"""

from __future__ import annotations

import math

from ferry.errors import FerryError

#: the longest pause a remote system can ask for; longer asks are taken as this (an hour)
MAX_RETRY_AFTER_S = 3600.0


def clamp_retry_after(seconds: float | None, limit: float = MAX_RETRY_AFTER_S) -> float | None:
    """``seconds`` within [0, ``limit``]; None for None, NaN and infinities."""
    if seconds is None:
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(value):
        return None
    return min(max(value, 0.0), limit)


class ConnectorError(FerryError):
    """Base of every error a connector raises on purpose."""

    #: what the engine should do; one word per subclass, stored in the ledger's error type column
    action: str = "give_up"
    #: the longest ``retry_after`` this kind of error may carry
    max_retry_after: float = MAX_RETRY_AFTER_S

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        api: str | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.api = api
        self.retry_after = clamp_retry_after(retry_after, self.max_retry_after)
        self.request_id = request_id

    def __str__(self) -> str:
        where = f" [{self.api}]" if self.api else ""
        code = f" (code {self.code})" if self.code else ""
        return f"{self.message}{code}{where}"

    def lines(self) -> list[str]:
        return [str(self), self.hint] if self.hint else [str(self)]


class RetryLater(ConnectorError):
    """A transient failure that left nothing behind at the target: retry after back-off."""

    action = "retry"


class SlowDown(RetryLater):
    """The remote system throttled us: slow the limiter for this API, then retry."""

    action = "slow_down"


class Reauthenticate(ConnectorError):
    """The credential (token, session) is no longer valid: log in again and retry once."""

    action = "reauthenticate"


class OutcomeUnknown(ConnectorError):
    """The request may have been applied (timeout or drop after sending): ask the target before retrying."""

    action = "reconcile"


class GiveUp(ConnectorError):
    """A permanent failure: retrying the same request cannot succeed."""

    action = "give_up"


class AccessDenied(ConnectorError):
    """The connection is refused as a whole: every call would fail the same way until a person fixes
    the connection (password, app secret, app permissions). Never a record's fault: the engine stops
    the pass, gives the batch back without counting an attempt, and records the run as failed."""

    action = "access_denied"


class QuotaExhausted(GiveUp):
    """A quota for a long period (e.g. DingTalk's monthly call quota) is used up."""

    action = "give_up"
    # "after the quota resets" is up to a month away
    max_retry_after = 32 * 86400.0


__all__ = [
    "MAX_RETRY_AFTER_S",
    "AccessDenied",
    "ConnectorError",
    "GiveUp",
    "OutcomeUnknown",
    "QuotaExhausted",
    "Reauthenticate",
    "RetryLater",
    "SlowDown",
    "clamp_retry_after",
]
