"""The ``ferry`` command: one typer app; each group of commands lives in its own module.

:func:`main` is the entry point: it runs the app through the one error handler
(:class:`ferry.cli.errors.FerryGroup`), so no command prints a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ferry.cli import (
    demo_cmd,
    expr_cmd,
    quality_cmd,
    records_cmd,
    run_cmd,
    sandbox_both,
    sandbox_dingtalk,
    sandbox_kingdee,
    validate_cmd,
)
from ferry.cli.errors import FerryGroup

app = typer.Typer(
    name="ferry",
    cls=FerryGroup,
    help="Ferry: move documents between business systems, driven by declarative schemes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

sandbox_app = typer.Typer(help="Run the faithful DingTalk and Kingdee sandboxes.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
sandbox_dingtalk.register(sandbox_app)
sandbox_kingdee.register(sandbox_app)
sandbox_both.register(sandbox_app)
validate_cmd.register(app)
run_cmd.register(app)
records_cmd.register(app)
expr_cmd.register(app)
demo_cmd.register(app)
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
