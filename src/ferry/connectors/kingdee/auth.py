"""Kingdee authentication: the session logins and the official SDK's signed headers.

Modes (see docs/connectors/kingdee.md for which to choose):

- ``validate_user``  ``AuthService.ValidateUser`` with user name and password;
- ``app_secret``     ``AuthService.LoginByAppSecret`` with a third-party app id and secret;
- ``sign``           ``AuthService.LoginBySign``: the app secret never leaves the client, only a SHA-256 of it;
- ``signed_headers`` no login call: each request carries ``X-Api-*``/``X-Kd-*`` HMAC headers (SDK 8.2.0).

The first three return a ``KDSVCSessionId`` that is reused until the server answers MsgCode 1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import SecretStr

#: the XOR key of the official SDKs (stored ROT13-obfuscated in SDK 8.2.0's encode_util.py)
_SDK_XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"


class AuthMode(StrEnum):
    """How the client proves who it is."""

    VALIDATE_USER = "validate_user"
    APP_SECRET = "app_secret"
    SIGN = "sign"
    SIGNED_HEADERS = "signed_headers"


@dataclass(frozen=True)
class KingdeeAuth:
    """Credentials for one Kingdee connection. Secrets are :class:`~pydantic.SecretStr`: never in reprs."""

    mode: AuthMode
    acct_id: str
    username: str
    app_id: str = ""
    app_secret: SecretStr = field(default_factory=lambda: SecretStr(""))
    password: SecretStr = field(default_factory=lambda: SecretStr(""))
    lcid: int = 2052
    #: organisation number sent in signed-header mode's app data (0 = the user's default)
    org_num: str = "0"

    @classmethod
    def create(
        cls,
        mode: AuthMode | str,
        *,
        acct_id: str,
        username: str,
        app_id: str = "",
        app_secret: str | SecretStr = "",
        password: str | SecretStr = "",
        lcid: int = 2052,
        org_num: str | int = "0",
    ) -> KingdeeAuth:
        """Build from plain strings (wrapping the secrets) and check the mode has what it needs."""
        auth = cls(
            mode=AuthMode(mode),
            acct_id=acct_id,
            username=username,
            app_id=app_id,
            app_secret=app_secret if isinstance(app_secret, SecretStr) else SecretStr(app_secret),
            password=password if isinstance(password, SecretStr) else SecretStr(password),
            lcid=lcid,
            org_num=str(org_num),
        )
        auth.check()
        return auth

    def check(self) -> None:
        """Raise ``ValueError`` naming what is missing for this mode (never the secret's value)."""
        missing = [
            name for name, value in (("acct_id", self.acct_id), ("username", self.username)) if not value
        ]
        if self.mode is AuthMode.VALIDATE_USER:
            if not self.password.get_secret_value():
                missing.append("password")
        else:
            if not self.app_id:
                missing.append("app_id")
            if not self.app_secret.get_secret_value():
                missing.append("app_secret")
        if missing:
            raise ValueError(f"Kingdee auth mode {self.mode.value} needs: {', '.join(missing)}")
        if self.mode is AuthMode.SIGNED_HEADERS and not client_secret(self.app_id):
            raise ValueError("signed_headers mode needs an app id of the form <clientId>_<32 characters>")


def login_sign(acct_id: str, username: str, app_id: str, app_secret: str, timestamp: str) -> str:
    """``LoginBySign``'s ``sign``: sort the five values ordinally, concatenate, SHA-256, lower-case hex."""
    joined = "".join(sorted([acct_id, username, app_id, app_secret, timestamp]))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def client_secret(app_id: str) -> str:
    """The ``X-Api-Signature`` key: the app id's 32-char tail, base64-decoded, XORed with the SDK key, re-encoded.

    Returns ``''`` when the app id is not ``<clientId>_<32 chars>``, as the Python SDK does.
    """
    parts = app_id.split("_")
    if len(parts) != 2 or len(parts[1]) != 32:
        return ""
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return ""
    return base64.b64encode(bytes(b ^ _SDK_XOR_KEY[i] for i, b in enumerate(raw))).decode("ascii")


def hmac_sha256_b64hex(message: str, key: str) -> str:
    """``Base64(lowerHex(HMAC-SHA256(key, message)))``: the SDKs encode the hex text, not the digest."""
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


def signed_headers(url: str, auth: KingdeeAuth, timestamp: str, nonce: str | None = None) -> dict[str, str]:
    """The ``X-Api-*`` / ``X-Kd-*`` headers for a POST to ``url``, exactly as SDK 8.2.0 builds them.

    The signed path is the URL from the first ``/`` after the host, percent-encoded with ``/`` as ``%2F``.
    ``timestamp`` is Unix seconds (the Python SDK); the SDK uses it as the nonce too.
    """
    nonce = timestamp if nonce is None else nonce
    path = url
    if url.startswith("http"):
        cut = url.find("/", 10)
        if cut > -1:
            path = url[cut:]
    encoded_path = urllib.parse.quote(path, safe="")
    to_sign = f"POST\n{encoded_path}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"
    app_data = f"{auth.acct_id},{auth.username},{auth.lcid},{auth.org_num}"
    secret = auth.app_secret.get_secret_value()
    return {
        "X-Api-ClientID": auth.app_id.split("_")[0],
        "X-Api-Auth-Version": "2.0",
        "x-api-timestamp": timestamp,
        "x-api-nonce": nonce,
        "x-api-signheaders": "x-api-timestamp,x-api-nonce",
        "X-Api-Signature": hmac_sha256_b64hex(to_sign, client_secret(auth.app_id)),
        "X-Kd-Appkey": auth.app_id,
        "X-Kd-Appdata": base64.b64encode(app_data.encode("utf-8")).decode("ascii"),
        "X-Kd-Signature": hmac_sha256_b64hex(auth.app_id + app_data, secret),
    }


__all__ = [
    "AuthMode",
    "KingdeeAuth",
    "client_secret",
    "hmac_sha256_b64hex",
    "login_sign",
    "signed_headers",
]
