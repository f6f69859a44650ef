"""``ferry validate`` and ``ferry schema``.

``ferry validate`` is total: whatever the files hold, it prints one line per problem
(``file:line:col: key.path: message``; warnings say ``warning:``) and exits 0 when nothing is wrong,
1 otherwise, in bounded time and memory (see :mod:`ferry.scheme.document`). It checks, in order:
each file as a scheme (:func:`ferry.scheme.load_scheme`), the scheme against its connectors and
connections (:func:`ferry.connectors.check.check_scheme`), each connections file once, and that no
two schemes share an id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# the scheme model (pydantic, sqlglot) is imported where it is used: `ferry --help` starts without it
if TYPE_CHECKING:
    from ferry.connectors.settings import ConnectionsFile
    from ferry.scheme import Problem, Scheme


@dataclass
class _FileResult:
    path: Path
    problems: list[Problem] = field(default_factory=list)
    scheme: Scheme | None = None

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)


def _say(line: str, *, err: bool = False) -> None:
    from ferry.observe.redact import redact

    typer.echo(redact(line), err=err)


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file, p.line or 10**9, p.column, p.path))


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        paths: Annotated[list[Path], typer.Argument(help="Scheme files or folders of them.")],
        side: Annotated[
            str | None,
            typer.Option("--side", help="Check one side's metadata alone: 'source' or 'target'."),
        ] = None,
        connections: Annotated[
            Path | None,
            typer.Option(
                "--connections",
                help="Connections file to check the schemes against (default: connections.yaml beside "
                "each scheme, else $FERRY_CONNECTIONS, else ./connections.yaml).",
            ),
        ] = None,
    ) -> None:
        """Check scheme files; every problem names the file, the line, the column and the key path."""
        from ferry.scheme import discover, duplicate_ids
        from ferry.scheme.folder import NOT_SCHEMES

        if side not in (None, "source", "target"):
            _say("--side must be 'source' or 'target'", err=True)
            raise typer.Exit(2)
        found = discover(paths)
        for skipped, why in found.skipped:
            if skipped.name.lower() not in NOT_SCHEMES:
                _say(f"skip {skipped}: {why}")
        if not found.schemes:
            _say("no scheme files found", err=True)
            raise typer.Exit(1)
        run = _Validation(side, connections)
        results = [run.check_file(f) for f in found.schemes]
        schemes = [r.scheme for r in results if r.scheme is not None]
        by_file = {str(r.path): r for r in results}
        for problem in duplicate_ids(schemes):
            target = by_file.get(problem.file)
            if target is not None:
                target.problems.append(problem)
        extra = run.connection_files()
        bad = 0
        for r in [*results, *extra]:
            for p in _ordered(r.problems):
                _say(str(p), err=True)
            if r.ok:
                warned = sum(1 for p in r.problems if not p.is_error)
                _say(f"ok {r.path}" + (f" ({warned} warning{'s' * (warned != 1)})" if warned else ""))
            else:
                bad += 1
        if bad:
            _say(f"{bad} of {len(results) + len(extra)} file(s) invalid", err=True)
            raise typer.Exit(1)

    @app.command()
    def schema() -> None:
        """Print the JSON Schema of the native scheme form (for editor completion)."""
        from ferry.scheme import native_json_schema

        typer.echo(json.dumps(native_json_schema(), ensure_ascii=False, indent=2))


class _Validation:
    """One ``ferry validate`` run: reads each connections file once (unset references are warnings)."""

    def __init__(self, side: str | None, connections: Path | None) -> None:
        self.side = side
        self.named = connections
        self.files: dict[str, ConnectionsFile] = {}

    def connections_for(self, scheme_path: Path) -> ConnectionsFile:
        from ferry.connectors.settings import find_connections, read_connections

        where, _named = find_connections(self.named, beside=scheme_path.parent)
        key = str(where)
        if key not in self.files:
            self.files[key] = read_connections(self.named, beside=scheme_path.parent, unresolved="warning")
        return self.files[key]

    def check_file(self, path: Path) -> _FileResult:
        try:
            return self._check_file(path)
        except Exception as e:  # a bug in a check must not hide the other files' problems
            from ferry.scheme import Problem

            bug = f"internal error while checking this file ({type(e).__name__}); this is a bug in Ferry"
            return _FileResult(path, [Problem(str(path), "", 0, 0, bug)])

    def _check_file(self, path: Path) -> _FileResult:
        from ferry.scheme import SchemeError, load_scheme, load_side

        result = _FileResult(path)
        try:
            if self.side in ("source", "target"):
                load_side(path, "source" if self.side == "source" else "target", warnings=result.problems)
                return result
            result.scheme = load_scheme(path, warnings=result.problems)
        except SchemeError as e:
            result.problems.extend(e.problems)
            return result
        from ferry.connectors.check import check_scheme

        file = self.connections_for(path)
        problems = check_scheme(result.scheme, file if file.path is not None else None)
        # the connections file's own problems are printed once, under that file
        result.problems.extend(p for p in problems if file.path is None or p.file != str(file.path))
        return result

    def connection_files(self) -> list[_FileResult]:
        """One result per connections file the schemes were checked against: its own problems."""
        from ferry.connectors.check import check_connections

        return [
            _FileResult(file.path, check_connections(file))
            for file in self.files.values()
            if file.path is not None
        ]
