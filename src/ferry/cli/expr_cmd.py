"""`ferry expr`: render one expression against one record -- the debugger users reach for first."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

# ferry.expr's package exports are lazy (its parsers import sqlglot): `ferry --help` pays for variables only
from ferry.expr.variables import DEFAULT_TZ


class _InputError(Exception):
    """A bad command-line input (not an expression error)."""


def _read_json(value: str, what: str) -> Any:
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _InputError(f"{what}: cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _InputError(
            f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _parse_vars(items: list[str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise _InputError(f"--var {item!r}: expected NAME=VALUE")
        try:
            value: Any = json.loads(raw)  # numbers and JSON literals keep their type
        except json.JSONDecodeError:
            value = raw
        variables[name.strip()] = value
    return variables


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _fail(message: str, caret: str = "") -> None:
    typer.echo(f"error: {message}", err=True)
    if caret:
        for line in caret.split("\n"):
            typer.echo(f"  {line}", err=True)
    raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the `expr` command to ``app``."""

    @app.command("expr")
    def expr_command(
        expression: Annotated[
            str, typer.Argument(help="A template: '{{field}}', '_function ...', a constant.")
        ],
        data: Annotated[str, typer.Option("--data", "-d", help="The record as JSON, or @file.json.")] = "{}",
        var: Annotated[
            list[str] | None,
            typer.Option("--var", help="A variable NAME=VALUE (e.g. LAST_SYNC_TIME=1704067200); repeatable."),
        ] = None,
        compat: Annotated[
            bool, typer.Option("--compat", help="Qingyi behaviour: return the raw text on error.")
        ] = False,
        tz: Annotated[str, typer.Option("--tz", help="Time zone (IANA name).")] = DEFAULT_TZ,
        now: Annotated[
            str | None, typer.Option("--now", help="Fix the clock: a date/time or Unix seconds.")
        ] = None,
        lookup: Annotated[
            str | None,
            typer.Option("--lookup", help="Rows for _findCollection: JSON {schemeId: [rows]} or @file.json."),
        ] = None,
    ) -> None:
        """Render EXPRESSION against the --data record and print the result as JSON."""
        from ferry.expr import Context, ExprError, MemoryLookup, render
        from ferry.expr.variables import to_datetime, zone

        try:
            record = _read_json(data, "--data")
            if not isinstance(record, dict):
                raise _InputError("--data must be a JSON object (one record)")
            variables = _parse_vars(var or [])
            zone_info = zone(tz)
            fixed_now = None
            if now is not None:
                fixed_now = to_datetime(now, zone_info)
                if fixed_now is None:
                    raise _InputError(f"--now {now!r}: not a date/time or Unix timestamp")
            rows = _read_json(lookup, "--lookup") if lookup is not None else None
            if rows is not None and not isinstance(rows, dict):
                raise _InputError("--lookup must be a JSON object {schemeId: [rows]}")
            ctx = Context(
                variables=variables,
                tz=zone_info,
                now=fixed_now,
                lookup=MemoryLookup(rows) if rows is not None else None,
                compat=compat,
            )
            result = render(expression, record, ctx)
        except _InputError as exc:
            _fail(str(exc))
            return
        except ExprError as exc:
            where = f" (line {exc.line}, column {exc.column})" if exc.line is not None else ""
            field = f"field {exc.field!r}: " if exc.field else ""
            _fail(f"{field}{exc.message}{where}", exc.caret())
            return
        typer.echo(json.dumps(result, ensure_ascii=False, default=_json_default))
