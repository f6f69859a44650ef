"""``ferry validate`` and ``ferry schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ferry.scheme import SchemeError, load_scheme, load_side, native_json_schema


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.suffix.lower() in {".yaml", ".yml", ".json"}))
        else:
            out.append(p)
    return out


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        paths: Annotated[list[Path], typer.Argument(help="Scheme files or folders of them.")],
        side: Annotated[
            str | None,
            typer.Option("--side", help="Check one side's metadata alone: 'source' or 'target'."),
        ] = None,
    ) -> None:
        """Check scheme files; every problem names the file, the key path, the line and the column."""
        out = Console(highlight=False, soft_wrap=True)
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        if side not in (None, "source", "target"):
            err.print("--side must be 'source' or 'target'")
            raise typer.Exit(2)
        files = _expand(paths)
        if not files:
            err.print("no scheme files found")
            raise typer.Exit(1)
        bad = 0
        for f in files:
            try:
                if side == "source":
                    load_side(f, "source")
                elif side == "target":
                    load_side(f, "target")
                else:
                    load_scheme(f)
            except SchemeError as e:
                bad += 1
                for p in e.problems:
                    err.print(f"[red]error[/red] {p}", markup=True)
            else:
                out.print(f"ok {f}")
        if bad:
            err.print(f"{bad} of {len(files)} file(s) invalid")
            raise typer.Exit(1)

    @app.command()
    def schema() -> None:
        """Print the JSON Schema of the native scheme form (for editor completion)."""
        typer.echo(json.dumps(native_json_schema(), ensure_ascii=False, indent=2))
