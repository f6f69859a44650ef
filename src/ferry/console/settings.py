"""The console's settings: who may log in, with which password, and where it listens.

Passwords come from the environment or the secrets file, never from a scheme or a command line:
``FERRY_CONSOLE_PASSWORD`` (operators: may retry, skip, replay, release) and
``FERRY_CONSOLE_VIEWER_PASSWORD`` (viewers: may only look). With neither set, the console is open on
loopback only (everyone who can reach 127.0.0.1 is an operator, as for a local tool); binding to any
other address without a password is refused.

``FERRY_CONSOLE_SECRET`` signs session cookies; unset, a random one is made per process (sessions then
end at a restart). ``FERRY_CONSOLE_URL`` is the address people open (alert messages link to it).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ferry.errors import ConfigError

OPERATOR_PASSWORD_ENV = "FERRY_CONSOLE_PASSWORD"
VIEWER_PASSWORD_ENV = "FERRY_CONSOLE_VIEWER_PASSWORD"
SESSION_SECRET_ENV = "FERRY_CONSOLE_SECRET"
PUBLIC_URL_ENV = "FERRY_CONSOLE_URL"
#: a password shorter than this is refused: the console can move money
MIN_PASSWORD_LENGTH = 8


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console authenticates and where it is reached. Build it with :meth:`from_env`."""

    host: str = "127.0.0.1"
    port: int = 8600
    operator_password: str | None = field(default=None, repr=False)
    viewer_password: str | None = field(default=None, repr=False)
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    #: the address people open; links in alerts point here
    public_url: str | None = None
    #: the default language of pages (``zh`` or ``en``); each user may switch
    language: str = "zh"
    #: how long a login lasts, in seconds
    session_max_age_s: int = 12 * 3600

    @property
    def open_access(self) -> bool:
        """No password at all: loopback only, everyone an operator."""
        return self.operator_password is None and self.viewer_password is None

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 8600,
        env: Mapping[str, str] | None = None,
        language: str = "zh",
    ) -> ConsoleSettings:
        """Read the passwords and secret from the environment, else the secrets file; check that the
        address may be served with them (a ConfigError says what to set)."""
        environ: Mapping[str, str] = os.environ if env is None else env
        values = _secrets(environ)

        def secret(name: str) -> str | None:
            value = environ.get(name) or values.get(name)
            return value or None

        operator, viewer = secret(OPERATOR_PASSWORD_ENV), secret(VIEWER_PASSWORD_ENV)
        for name, value in ((OPERATOR_PASSWORD_ENV, operator), (VIEWER_PASSWORD_ENV, viewer)):
            if value is not None and len(value) < MIN_PASSWORD_LENGTH:
                raise ConfigError(
                    f"{name} is shorter than {MIN_PASSWORD_LENGTH} characters; choose a longer one"
                )
        if operator is not None and viewer is not None and operator == viewer:
            raise ConfigError(f"{OPERATOR_PASSWORD_ENV} and {VIEWER_PASSWORD_ENV} must differ")
        if operator is None and viewer is None and not is_loopback(host):
            raise ConfigError(
                f"refusing to serve the console on {host} without a password",
                hint=f"set {OPERATOR_PASSWORD_ENV} (and {VIEWER_PASSWORD_ENV} for read-only users) in the "
                "environment or the secrets file, or listen on 127.0.0.1",
            )
        from ferry.observe.redact import register_secret

        for value in (operator, viewer):
            if value is not None:
                register_secret(value)
        session = secret(SESSION_SECRET_ENV)
        if session is not None:
            register_secret(session)
        return cls(
            host=host,
            port=port,
            operator_password=operator,
            viewer_password=viewer,
            session_secret=session or secrets.token_urlsafe(32),
            public_url=(environ.get(PUBLIC_URL_ENV) or "").rstrip("/") or None,
            language=language,
        )


def _secrets(env: Mapping[str, str]) -> dict[str, str]:
    """The secrets file's values (``$FERRY_SECRETS_FILE`` or ``./.ferry-secrets``), or none."""
    from ferry.connectors.settings import DEFAULT_SECRETS_FILE, SECRETS_FILE_ENV, read_secrets_file

    named = env.get(SECRETS_FILE_ENV)
    path = Path(named) if named else Path(DEFAULT_SECRETS_FILE)
    if not path.is_file():
        if named:
            raise ConfigError(f"{SECRETS_FILE_ENV} names {path}, which is not a file")
        return {}
    return read_secrets_file(path)


__all__ = [
    "OPERATOR_PASSWORD_ENV",
    "PUBLIC_URL_ENV",
    "SESSION_SECRET_ENV",
    "VIEWER_PASSWORD_ENV",
    "ConsoleSettings",
    "is_loopback",
]
