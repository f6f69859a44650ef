"""`ferry sandbox dingtalk`: run the dingtalk sandbox as a server."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `dingtalk` command to the `ferry sandbox` group."""
    return None
