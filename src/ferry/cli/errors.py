"""The command line's one error handler: every failure becomes one or two lines and an exit status.

:func:`run` calls the typer app and catches what escapes it. A :class:`~ferry.errors.FerryError`
prints its own :meth:`~ferry.errors.FerryError.lines`; errors of the libraries below us (pydantic,
SQLAlchemy, the operating system) are translated by :func:`translate` into the same form; anything
else is a bug in Ferry, reported as such in one line. A traceback is printed only with ``--debug``
(or ``FERRY_DEBUG=1``). Every line passes through the redactor first.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import typer
from typer import _click  # typer 0.29 carries its own click
from typer.core import TyperGroup
from typer.exceptions import TyperException

from ferry.errors import ConfigError, FerryError, Interrupted, StoreError

DEBUG_ENV = "FERRY_DEBUG"


def debug_requested(argv: list[str] | None = None) -> bool:
    """True when ``--debug`` is on the command line or ``FERRY_DEBUG`` is set."""
    args = sys.argv[1:] if argv is None else argv
    return "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def translate(exc: BaseException) -> FerryError | None:
    """A foreign error as the FerryError a person can act on, or None when it is not one we know."""
    if isinstance(exc, FerryError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted("interrupted")
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover - pydantic is a dependency
        ValidationError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, ValidationError):
        parts = []
        for e in exc.errors(include_url=False, include_input=False)[:5]:
            loc = ".".join(str(p) for p in e["loc"]) or "value"
            parts.append(f"{loc}: {e['msg']}")
        return ConfigError(f"invalid {exc.title}: " + "; ".join(parts))
    store = _store_error(exc)
    if store is not None:
        return store
    if isinstance(exc, FileNotFoundError):
        return ConfigError(f"file not found: {exc.filename or exc}")
    if isinstance(exc, PermissionError):
        return ConfigError(f"permission denied: {exc.filename or exc}")
    if isinstance(exc, IsADirectoryError):
        return ConfigError(f"expected a file, got a folder: {exc.filename or exc}")
    return None


def _store_error(exc: BaseException) -> FerryError | None:
    """SQLAlchemy and driver errors: the database URL is wrong, or the database cannot be reached."""
    module = type(exc).__module__
    if not module.startswith(("sqlalchemy", "psycopg", "sqlite3")):
        return None
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return StoreError(
        f"the ledger database cannot be used: {text}",
        hint="check --db / FERRY_DATABASE_URL (sqlite:///path/ferry.db or postgresql+psycopg://user@host/db)",
    )


def report(error: FerryError) -> None:
    """Print an error's lines to stderr, redacted."""
    from ferry.observe.redact import redact

    head, *rest = error.lines() or [type(error).__name__]
    print(f"error: {redact(head)}", file=sys.stderr)
    for line in rest:
        print(f"  {redact(line)}", file=sys.stderr)


def handle(exc: BaseException, *, debug: bool | None = None) -> int:
    """Print ``exc`` as a person should see it (one or two lines; a traceback only with --debug) and
    return the exit status."""
    debug = debug_requested() if debug is None else debug
    error = translate(exc)
    if debug:
        traceback.print_exception(exc)
    if error is None:
        from ferry.observe.redact import redact

        print(f"error: internal error: {type(exc).__name__}: {redact(str(exc))[:500]}", file=sys.stderr)
        if not debug:
            print("  this is a bug in Ferry; run again with --debug for the traceback", file=sys.stderr)
        return 70
    report(error)
    return error.exit_code


class FerryGroup(TyperGroup):
    """The ``ferry`` group: whatever a command raises becomes one or two lines and an exit status,
    the same under the console script and under typer's test runner."""

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException, SystemExit):
            raise
        except BaseException as exc:  # KeyboardInterrupt included: it is Interrupted, exit 130
            raise typer.Exit(handle(exc)) from None


__all__ = ["DEBUG_ENV", "FerryGroup", "debug_requested", "handle", "report", "translate"]
