"""Things every command needs: the ledger, the connections, and error printing without tracebacks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from ferry.store import Ledger

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

DatabaseOption = typer.Option(
    "--db", help="Database URL (default: $FERRY_DATABASE_URL, else sqlite:///ferry.db in this folder)."
)
ConnectionsOption = typer.Option(
    "--connections", help="Connections file (default: $FERRY_CONNECTIONS, else ./connections.yaml)."
)


def open_ledger(url: str | None) -> Ledger:
    # imported here: SQLAlchemy costs half a second that `ferry validate` need not pay
    from ferry.store import Ledger

    ledger = Ledger(url or os.environ.get("FERRY_DATABASE_URL"))
    ledger.migrate()
    return ledger


def fail(message: str, code: int = 1) -> typer.Exit:
    from ferry.observe.redact import redact

    # plain text: a message may hold brackets that rich would read as markup
    err.print(f"error: {redact(message)}", markup=False, highlight=False)
    return typer.Exit(code)


def connections_path(path: Path | None) -> Path | None:
    if path is not None:
        return path
    env = os.environ.get("FERRY_CONNECTIONS")
    return Path(env) if env else None
