"""Secrets in connection settings: ``${VAR}`` references, the secrets file, and secret-looking keys.

``${VAR}`` and ``${VAR:-default}`` in string values resolve from the environment first, then from the
secrets file (``$FERRY_SECRETS_FILE``, else ``.ferry-secrets`` in the working directory when it exists;
dotenv ``KEY=VALUE`` lines). ``:-default`` applies when the variable is unset or empty, as in the
shell; ``$$`` writes a literal ``$``. Every resolved value is registered with the redactor.

Keys named like secrets (:func:`is_secret_key`) must be given as references: a literal value there
is refused. Problems are reported with their place (:class:`Report`) and never quote a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import ConfigError
from ferry.observe.redact import MASK, register_secret
from ferry.scheme.document import Document
from ferry.scheme.problems import Problem, Severity

DEFAULT_SECRETS_FILE = ".ferry-secrets"
SECRETS_FILE_ENV = "FERRY_SECRETS_FILE"

# ${NAME} or ${NAME:-default}; $$ escapes a dollar
_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BAD_REF = re.compile(r"\$\{[^}]*\}?")

# compared after lower-casing and dropping "_" and "-": "App-Secret" -> "appsecret"
_SECRET_NAMES = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "key",
        "apikey",
        "appsecret",
        "appsec",
        "clientsecret",
        "accesstoken",
        "refreshtoken",
        "privatekey",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "signature",
        "passphrase",
    }
)
_SECRET_SUFFIXES = ("password", "secret", "token", "apikey", "privatekey", "passphrase")


class ConnectionSettingsError(ConfigError):
    """A connections file or its secrets could not be loaded. The message never contains a secret.

    ``problems`` holds each reason with its place in the file when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[Problem] = (),
        hint: str | None = None,
        where: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, where=where)
        self.problems = list(problems)

    def lines(self) -> list[str]:
        if self.problems:
            return [str(p) for p in self.problems]
        return super().lines()


def is_secret_key(key: str) -> bool:
    """True for keys whose values must come from ``${...}`` references (``password``, ``app_secret``...)."""
    k = key.lower().replace("_", "").replace("-", "")
    return k in _SECRET_NAMES or k.endswith(_SECRET_SUFFIXES)


def read_secrets_file(path: Path) -> dict[str, str]:
    """Parse a dotenv-style file: ``KEY=VALUE`` lines, ``#`` comments, optional ``export`` and quotes."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ConnectionSettingsError(f"cannot read secrets file {path}: {e.strerror or e}") from None
    values: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            # the line may hold a secret: say where, not what
            raise ConnectionSettingsError(f"{path}:{lineno}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


class Resolver:
    def __init__(self, env: Mapping[str, str], secrets_file: Path | None) -> None:
        self.env = env
        self.secrets_file = secrets_file
        self._file_values: dict[str, str] | None = None

    def file_values(self) -> dict[str, str]:
        if self._file_values is None:
            self._file_values = read_secrets_file(self.secrets_file) if self.secrets_file else {}
        return self._file_values

    def lookup(self, var: str) -> str | None:
        if var in self.env:
            return self.env[var]
        return self.file_values().get(var)

    def where(self) -> str:
        return (
            f"the environment or the secrets file {self.secrets_file}"
            if self.secrets_file
            else f"the environment (and no secrets file: set {SECRETS_FILE_ENV} or create {DEFAULT_SECRETS_FILE})"
        )


class Report:
    """Where resolution problems go: a list of :class:`Problem`, placed in the file when there is one."""

    def __init__(self, file: str, doc: Document | None, unresolved: Severity = "error") -> None:
        self.file = file
        self.doc = doc
        self.unresolved = unresolved
        self.problems: list[Problem] = []

    def add(self, loc: Sequence[str | int], message: str, severity: Severity = "error") -> None:
        line, col = self.doc.place(loc) if self.doc is not None else (0, 0)
        self.problems.append(Problem(self.file, "", line, col, message, severity))


def _dotted(loc: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in loc)


@dataclass
class Resolution:
    """One connection's settings with ``${...}`` filled in, and what could not be."""

    settings: dict[str, Any]
    resolved: set[str] = field(default_factory=set)
    #: dotted keys whose reference is not set (their value is left as written)
    unresolved: set[str] = field(default_factory=set)
    failed: bool = False


def resolve_value(
    value: Any,
    *,
    connection: str,
    loc: list[str | int],
    resolver: Resolver,
    out: Resolution,
    report: Report,
) -> Any:
    # loc starts with the connection's name; the dotted key path people read leaves it out
    path = _dotted(loc[1:])
    if isinstance(value, Mapping):
        settings: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                report.add(
                    loc, f"connection {connection!r}: key {k!r} under {path or 'the top level'} must be text"
                )
                out.failed = True
                continue
            here = [*loc, k]
            if is_secret_key(k) and _is_literal(v):
                key = _dotted(here[1:])
                report.add(
                    here,
                    f"connection {connection!r}: key {key!r} holds a literal secret; put secrets in the "
                    f"environment or the secrets file and write {k}: "
                    '"${SOME_VARIABLE}" instead',
                )
                out.failed = True
                settings[k] = MASK
                continue
            settings[k] = resolve_value(
                v, connection=connection, loc=here, resolver=resolver, out=out, report=report
            )
        return settings
    if isinstance(value, list | tuple):
        return [
            resolve_value(v, connection=connection, loc=[*loc, i], resolver=resolver, out=out, report=report)
            for i, v in enumerate(value)
        ]
    if isinstance(value, str):
        return _interpolate(value, connection=connection, loc=loc, resolver=resolver, out=out, report=report)
    return value


def _is_literal(value: Any) -> bool:
    """A non-empty scalar with no ``${...}`` reference in it."""
    if value is None or isinstance(value, bool | Mapping | list | tuple):
        return False
    if isinstance(value, str):
        return bool(value) and _REF.search(value.replace("$$", "")) is None
    return True


def _interpolate(
    text: str,
    *,
    connection: str,
    loc: list[str | int],
    resolver: Resolver,
    out: Resolution,
    report: Report,
) -> str:
    path = _dotted(loc[1:])
    # anything that looks like a reference but is not one is malformed (e.g. "${1X}" or an unclosed "${X")
    leftover = _BAD_REF.search(_REF.sub("", text))
    if leftover:
        report.add(
            loc,
            f"connection {connection!r}: key {path!r} has a malformed reference {leftover.group(0)!r}; "
            "write ${NAME} or ${NAME:-default}",
        )
        out.failed = True
        return text
    found = missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal found, missing
        if m.group(0) == "$$":
            return "$"
        found = True
        var, default = m.group(1), m.group(2)
        value = resolver.lookup(var)
        if not value and default is not None:
            value = default
        if value is None:
            missing = True
            report.add(
                loc,
                f"connection {connection!r}: key {path!r} refers to ${{{var}}}, which is not set in "
                f"{resolver.where()}",
                report.unresolved,
            )
            return m.group(0)
        register_secret(value)
        return value

    resolved = _REF.sub(sub, text)
    if missing:
        out.unresolved.add(path)
        if report.unresolved == "error":
            out.failed = True
        return text
    if found:
        out.resolved.add(path)
    return resolved


def secrets_path(env: Mapping[str, str]) -> Path | None:
    named = env.get(SECRETS_FILE_ENV)
    if named:
        p = Path(named)
        if not p.is_file():
            raise ConnectionSettingsError(f"{SECRETS_FILE_ENV} names {p}, which is not a file")
        return p
    default = Path(DEFAULT_SECRETS_FILE)
    return default if default.is_file() else None


__all__ = [
    "DEFAULT_SECRETS_FILE",
    "SECRETS_FILE_ENV",
    "ConnectionSettingsError",
    "Report",
    "Resolution",
    "Resolver",
    "is_secret_key",
    "read_secrets_file",
    "resolve_value",
    "secrets_path",
]
