"""The ``ferry`` command: one typer app; each group of commands lives in its own module.

:func:`main` is the entry point: it runs the app through the one error handler
(:class:`ferry.cli.errors.FerryGroup`), so no command prints a traceback unless ``--debug`` is given.

Start-up is part of the interface (a scheduled ``ferry run`` pays it every pass): a command module imports
only typer and the standard library at its top and its heavy modules (the scheme model, the engine, the
store, rich's widgets) inside the command; the ``sandbox`` group registers its commands on first use, since
their option defaults live beside the sandboxes' servers. ``tests/cli/test_startup.py`` keeps it so.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Any

import typer
from typer import _click  # typer 0.29 carries its own click
from typer.core import TyperGroup

from ferry.cli import (
    alerts_cmd,
    apis_cmd,
    demo_cmd,
    expr_cmd,
    quality_cmd,
    records_cmd,
    run_cmd,
    serve_cmd,
    validate_cmd,
    worker_cmd,
)
from ferry.cli.errors import FerryGroup


class SandboxGroup(TyperGroup):
    """``ferry sandbox``: its commands are registered when the group is first looked into, so that
    ``ferry --help`` lists the group without importing the sandboxes (starlette, uvicorn, httpx)."""

    modules = ("ferry.cli.sandbox_dingtalk", "ferry.cli.sandbox_kingdee", "ferry.cli.sandbox_both")
    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        app = typer.Typer()
        for name in self.modules:
            importlib.import_module(name).register(app)
        self.commands.update(typer.main.get_group(app).commands)

    def list_commands(self, ctx: _click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> Any:
        self._load()
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="ferry",
    cls=FerryGroup,
    help="Ferry: move documents between business systems, driven by declarative schemes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

sandbox_app = typer.Typer(
    cls=SandboxGroup, help="Run the faithful DingTalk and Kingdee sandboxes.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")
validate_cmd.register(app)
run_cmd.register(app)
serve_cmd.register(app)
records_cmd.register(app)
expr_cmd.register(app)
demo_cmd.register(app)
alerts_cmd.register(app)
apis_cmd.register(app)
worker_cmd.register(app)
quality_cmd.register(app)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of an error (also FERRY_DEBUG=1).")
    ] = False,
) -> None:
    """Ferry: move documents between business systems, driven by declarative schemes."""


@app.command()
def version() -> None:
    """Print Ferry's version."""
    from ferry import __version__

    typer.echo(__version__)


def main() -> None:
    """The ``ferry`` console script. ``--debug`` may stand anywhere on the command line."""
    from ferry.cli.errors import DEBUG_ENV, handle

    if "--debug" in sys.argv[1:]:
        sys.argv = [sys.argv[0], *(a for a in sys.argv[1:] if a != "--debug")]
        os.environ[DEBUG_ENV] = "1"
    try:
        app()
    except SystemExit:
        raise
    except BaseException as exc:  # what escapes before a command runs (parsing, imports)
        sys.exit(handle(exc))


if __name__ == "__main__":  # pragma: no cover
    main()
