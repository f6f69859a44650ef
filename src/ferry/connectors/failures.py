"""Transport failures and what they mean: the one mapping of httpx exceptions, and ``Retry-After``.

:data:`HTTPX_REMEDIES` names a :class:`Remedy` for every exception class httpx exports (a test walks
``httpx`` and fails on a class that is missing); :class:`~ferry.connectors.transport.Transport` turns
the remedy into a typed connector error, knowing whether the call was idempotent and whether sending had
begun. :func:`parse_retry_after` reads the header as seconds or an HTTP date, clamped to [0, 3600] s.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import time

import httpx

from ferry.connectors.errors import MAX_RETRY_AFTER_S, clamp_retry_after


class Remedy(enum.Enum):
    """What a transport failure means for the request."""

    #: nothing reached the server: send it again
    RETRY = "retry"
    #: the request itself is wrong: sending it again cannot help
    GIVE_UP = "give_up"
    #: it may have reached the server: retry an idempotent call, reconcile any other
    MAYBE_SENT = "maybe_sent"


#: every exception class httpx exports, and what it means. The families (HTTPError, TransportError...)
#: are listed too, so a subclass added by a later httpx falls back to its family's (cautious) remedy;
#: tests/connectors/test_transport.py fails when httpx exports a class that is not here.
HTTPX_REMEDIES: dict[type[Exception], Remedy] = {
    httpx.ConnectError: Remedy.RETRY,
    httpx.ConnectTimeout: Remedy.RETRY,
    httpx.PoolTimeout: Remedy.RETRY,
    httpx.ProxyError: Remedy.RETRY,
    httpx.UnsupportedProtocol: Remedy.GIVE_UP,
    httpx.LocalProtocolError: Remedy.GIVE_UP,
    httpx.InvalidURL: Remedy.GIVE_UP,
    httpx.TooManyRedirects: Remedy.GIVE_UP,
    httpx.CookieConflict: Remedy.GIVE_UP,
    httpx.HTTPStatusError: Remedy.GIVE_UP,
    httpx.StreamError: Remedy.GIVE_UP,
    httpx.StreamConsumed: Remedy.GIVE_UP,
    httpx.StreamClosed: Remedy.GIVE_UP,
    httpx.ResponseNotRead: Remedy.GIVE_UP,
    httpx.RequestNotRead: Remedy.GIVE_UP,
    # a partly written request may be acted on by a server or a proxy that buffers it
    httpx.WriteError: Remedy.MAYBE_SENT,
    httpx.WriteTimeout: Remedy.MAYBE_SENT,
    httpx.ReadError: Remedy.MAYBE_SENT,
    httpx.ReadTimeout: Remedy.MAYBE_SENT,
    httpx.RemoteProtocolError: Remedy.MAYBE_SENT,
    httpx.CloseError: Remedy.MAYBE_SENT,
    httpx.DecodingError: Remedy.MAYBE_SENT,
    httpx.ProtocolError: Remedy.MAYBE_SENT,
    httpx.NetworkError: Remedy.MAYBE_SENT,
    httpx.TimeoutException: Remedy.MAYBE_SENT,
    httpx.TransportError: Remedy.MAYBE_SENT,
    httpx.RequestError: Remedy.MAYBE_SENT,
    httpx.HTTPError: Remedy.MAYBE_SENT,
}


def remedy_for(exc: BaseException) -> Remedy:
    """The remedy of an httpx exception (by its nearest listed class); MAYBE_SENT for anything else."""
    for cls in type(exc).__mro__:
        remedy = HTTPX_REMEDIES.get(cls)
        if remedy is not None:
            return remedy
    return Remedy.MAYBE_SENT


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date, clamped to [0, 3600].

    None when absent, unreadable or not finite (``inf``, ``nan``); never raises.
    """
    if not value:
        return None
    text = value.strip()[:64]
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        try:
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (OverflowError, OSError, ValueError):
            return None
    return clamp_retry_after(seconds, MAX_RETRY_AFTER_S)


__all__ = ["HTTPX_REMEDIES", "Remedy", "parse_retry_after", "remedy_for"]
