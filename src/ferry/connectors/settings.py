"""Connections: named settings for the systems a scheme talks to, with secrets kept out of files.

A scheme names a connection (``orders_api``); a connections file holds its settings::

    orders_api:
      type: http
      base_url: https://api.example.com/v1
      auth: {type: bearer, token: "${ORDERS_TOKEN}"}

Where the file is: the ``path`` argument, else ``$FERRY_CONNECTIONS``, else ``connections.yaml`` in
the working directory. A missing default file means "no connections" (an empty dict); a file named
explicitly (argument or environment) must exist.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import ConfigError
from ferry.observe.redact import MASK, register_secret

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
    """A connections file or its secrets could not be loaded. The message never contains a secret."""


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


def _resolve_value(value: Any, *, connection: str, path: str, resolver: _Resolver, resolved: set[str]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConnectionSettingsError(
                    f"connection {connection!r}: key {k!r} under {path or 'the top level'} must be text"
                )
            p = f"{path}.{k}" if path else k
            if is_secret_key(k) and _is_literal(v):
                raise ConnectionSettingsError(
                    f"connection {connection!r}: key {p!r} holds a literal secret; put secrets in the "
                    f"environment or the secrets file and write {p.rsplit('.', 1)[-1]}: "
                    f'"${{SOME_VARIABLE}}" instead'
                )
            out[k] = _resolve_value(v, connection=connection, path=p, resolver=resolver, resolved=resolved)
        return out
    if isinstance(value, list | tuple):
        return [
            _resolve_value(v, connection=connection, path=f"{path}.{i}", resolver=resolver, resolved=resolved)
            for i, v in enumerate(value)
        ]
    if isinstance(value, str):
        return _interpolate(value, connection=connection, path=path, resolver=resolver, resolved=resolved)
    return value


def _is_literal(value: Any) -> bool:
    """A non-empty scalar with no ``${...}`` reference in it."""
    if value is None or isinstance(value, bool | Mapping | list | tuple):
        return False
    if isinstance(value, str):
        return bool(value) and _REF.search(value.replace("$$", "")) is None
    return True


def _interpolate(text: str, *, connection: str, path: str, resolver: _Resolver, resolved: set[str]) -> str:
    found = False

    def sub(m: re.Match[str]) -> str:
        nonlocal found
        if m.group(0) == "$$":
            return "$"
        found = True
        var, default = m.group(1), m.group(2)
        value = resolver.lookup(var)
        if not value and default is not None:
            value = default
        if value is None:
            raise ConnectionSettingsError(
                f"connection {connection!r}: key {path!r} refers to ${{{var}}}, which is not set in "
                f"{resolver.where()}"
            )
        register_secret(value)
        return value

    out = _REF.sub(sub, text)
    # anything left that looks like a reference is malformed (e.g. "${1X}" or an unclosed "${X")
    leftover = _BAD_REF.search(_REF.sub("", text))
    if leftover:
        raise ConnectionSettingsError(
            f"connection {connection!r}: key {path!r} has a malformed reference {leftover.group(0)!r}; "
            "write ${NAME} or ${NAME:-default}"
        )
    if found:
        resolved.add(path)
    return out


def _secrets_path(env: Mapping[str, str]) -> Path | None:
    named = env.get(SECRETS_FILE_ENV)
    if named:
        p = Path(named)
        if not p.is_file():
            raise ConnectionSettingsError(f"{SECRETS_FILE_ENV} names {p}, which is not a file")
        return p
    default = Path(DEFAULT_SECRETS_FILE)
    return default if default.is_file() else None


def connections_from_dict(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, source: str = "connections"
) -> dict[str, ConnectionSettings]:
    """Build connections from an in-code mapping (tests, ``ferry demo``), resolving ``${...}`` as a file would."""
    environ: Mapping[str, str] = os.environ if env is None else env
    resolver = _Resolver(environ, _secrets_path(environ))
    if not isinstance(data, Mapping):
        raise ConnectionSettingsError(f"{source}: expected a mapping of connection name to settings")
    out: dict[str, ConnectionSettings] = {}
    for name, raw in data.items():
        if not isinstance(name, str) or not name.strip():
            raise ConnectionSettingsError(f"{source}: connection names must be non-empty text, got {name!r}")
        if not isinstance(raw, Mapping):
            raise ConnectionSettingsError(
                f"{source}: connection {name!r} must be a mapping of settings (with at least 'type')"
            )
        kind = raw.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise ConnectionSettingsError(
                f"{source}: connection {name!r} needs a 'type' (http, dingtalk, kingdee, ...)"
            )
        resolved: set[str] = set()
        body = {k: v for k, v in raw.items() if k != "type"}
        settings = _resolve_value(body, connection=name, path="", resolver=resolver, resolved=resolved)
        out[name] = ConnectionSettings(
            name=name, type=kind.strip(), settings=settings, resolved_keys=frozenset(resolved)
        )
    return out


def connections_path(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where connections are read from: ``path``, else ``$FERRY_CONNECTIONS``, else ``./connections.yaml``."""
    environ: Mapping[str, str] = os.environ if env is None else env
    if path is not None:
        return Path(path)
    if environ.get(CONNECTIONS_ENV):
        return Path(environ[CONNECTIONS_ENV])
    return Path(DEFAULT_CONNECTIONS_FILE)


def load_connections(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> dict[str, ConnectionSettings]:
    """Load every connection from the connections file (see the module doc for where it is)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    environ: Mapping[str, str] = os.environ if env is None else env
    explicit = path is not None or bool(environ.get(CONNECTIONS_ENV))
    file = connections_path(path, environ)
    if not file.is_file():
        if explicit:
            raise ConnectionSettingsError(f"connections file {file} does not exist")
        return {}
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ConnectionSettingsError(f"cannot read connections file {file}: {e.strerror or e}") from None
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(file)
        what = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
        raise ConnectionSettingsError(f"{where}: {what}") from None
    except Exception as e:  # ruamel raises a few unmarked errors (duplicate keys, odd input)
        raise ConnectionSettingsError(f"{file}: invalid YAML: {type(e).__name__}") from None
    if data is None:
        return {}
    return connections_from_dict(data, env=environ, source=str(file))


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
    "ConnectionSettings",
    "ConnectionSettingsError",
    "connections_from_dict",
    "connections_path",
    "is_secret_key",
    "load_connections",
    "read_secrets_file",
    "require",
]
