"""A scheme checked against the connectors it uses and the connections it names, before anything runs.

:mod:`ferry.scheme` knows nothing of connectors; this module is where the two meet. For each side
(and each ``enrich`` step) the connector is found from

1. the side's ``connector:`` key (``dingtalk``, ``kingdee``, ``http``; an alias such as ``rest`` is
   the same connector), else
2. the ``type`` of the connection it names, when a connections file is given.

When both say, they must agree. When neither does, the side's ``params`` cannot be checked and a
warning says so. With a connector known, the side's capability is checked (a DingTalk connection
cannot be a target), and ``source.params``, ``target.params``, ``target.probe`` and
``enrich[].query`` are validated with the models the connector's spec declares, each problem placed
at its key in the scheme file with the closest known key. With a connections file, every connection
the scheme names must exist (the closest name is suggested), have a known type and valid keys,
placed in the connections file; a secret is never quoted.

:func:`check_scheme` is what ``ferry validate`` runs and what the engine may run before a pass;
:func:`check_connections` checks a whole connections file once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from ferry.connectors.settings import ConnectionSettings, ConnectionsFile
from ferry.connectors.spec import ConnectorSpec, Finding, check_model, specs
from ferry.errors import ConfigError
from ferry.scheme import Problem, Scheme, SourceSpec, TargetSpec, closest, model_keys, suggest
from ferry.scheme.problems import path_text

Connections = ConnectionsFile | Mapping[str, ConnectionSettings]
Kind = Literal["source", "target"]


@dataclass(frozen=True)
class _Served:
    """Which connector serves a side or lookup, and the scheme key that says so."""

    spec: ConnectorSpec
    #: where in the scheme the connector was named (``source.connector`` or ``source.connection``)
    loc: tuple[str | int, ...]


class _Check:
    def __init__(self, scheme: Scheme, connections: Connections | None) -> None:
        self.scheme = scheme
        self.doc = scheme.document
        self.problems: list[Problem] = []
        self.file: ConnectionsFile | None = None
        self.entries: dict[str, tuple[str | None, Any, frozenset[str]]] | None = None
        if isinstance(connections, ConnectionsFile):
            self.file = connections
            # a file that could not be read at all says so itself; naming every connection as
            # missing from it would only bury that one line
            if connections.document is not None:
                self.entries = {n: (e.type, e.settings, e.unresolved) for n, e in connections.entries.items()}
        elif connections is not None:
            self.entries = {n: (c.type, c.settings, frozenset()) for n, c in connections.items()}
        self.known = specs()
        self.checked_connections: set[str] = set()

    # --- where problems go --------------------------------------------------------------------

    def at(
        self, loc: Sequence[str | int], message: str, *, warning: bool = False, keyed: bool = True
    ) -> None:
        """A problem at ``loc`` in the scheme; ``keyed=False`` leaves the key path out of the line
        (for messages that name their own subject)."""
        severity: Literal["error", "warning"] = "warning" if warning else "error"
        if self.doc is not None:
            line, col = self.doc.place(list(loc))
            file = self.doc.file
        else:
            line, col, file = 0, 0, f"scheme {self.scheme.id!r}"
        self.problems.append(Problem(file, path_text(loc) if keyed else "", line, col, message, severity))

    def in_connections(self, loc: Sequence[str | int], message: str) -> None:
        if self.file is not None:
            line, col = self.file.place(loc)
            self.problems.append(Problem(str(self.file.path), path_text(loc), line, col, message))
        else:
            self.problems.append(Problem("connections", path_text(loc), 0, 0, message))

    def connections_name(self) -> str:
        return str(self.file.path) if self.file is not None and self.file.path else "the connections"

    # --- which connector ----------------------------------------------------------------------

    def type_names(self) -> str:
        return ", ".join(sorted({s.name for s in self.known.values()}))

    def served(
        self, loc: tuple[str | int, ...], connector: str | None, connection: str | None, what: str
    ) -> _Served | Literal[False] | None:
        """The connector of a side or lookup; None when nothing says, False when a problem was reported."""
        declared: ConnectorSpec | None = None
        if connector is not None:
            declared = self.known.get(connector)
            if declared is None:
                self.at(
                    [*loc, "connector"],
                    f"unknown connector {connector!r}{suggest(connector, self.known)}; "
                    f"known: {self.type_names()}",
                )
                return False
        named: ConnectorSpec | None = None
        if self.entries is not None and connection is not None:
            entry = self.entries.get(connection)
            if entry is None:
                near = suggest(connection, self.entries)
                self.at(
                    [*loc, "connection"],
                    f"no connection {connection!r} in {self.connections_name()}{near}"
                    + ("" if near else f"; known: {', '.join(sorted(self.entries)) or 'none'}"),
                )
                return False
            self.check_connection(connection)
            type_name = entry[0]
            named = self.known.get(type_name) if type_name else None
            if named is None:
                return False  # the connection's own problem (no or unknown type) is reported there
        if declared is not None and named is not None and declared.name != named.name:
            self.at(
                [*loc, "connector"],
                f"says connector {connector!r}, but connection {connection!r} is of type "
                f"{named.name!r}{self.connection_place(connection)}",
            )
            return False
        if declared is not None:
            return _Served(declared, (*loc, "connector"))
        if named is not None:
            return _Served(named, (*loc, "connection"))
        if self.entries is not None and connection is None and what in ("source", "target"):
            self.at(loc, f"names no connection; say 'connection: NAME' ({', '.join(sorted(self.entries))})")
            return False
        return None

    def connection_place(self, name: str | None) -> str:
        if self.file is None or name is None:
            return ""
        line, col = self.file.place([name, "type"])
        return f" ({self.file.path}:{line}:{col})" if line else ""

    # --- the checks ---------------------------------------------------------------------------

    def side(self, kind: Kind, side: SourceSpec | TargetSpec) -> None:
        loc: tuple[str | int, ...] = (kind,)
        found = self.served(loc, side.connector, side.connection, kind)
        if found is False:
            return
        if found is None:
            self.at(
                loc,
                f"{kind}.params not checked: say 'connector: TYPE' on the side ({self.type_names()}) "
                "or give a connections file (--connections)",
                warning=True,
                keyed=False,
            )
            return
        spec = found.spec
        if kind not in spec.capabilities:
            self.at(found.loc, f"the {spec.name} connector cannot be a {kind} ({_can(spec)})")
            return
        model = spec.source_params if kind == "source" else spec.target_params
        if model is None:
            if side.params:
                self.at([*loc, "params"], f"the {spec.name} connector takes no {kind} params; remove them")
        else:
            self.model([*loc, "params"], model, side.params)
        self.side_extras(loc, side, model)
        if isinstance(side, TargetSpec) and side.probe is not None:
            if spec.probe is None or "probe" not in spec.capabilities:
                self.at(
                    [*loc, "probe"],
                    f"the {spec.name} connector cannot probe; remove target.probe",
                )
            else:
                self.model([*loc, "probe"], spec.probe, side.probe)

    def side_extras(
        self, loc: tuple[str | int, ...], side: SourceSpec | TargetSpec, model: type[BaseModel] | None
    ) -> None:
        """Qingyi metadata may set a connector's side options on the side itself: a near miss of one
        of the connector's keys there is a typo, not editor state."""
        extra = side.model_extra or {}
        if not extra or model is None:
            return
        keys = model_keys(model)
        for key in extra:
            near = closest(key, keys)
            if key not in keys and near is not None:
                self.at([*loc, key], f"unknown key (did you mean {near!r}?)")

    def model(self, loc: list[str | int], model: type[BaseModel], data: Any) -> None:
        for f in _findings(model, data):
            self.at([*loc, *f.loc], f.message)

    def enrich(self) -> None:
        target = self.scheme.target
        for i, step in enumerate(self.scheme.enrich):
            loc: tuple[str | int, ...] = ("enrich", i)
            if step.connection is None and step.connector is None:
                # the target's connection answers: its connector is the target's
                found = self.served(("target",), target.connector, target.connection, "lookup")
                where: tuple[str | int, ...] = loc
            else:
                found = self.served(loc, step.connector, step.connection, "lookup")
                where = found.loc if found else loc
            if found is False:
                continue
            if found is None:
                self.at(
                    loc,
                    f"enrich[{i}].query not checked: say 'connector: TYPE' on the step or the target "
                    "or give a connections file (--connections)",
                    warning=True,
                    keyed=False,
                )
                continue
            spec = found.spec
            if "lookup" not in spec.capabilities or spec.lookup is None:
                self.at(where, f"the {spec.name} connector cannot answer lookups ({_can(spec)})")
                continue
            self.model([*loc, "query"], spec.lookup, step.query)

    def check_connection(self, name: str) -> None:
        """A named connection's keys against its connector's settings model (once per connection)."""
        if name in self.checked_connections or self.entries is None:
            return
        self.checked_connections.add(name)
        type_name, settings, unresolved = self.entries[name]
        problems = connection_problems(name, type_name, settings, unresolved, self.known)
        for loc, message in problems:
            self.in_connections(loc, message)


_SUGGESTION = re.compile(r"did you mean '([^']+)'\?")


def _findings(model: type[BaseModel], data: Any) -> list[Finding]:
    """``check_model``'s findings, less a "required key is missing" that a misspelt key explains
    (``proces_code: did you mean 'process_code'?`` says why ``process_code`` is missing)."""
    _instance, findings = check_model(model, data)
    explained = set()
    for f in findings:
        m = _SUGGESTION.search(f.message)
        if m and f.loc:
            explained.add((*f.loc[:-1], m.group(1)))
    return [f for f in findings if not (f.message == "required key is missing" and tuple(f.loc) in explained)]


def _can(spec: ConnectorSpec) -> str:
    roles = [c for c in ("source", "target", "lookup", "probe") if c in spec.capabilities]
    return f"{spec.name} can be: {', '.join(roles) or 'nothing of these'}"


def connection_problems(
    name: str,
    type_name: str | None,
    settings: Any,
    unresolved: frozenset[str],
    known: Mapping[str, ConnectorSpec],
) -> list[tuple[list[str | int], str]]:
    """What is wrong with one connection's ``type`` and keys, as (place in the file, message).

    Keys whose ``${...}`` reference is not set are skipped: their value is not known yet.
    """
    if type_name is None or settings is None:
        return []  # reported when the file was read
    spec = known.get(type_name)
    if spec is None:
        types = ", ".join(sorted({s.name for s in known.values()}))
        return [
            (
                [name, "type"],
                f"connection type {type_name!r}{suggest(type_name, known)} is not a known connector; known: {types}",
            )
        ]
    out: list[tuple[list[str | int], str]] = []
    for f in _findings(spec.settings, settings):
        dotted = ".".join(str(p) for p in f.loc)
        if any(dotted == u or dotted.startswith(f"{u}.") for u in unresolved):
            continue
        out.append(([name, *f.loc], f.message))
    return out


def check_scheme(scheme: Scheme, connections: Connections | None = None) -> list[Problem]:
    """Every problem (errors and warnings) of ``scheme`` against its connectors and connections.

    ``connections`` is a :class:`ConnectionsFile` (problems in it are placed by line) or the mapping
    :func:`~ferry.connectors.settings.load_connections` returns; None checks by ``connector:`` keys only.
    """
    check = _Check(scheme, connections)
    try:
        check.side("source", scheme.source)
        check.side("target", scheme.target)
        check.enrich()
    except ConfigError as e:  # a connector plugin that cannot be loaded
        check.at([], e.message)
    # an enrich step answered by the target's connection meets the target's problems again
    return list(dict.fromkeys(check.problems))


def check_connections(file: ConnectionsFile) -> list[Problem]:
    """Every problem of a connections file: what reading it found, then each connection's type and keys."""
    problems = list(file.problems)
    try:
        known = specs()
    except ConfigError as e:
        return [*problems, Problem(str(file.path), "", 0, 0, e.message)]
    for entry in file.entries.values():
        for loc, message in connection_problems(
            entry.name, entry.type, entry.settings, entry.unresolved, known
        ):
            line, col = file.place(loc)
            problems.append(Problem(str(file.path), path_text(loc), line, col, message))
    return problems


__all__ = ["Connections", "check_connections", "check_scheme", "connection_problems"]
