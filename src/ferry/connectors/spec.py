"""One spec per connector, registered by the connector itself: what a connection of its type may say,
what a scheme side that uses it may say, and what it can do.

A connector package has a ``spec.py`` whose ``SPEC`` is a :class:`ConnectorSpec`, and names it in the
``ferry.connectors`` entry-point group of its distribution (Ferry's own three are in
``pyproject.toml``). The core holds no list of connectors: :func:`specs` reads the entry points once.
Tests and embedders may also call :func:`register`.

Spec modules stay light (pydantic models only): ``ferry validate`` loads them without importing any
HTTP client. The factory module named by :attr:`ConnectorSpec.factory` is imported only to run.

Every model is strict (``extra="forbid"``): an unknown key is a typo, and a typo in a probe or a
params block must never switch something off silently. :func:`check_model` turns pydantic's errors
into :class:`Finding` values that name the key path and suggest the closest known key; it never
quotes an input value, which may be a secret.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ferry.errors import ConfigError
from ferry.scheme.suggest import closest, model_keys, suggest

ENTRY_POINT_GROUP = "ferry.connectors"

Capability = Literal["source", "target", "lookup", "probe", "refetch", "events", "preflight"]


@dataclass(frozen=True)
class ConnectorSpec:
    """What one connector is and accepts; the single place a connector declares itself."""

    #: the connection ``type`` it serves (``dingtalk``)
    name: str
    #: one line for ``ferry connectors`` and error messages
    summary: str
    #: the connection's keys (``connections.yaml``); ``extra="forbid"``
    settings: type[BaseModel]
    #: module with ``build_source`` / ``build_target`` / ``build_querier`` / ``preflight``
    factory: str
    capabilities: frozenset[Capability]
    #: ``source.params`` / ``target.params`` of a scheme side using this connector
    source_params: type[BaseModel] | None = None
    target_params: type[BaseModel] | None = None
    #: ``target.probe``
    probe: type[BaseModel] | None = None
    #: ``enrich[].query``
    lookup: type[BaseModel] | None = None
    #: other ``type`` names for the same connector (``rest`` for ``http``)
    aliases: tuple[str, ...] = ()

    def module(self) -> Any:
        """The factory module (imported now)."""
        return importlib.import_module(self.factory)


_REGISTRY: dict[str, ConnectorSpec] = {}
_LOADED = False


def register(spec: ConnectorSpec) -> None:
    """Make ``spec`` known under its type and aliases (replacing an earlier one of the same name)."""
    for name in (spec.name, *spec.aliases):
        _REGISTRY[name] = spec


def unregister(name: str) -> None:
    """Forget the connector registered under ``name`` (for tests that register their own)."""
    _load()
    spec = _REGISTRY.pop(name, None)
    if spec is not None:
        for other in (spec.name, *spec.aliases):
            if _REGISTRY.get(other) is spec:
                del _REGISTRY[other]


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception as e:  # a broken plugin must not take the others down
            raise ConfigError(
                f"connector plugin {ep.name!r} ({ep.value}) cannot be loaded: {type(e).__name__}: {e}"
            ) from e
        if not isinstance(spec, ConnectorSpec):
            raise ConfigError(f"connector plugin {ep.name!r} ({ep.value}) is not a ConnectorSpec")
        register(spec)


def specs() -> dict[str, ConnectorSpec]:
    """Every registered connector by type name (aliases included)."""
    _load()
    return dict(_REGISTRY)


def get_spec(type_name: str, *, connection: str | None = None) -> ConnectorSpec:
    """The spec for a connection type, or a :class:`ConfigError` that suggests the closest type."""
    known = specs()
    found = known.get(type_name)
    if found is not None:
        return found
    who = f"connection {connection!r} has type {type_name!r}" if connection else f"type {type_name!r}"
    raise ConfigError(
        f"{who}, which no connector serves{suggest(type_name, known)}",
        hint=f"known types: {', '.join(sorted(known))}",
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a mapping checked against a model: where (a key path) and what."""

    loc: tuple[str | int, ...]
    message: str


def _sub_model(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model that holds the last key of ``loc`` (for suggestions inside nested blocks)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        current = _model_in(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside ``X``, ``X | None``, ``list[X]``, ``dict[str, X]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def findings(model: type[BaseModel], err: ValidationError) -> list[Finding]:
    """pydantic's errors as :class:`Finding` values: key paths, readable messages, no input values."""
    out: list[Finding] = []
    for e in err.errors(include_url=False, include_input=False):
        # pydantic adds validator names ("function-before[...]") to some locations; drop those
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p and "]" in p))
        kind = e["type"]
        if kind == "extra_forbidden" and loc:
            holder = _sub_model(model, loc)
            known = model_keys(holder) if holder is not None else []
            hint = suggest(str(loc[-1]), known)
            listing = f"; known keys: {', '.join(known)}" if known and not hint else ""
            msg = f"unknown key{hint}{listing}"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = e["msg"].removeprefix("Value error, ")
        out.append(Finding(loc, msg))
    return out


def check_model(model: type[BaseModel], data: Any) -> tuple[BaseModel | None, list[Finding]]:
    """Validate ``data`` against ``model``: the instance, or None with the findings."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        return None, [Finding((), f"expected a mapping of keys, got {type(data).__name__}")]
    try:
        return model.model_validate(dict(data)), []
    except ValidationError as e:
        return None, findings(model, e)


def path_text(loc: Sequence[str | int]) -> str:
    """``("params", "process_code", 0)`` -> ``params.process_code[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse(model: type[BaseModel], data: Any, *, what: str) -> Any:
    """Validate ``data`` or raise one :class:`ConfigError` naming every problem (``what`` says where)."""
    instance, problems = check_model(model, data)
    if instance is None:
        text = "; ".join(f"{path_text(f.loc) or 'settings'}: {f.message}" for f in problems)
        raise ConfigError(f"{what}: {text}")
    return instance


__all__ = [
    "ENTRY_POINT_GROUP",
    "Capability",
    "ConnectorSpec",
    "Finding",
    "check_model",
    "closest",
    "findings",
    "get_spec",
    "model_keys",
    "parse",
    "path_text",
    "register",
    "specs",
    "suggest",
    "unregister",
]
