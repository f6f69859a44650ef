"""Connections: named settings for the systems a scheme talks to, with secrets kept out of files.

A scheme names a connection (``orders_api``); a connections file holds its settings::

    orders_api:
      type: http
      base_url: https://api.example.com/v1
      auth: {type: bearer, token: "${ORDERS_TOKEN}"}

Where the file is: the ``path`` argument, else ``$FERRY_CONNECTIONS``, else ``connections.yaml`` in
the working directory (``ferry validate`` looks beside the scheme file first: :func:`find_connections`).
A missing default file means "no connections" (an empty dict); a file named explicitly (argument or
environment) must exist.

The file is read like a scheme (:func:`ferry.scheme.read_document`: bounded, position-aware), so each
problem names its line and column; :func:`read_connections` returns every problem (for checks),
:func:`load_connections` raises one :class:`ConnectionSettingsError` listing them (for runs).

``${VAR}`` and ``${VAR:-default}`` in string values resolve from the environment first, then from
the secrets file (``$FERRY_SECRETS_FILE``, else ``.ferry-secrets`` in the working directory when it
exists; dotenv ``KEY=VALUE`` lines). ``:-default`` applies when the variable is unset or empty, as in
the shell; ``$$`` writes a literal ``$``. Every resolved value is registered with the redactor, so it
is masked in logs and errors: use ``${...}`` for secrets and per-environment values, not for names
you want to read in logs.

Keys named like secrets (``password``, ``token``, ``app_secret``, ``api_key``, ``key``, ...) must be
given as ``${...}`` references: a literal value there is rejected, because a file is the wrong place
for a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import ConfigError
from ferry.observe.redact import MASK, register_secret
from ferry.scheme.document import Document, read_document
from ferry.scheme.problems import Problem, SchemeError, Severity

DEFAULT_CONNECTIONS_FILE = "connections.yaml"
DEFAULT_SECRETS_FILE = ".ferry-secrets"
CONNECTIONS_ENV = "FERRY_CONNECTIONS"
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


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """One named connection: its ``type`` (``http``, ``dingtalk``, ``kingdee``...) and resolved ``settings``.

    ``settings`` holds real secret values (the clients need them); ``repr`` masks them.
    """

    name: str
    type: str
    settings: dict[str, Any]
    #: dotted keys whose value came (wholly or partly) from a ``${...}`` reference
    resolved_keys: frozenset[str] = field(default_factory=frozenset)

    def masked(self) -> dict[str, Any]:
        """The settings with every resolved or secret-named value replaced by ``***``."""
        masked: dict[str, Any] = _mask(self.settings, self.resolved_keys, "")
        return masked

    def __repr__(self) -> str:
        return f"ConnectionSettings(name={self.name!r}, type={self.type!r}, settings={self.masked()!r})"

    __str__ = __repr__


def _mask(value: Any, resolved: frozenset[str], path: str) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            p = f"{path}.{k}" if path else str(k)
            if p in resolved or (is_secret_key(str(k)) and not isinstance(v, dict | list)):
                out[k] = MASK
            else:
                out[k] = _mask(v, resolved, p)
        return out
    if isinstance(value, list):
        return [
            MASK if f"{path}.{i}" in resolved else _mask(v, resolved, f"{path}.{i}")
            for i, v in enumerate(value)
        ]
    return value


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


class _Resolver:
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


class _Report:
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
class _Resolution:
    """One connection's settings with ``${...}`` filled in, and what could not be."""

    settings: dict[str, Any]
    resolved: set[str] = field(default_factory=set)
    #: dotted keys whose reference is not set (their value is left as written)
    unresolved: set[str] = field(default_factory=set)
    failed: bool = False


def _resolve_value(
    value: Any,
    *,
    connection: str,
    loc: list[str | int],
    resolver: _Resolver,
    out: _Resolution,
    report: _Report,
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
            settings[k] = _resolve_value(
                v, connection=connection, loc=here, resolver=resolver, out=out, report=report
            )
        return settings
    if isinstance(value, list | tuple):
        return [
            _resolve_value(v, connection=connection, loc=[*loc, i], resolver=resolver, out=out, report=report)
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
    resolver: _Resolver,
    out: _Resolution,
    report: _Report,
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


def _secrets_path(env: Mapping[str, str]) -> Path | None:
    named = env.get(SECRETS_FILE_ENV)
    if named:
        p = Path(named)
        if not p.is_file():
            raise ConnectionSettingsError(f"{SECRETS_FILE_ENV} names {p}, which is not a file")
        return p
    default = Path(DEFAULT_SECRETS_FILE)
    return default if default.is_file() else None


@dataclass(frozen=True)
class ConnectionEntry:
    """One connection as written, for checks: its type, its settings (references filled in where they
    could be) and the place of each key. ``settings`` is None when the entry is not even a mapping."""

    name: str
    type: str | None
    settings: dict[str, Any] | None
    #: dotted keys whose ``${...}`` is not set (left as written, so a check can skip them)
    unresolved: frozenset[str] = frozenset()


@dataclass
class ConnectionsFile:
    """A connections file read for checking: every connection, every problem, and where each key is.

    ``connections`` holds the connections that resolved without an error (what a run may use);
    ``entries`` every named connection, good or not; ``problems`` errors and warnings in file order.
    ``path`` is None when there is no file (no connections).
    """

    path: Path | None
    connections: dict[str, ConnectionSettings] = field(default_factory=dict)
    entries: dict[str, ConnectionEntry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    document: Document | None = None

    def place(self, loc: Sequence[str | int]) -> tuple[int, int]:
        """The 1-based line and column of ``loc`` (``[name, key, ...]``) in the file; (0, 0) if unknown."""
        return self.document.place(loc) if self.document is not None else (0, 0)

    def problem(self, loc: Sequence[str | int], message: str, *, warning: bool = False) -> Problem:
        """A problem at ``loc`` in this file (for checks made against its connections)."""
        line, col = self.place(loc)
        return Problem(
            str(self.path or "connections"), "", line, col, message, "warning" if warning else "error"
        )


def _read_entries(data: Any, *, file: ConnectionsFile, resolver: _Resolver, report: _Report) -> None:
    if data is None:
        return
    if not isinstance(data, Mapping):
        report.add([], "expected a mapping of connection name to settings")
        return
    for name, raw in data.items():
        if not isinstance(name, str) or not name.strip():
            report.add([], f"connection names must be non-empty text, got {name!r}")
            continue
        if not isinstance(raw, Mapping):
            report.add([name], f"connection {name!r} must be a mapping of settings (with at least 'type')")
            file.entries[name] = ConnectionEntry(name, None, None)
            continue
        kind = raw.get("type")
        kind_name = kind.strip() if isinstance(kind, str) and kind.strip() else None
        if kind_name is None:
            report.add([name], f"connection {name!r} needs a 'type' (http, dingtalk, kingdee, ...)")
        out = _Resolution({})
        body = {k: v for k, v in raw.items() if k != "type"}
        out.settings = _resolve_value(
            body, connection=name, loc=[name], resolver=resolver, out=out, report=report
        )
        file.entries[name] = ConnectionEntry(name, kind_name, out.settings, frozenset(out.unresolved))
        if kind_name is not None and not out.failed and not out.unresolved:
            file.connections[name] = ConnectionSettings(
                name=name, type=kind_name, settings=out.settings, resolved_keys=frozenset(out.resolved)
            )


def connections_from_dict(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, source: str = "connections"
) -> dict[str, ConnectionSettings]:
    """Build connections from an in-code mapping (tests, ``ferry demo``), resolving ``${...}`` as a file would."""
    environ: Mapping[str, str] = os.environ if env is None else env
    resolver = _Resolver(environ, _secrets_path(environ))
    file = ConnectionsFile(None)
    report = _Report(source, None)
    _read_entries(data, file=file, resolver=resolver, report=report)
    if report.problems:
        first = report.problems[0]
        raise ConnectionSettingsError(f"{source}: {first.message}", problems=report.problems)
    return file.connections


def connections_path(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where connections are read from: ``path``, else ``$FERRY_CONNECTIONS``, else ``./connections.yaml``."""
    environ: Mapping[str, str] = os.environ if env is None else env
    if path is not None:
        return Path(path)
    if environ.get(CONNECTIONS_ENV):
        return Path(environ[CONNECTIONS_ENV])
    return Path(DEFAULT_CONNECTIONS_FILE)


def find_connections(
    path: str | Path | None = None,
    *,
    beside: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Path | None, bool]:
    """The connections file to use, and whether it was named (and so must exist).

    In order: ``path``; ``connections.yaml`` in the folder ``beside`` (a scheme's folder) when it
    exists; ``$FERRY_CONNECTIONS``; ``./connections.yaml`` when it exists; else none.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if path is not None:
        return Path(path), True
    if beside is not None:
        near = Path(beside) / DEFAULT_CONNECTIONS_FILE
        if near.is_file():
            return near, False
    if environ.get(CONNECTIONS_ENV):
        return Path(environ[CONNECTIONS_ENV]), True
    default = Path(DEFAULT_CONNECTIONS_FILE)
    return (default, False) if default.is_file() else (None, False)


def read_connections(
    path: str | Path | None = None,
    *,
    beside: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    unresolved: Severity = "error",
) -> ConnectionsFile:
    """Read a connections file for checking: never raises for what is in it, returns every problem.

    Which file: see :func:`find_connections`. Each problem is placed (``connections.yaml:7:5``) and
    never quotes a value. A ``${VAR}`` that is not set is an error, or a warning with
    ``unresolved="warning"`` (``ferry validate``: the file is fine, the environment is not ready).
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    file_path, named = find_connections(path, beside=beside, env=environ)
    if file_path is None:
        return ConnectionsFile(None)
    file = ConnectionsFile(file_path)
    if not file_path.is_file():
        if named:
            file.problems.append(Problem(str(file_path), "", 0, 0, "connections file does not exist"))
        return file
    try:
        doc = read_document(file_path, form="native", empty_ok=True)
    except SchemeError as e:
        file.problems.extend(e.problems)
        return file
    file.document = doc
    file.problems.extend(doc.problems)
    report = _Report(str(file_path), doc, unresolved)
    try:
        resolver = _Resolver(environ, _secrets_path(environ))
        _read_entries(doc.data, file=file, resolver=resolver, report=report)
    except ConnectionSettingsError as e:  # the secrets file itself is unreadable or malformed
        report.problems.append(Problem(str(file_path), "", 0, 0, e.message))
    file.problems.extend(report.problems)
    return file


def load_connections(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> dict[str, ConnectionSettings]:
    """Load every connection from the connections file (see the module doc for where it is).

    Raises one :class:`ConnectionSettingsError` naming every problem, each with its line and column.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    explicit = path is not None or bool(environ.get(CONNECTIONS_ENV))
    file_path = connections_path(path, environ)
    if not file_path.is_file():
        if explicit:
            raise ConnectionSettingsError(f"connections file {file_path} does not exist")
        return {}
    file = read_connections(file_path, env=environ)
    errors = [p for p in file.problems if p.is_error]
    if errors:
        raise ConnectionSettingsError(str(errors[0]), problems=errors)
    return file.connections


def require(connections: Mapping[str, ConnectionSettings], name: str) -> ConnectionSettings:
    """The connection called ``name``, or a clear error listing the known ones."""
    try:
        return connections[name]
    except KeyError:
        known = ", ".join(sorted(connections)) or "none"
        raise ConnectionSettingsError(
            f"unknown connection {name!r} (known: {known}); add it to {DEFAULT_CONNECTIONS_FILE} "
            f"or the file named by {CONNECTIONS_ENV}"
        ) from None


__all__ = [
    "CONNECTIONS_ENV",
    "DEFAULT_CONNECTIONS_FILE",
    "DEFAULT_SECRETS_FILE",
    "SECRETS_FILE_ENV",
    "ConnectionEntry",
    "ConnectionSettings",
    "ConnectionSettingsError",
    "ConnectionsFile",
    "connections_from_dict",
    "connections_path",
    "find_connections",
    "is_secret_key",
    "load_connections",
    "read_connections",
    "read_secrets_file",
    "require",
]
