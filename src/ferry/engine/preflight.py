"""Pre-flight: before a pass spends anything, every connection it uses exists and fits, its connectors
build, each side authenticates, and the vendor-side names (DingTalk process codes, Kingdee forms) and
DingTalk quota are there. A blocking failure raises :class:`PreflightFailed` before any work.

:func:`connection_uses` is also what ``ferry serve``'s readiness asks ("connections resolved").
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ferry.connectors.base import Check, ConnectionUse
from ferry.connectors.check import check_scheme
from ferry.connectors.settings import ConnectionSettings
from ferry.connectors.spec import get_spec
from ferry.engine.registry import BuildContext, ConnectionLike
from ferry.errors import ConfigError, PreflightError
from ferry.scheme import Scheme, SchemeError

if TYPE_CHECKING:
    from ferry.engine.runner import Engine

#: how long a passing pre-flight check is trusted before it is made again
PREFLIGHT_TTL_S = 600.0


class PreflightFailed(PreflightError):
    """A scheme's pre-flight checks failed: nothing was sent, no metered call was made."""

    def __init__(self, scheme_id: str, failed: Sequence[Check]) -> None:
        self.checks = list(failed)
        super().__init__(
            f"scheme {scheme_id!r}: {len(failed)} check(s) failed before any work; nothing was sent",
            hint="run `ferry check SCHEME` for every check",
        )

    def lines(self) -> list[str]:
        return [self.message, *(f"{c.connection}: {c.what}: {c.detail}" for c in self.checks)]


def resolve_connection(
    connections: Mapping[str, ConnectionLike], scheme: Scheme, side: str, name: str | None
) -> ConnectionLike:
    """The connection a scheme's ``side`` names, or a ConfigError saying why it cannot be used."""
    if not name:
        raise ConfigError(f"scheme '{scheme.id}': {side}.connection is not set")
    conn = connections.get(name)
    if conn is None:
        from ferry.connectors.spec import suggest

        known = ", ".join(sorted(connections)) or "none"
        raise ConfigError(
            f"scheme '{scheme.id}': {side}.connection '{name}' is not defined"
            f"{suggest(name, connections)} (defined: {known})",
            hint="add it to connections.yaml (or the file named by --connections / FERRY_CONNECTIONS)",
        )
    capability = {"source": "source", "target": "target"}.get(side, "lookup")
    spec = get_spec(conn.type, connection=conn.name)
    if capability not in spec.capabilities:
        raise ConfigError(
            f"scheme '{scheme.id}': {side}.connection '{name}' is a {conn.type} connection, "
            f"which cannot be a {capability} ({spec.summary})"
        )
    return conn


def connection_uses(
    connections: Mapping[str, ConnectionLike], scheme: Scheme, *, source: bool, target: bool
) -> dict[str, tuple[ConnectionLike, ConnectionUse]]:
    """Each connection the pass will use, with how (raises ConfigError for a missing or wrong one)."""
    found: dict[str, tuple[ConnectionLike, dict[str, Any]]] = {}

    def add(conn: ConnectionLike, **how: Any) -> None:
        _, so_far = found.setdefault(conn.name, (conn, {"lookups": []}))
        lookups = how.pop("lookups", [])
        so_far["lookups"].extend(lookups)
        so_far.update(how)

    if source:
        add(resolve_connection(connections, scheme, "source", scheme.source.connection), source=scheme.source)
    if target:
        add(resolve_connection(connections, scheme, "target", scheme.target.connection), target=scheme.target)
        for step in scheme.enrich:
            name = step.connection or scheme.target.connection
            add(
                resolve_connection(connections, scheme, f"enrich.{step.name}.connection", name),
                lookups=[step.query],
            )
    return {
        name: (
            conn,
            ConnectionUse(scheme.id, how.get("source"), how.get("target"), tuple(how["lookups"])),
        )
        for name, (conn, how) in found.items()
    }


def unresolved(connections: Mapping[str, ConnectionLike], schemes: Sequence[Scheme]) -> list[str]:
    """One line per scheme side whose connection is missing or cannot serve it (empty: all resolve)."""
    problems: list[str] = []
    for scheme in schemes:
        for side in ("source", "target"):
            try:
                connection_uses(connections, scheme, source=side == "source", target=side == "target")
            except ConfigError as e:
                problems.append(e.message)
    return problems


async def preflight(
    engine: Engine, scheme: Scheme, *, source: bool = True, target: bool = True, force: bool = False
) -> list[Check]:
    """The checks of :meth:`Engine.check` (see there)."""
    # the same located problems `ferry validate` reports, before anything is built or called
    conns = engine.connections
    settings = {k: v for k, v in conns.items() if isinstance(v, ConnectionSettings)}
    known = settings if len(settings) == len(conns) else None
    problems = [p for p in check_scheme(scheme, known) if p.is_error]
    if problems:
        raise SchemeError(problems)
    uses = connection_uses(conns, scheme, source=source, target=target)
    # building validates settings and params now, before any call (and keeps the connectors)
    engine.build(scheme, source=source, target=target)
    results: list[Check] = []
    for name, (conn, use) in uses.items():
        spec = get_spec(conn.type, connection=conn.name)
        run_check = getattr(spec.module(), "preflight", None)
        if "preflight" not in spec.capabilities or run_check is None:
            results.append(Check(name, "settings", True, f"{conn.type} connection"))
            continue
        key = (scheme.id, name)
        cached = engine.checked.get(key)
        if cached is not None and not force and time.monotonic() - cached[0] < PREFLIGHT_TTL_S:
            results.extend(cached[1])
            continue
        checks: list[Check] = await run_check(
            conn, use, BuildContext(engine.ledger, scheme.id, engine.ledger)
        )
        if all(c.ok or not c.blocking for c in checks):
            engine.checked[key] = (time.monotonic(), checks)
        else:
            engine.checked.pop(key, None)
        results.extend(checks)
    engine.last_checks = results
    failed = [c for c in results if not c.ok and c.blocking]
    if failed:
        raise PreflightFailed(scheme.id, failed)
    return results


__all__ = [
    "PREFLIGHT_TTL_S",
    "PreflightFailed",
    "connection_uses",
    "preflight",
    "resolve_connection",
    "unresolved",
]
