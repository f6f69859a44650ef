"""The ``ferry`` command line (typer + rich). May use everything."""
