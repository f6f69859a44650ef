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
exists; dotenv ``KEY=VALUE`` lines); see :mod:`ferry.connectors.secrets`. Every resolved value is
registered with the redactor, so it is masked in logs and errors: use ``${...}`` for secrets and
per-environment values, not for names you want to read in logs.

Keys named like secrets (``password``, ``token``, ``app_secret``, ``api_key``, ``key``, ...) must be
given as ``${...}`` references: a literal value there is rejected, because a file is the wrong place
for a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.connectors.secrets import (
    DEFAULT_SECRETS_FILE,
    SECRETS_FILE_ENV,
    ConnectionSettingsError,
    Report,
    Resolution,
    Resolver,
    is_secret_key,
    read_secrets_file,
    resolve_value,
    secrets_path,
)
from ferry.observe.redact import MASK
from ferry.scheme.document import Document, read_document
from ferry.scheme.problems import Problem, SchemeError, Severity

DEFAULT_CONNECTIONS_FILE = "connections.yaml"
CONNECTIONS_ENV = "FERRY_CONNECTIONS"


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


def _read_entries(data: Any, *, file: ConnectionsFile, resolver: Resolver, report: Report) -> None:
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
        out = Resolution({})
        body = {k: v for k, v in raw.items() if k != "type"}
        out.settings = resolve_value(
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
    resolver = Resolver(environ, secrets_path(environ))
    file = ConnectionsFile(None)
    report = Report(source, None)
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
    report = Report(str(file_path), doc, unresolved)
    try:
        resolver = Resolver(environ, secrets_path(environ))
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
        # the message holds every problem: callers that print str(e) show them all
        raise ConnectionSettingsError("\n".join(str(p) for p in errors), problems=errors)
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
