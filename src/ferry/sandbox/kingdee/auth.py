"""Sessions and signatures of the Kingdee sandbox.

Two ways in, as on a real K/3 Cloud server (reference §3, §4):

- session login (``ValidateUser``, ``LoginByAppSecret``, ``LoginBySign``) hands out a ``KDSVCSessionId`` that
  the caller carries as a cookie or header; it lives for ``ttl`` seconds *since its last use* (sliding);
- signed headers (``X-Api-*``, ``X-Kd-*``, the official SDK's "third-party app" mode): a live session id is
  accepted as is; otherwise the signatures are verified and a new session is opened silently.

The signing code here is written from the reference independently of the client's, on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: the XOR key the official SDKs use to derive the client secret from the app id (reference §4)
SDK_XOR_KEY = "0054f397c6234378b09ca7d3e5debce7"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the sandbox accepts: one data centre, one user, one third-party app."""

    acct_id: str
    username: str
    password: str
    app_id: str
    app_secret: str
    lcid: int = 2052


@dataclass(slots=True)
class Session:
    """A logged-in context."""

    sid: str
    username: str
    acct_id: str
    lcid: int
    created: float
    last_used: float
    via: str


class SessionStore:
    """Session ids with sliding idle expiry; thread-safe (the admin API may touch it from tests)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, username: str, acct_id: str, lcid: int, via: str) -> Session:
        """Create a session and return it."""
        now = self._clock()
        session = Session(secrets.token_hex(16), username, acct_id, lcid, now, now, via)
        with self._lock:
            self._sessions[session.sid] = session
        return session

    def touch(self, sid: str | None) -> Session | None:
        """The live session for ``sid``, its idle timer restarted; ``None`` if unknown or expired."""
        if not sid:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.last_used > self.ttl:
                del self._sessions[sid]
                return None
            session.last_used = now
            return session

    def drop(self, sid: str | None) -> bool:
        """Forget one session (logout, injected session loss)."""
        with self._lock:
            return self._sessions.pop(sid or "", None) is not None

    def drop_all(self) -> int:
        """Forget every session; returns how many there were."""
        with self._lock:
            n = len(self._sessions)
            self._sessions.clear()
            return n

    def count(self) -> int:
        """Live (not yet expired) sessions."""
        now = self._clock()
        with self._lock:
            return sum(1 for s in self._sessions.values() if now - s.last_used <= self.ttl)


def login_sign(
    acct_id: str, username: str, app_id: str, app_secret: str, timestamp: str, algo: str = "sha256"
) -> str:
    """``LoginBySign``'s ``sign``: the five values sorted ordinally, concatenated, hashed, lower-case hex."""
    parts = sorted([acct_id, username, app_id, app_secret, timestamp])
    return hashlib.new(algo, "".join(parts).encode("utf-8")).hexdigest()


def client_secret_of(app_id: str) -> str:
    """The ``X-Api-Signature`` key derived from an app id ``<clientId>_<32 chars>`` ('' if not that shape)."""
    parts = app_id.split("_")
    if len(parts) != 2 or len(parts[1]) != 32:
        return ""
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return ""
    key = SDK_XOR_KEY.encode("ascii")
    return base64.b64encode(bytes(b ^ key[i] for i, b in enumerate(raw))).decode("ascii")


def hmac_b64hex(message: str, key: str) -> str:
    """Base64 of the lower-case hex of HMAC-SHA256, the SDKs' signature encoding."""
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


def string_to_sign(path: str, nonce: str, timestamp: str) -> str:
    """The ``X-Api-Signature`` input for a POST to ``path`` (reference §4)."""
    encoded = urllib.parse.quote(path, safe="")
    return f"POST\n{encoded}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"


@dataclass(frozen=True, slots=True)
class SignedIdentity:
    """Who a valid set of signed headers speaks for."""

    acct_id: str
    username: str
    lcid: int
    org_num: str


class SignatureRejected(Exception):
    """The signed headers do not verify. ``wrong_acct`` marks the one case a real server answers non-200."""

    def __init__(self, reason: str, *, wrong_acct: bool = False) -> None:
        super().__init__(reason)
        self.wrong_acct = wrong_acct


def has_signed_headers(headers: Mapping[str, str]) -> bool:
    """Whether a request carries the SDK's signed headers (``headers`` keys lower-case)."""
    return "x-kd-appkey" in headers and "x-kd-signature" in headers


def verify_signed_headers(headers: Mapping[str, str], path: str, creds: Credentials) -> SignedIdentity:
    """Check ``X-Kd-Signature`` and ``X-Api-Signature`` against the configured app; raise on mismatch.

    ``headers`` must have lower-case keys. ``path`` is the request path as the client sent it (the SDK signs
    the URL from the first ``/`` after the host). Timestamps are not checked for skew: a real server accepted
    ±24 h (reference §4, EMP S6).
    """
    app_key = headers.get("x-kd-appkey", "")
    if app_key != creds.app_id:
        raise SignatureRejected("unknown app id")
    try:
        app_data = base64.b64decode(headers.get("x-kd-appdata", ""), validate=True).decode("utf-8")
    except ValueError as exc:
        raise SignatureRejected("X-Kd-Appdata is not base64") from exc
    fields = app_data.split(",")
    if len(fields) < 4:
        raise SignatureRejected("X-Kd-Appdata needs acctId,userName,lcid,orgNum")
    acct_id, lcid_text, org_num = fields[0], fields[-2], fields[-1]
    username = ",".join(fields[1:-2])
    if not hmac.compare_digest(
        headers.get("x-kd-signature", ""), hmac_b64hex(app_key + app_data, creds.app_secret)
    ):
        raise SignatureRejected("X-Kd-Signature mismatch")
    client_id = app_key.split("_")[0]
    if headers.get("x-api-clientid", "") != client_id:
        raise SignatureRejected("X-Api-ClientID does not match the app id")
    nonce = headers.get("x-api-nonce", "")
    timestamp = headers.get("x-api-timestamp", "")
    expected = hmac_b64hex(string_to_sign(path, nonce, timestamp), client_secret_of(app_key))
    if not hmac.compare_digest(headers.get("x-api-signature", ""), expected):
        raise SignatureRejected("X-Api-Signature mismatch")
    if acct_id != creds.acct_id:
        # checked last: only a correctly signed request learns that the data centre is wrong
        raise SignatureRejected("Fail to verify thirty passport", wrong_acct=True)
    if username != creds.username:
        raise SignatureRejected("unknown user")
    try:
        lcid = int(lcid_text)
    except ValueError as exc:
        raise SignatureRejected("bad lcid") from exc
    return SignedIdentity(acct_id, username, lcid, org_num)


__all__ = [
    "SDK_XOR_KEY",
    "Credentials",
    "Session",
    "SessionStore",
    "SignatureRejected",
    "SignedIdentity",
    "client_secret_of",
    "has_signed_headers",
    "hmac_b64hex",
    "login_sign",
    "string_to_sign",
    "verify_signed_headers",
]
