"""`ferry sandbox kingdee`: run the kingdee sandbox as a server."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `kingdee` command to the `ferry sandbox` group."""
    return None
