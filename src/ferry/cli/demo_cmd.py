"""``ferry demo``: the flagship scheme against the built-in sandboxes, with progress and a reconciliation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ferry.cli.common import err, out


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        instances: Annotated[int, typer.Option("--instances", "-n", help="Payment requests to seed.")] = 200,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the summary as one JSON object.")
        ] = False,
        scheme: Annotated[
            Path | None, typer.Option("--scheme", help="The scheme to run (default: the flagship example).")
        ] = None,
        latency: Annotated[str, typer.Option("--latency", help="Sandbox latency MIN-MAX in ms.")] = "30-80",
        seed: Annotated[int, typer.Option("--seed", help="Random seed of the seeded data.")] = 7,
        db: Annotated[
            str | None, typer.Option("--db", help="Keep the ledger here (default: a temp file).")
        ] = None,
    ) -> None:
        """Run DingTalk payment approvals into Kingdee payment bills against the sandboxes, then reconcile.

        Exit status 0 only when no approved request lacks its payment bill and none has two.
        """
        from ferry.demo import DemoOptions, DemoProgress, run_demo
        from ferry.observe.redact import install

        install()
        lo, _, hi = latency.partition("-")
        options = DemoOptions(
            instances=instances, latency_ms=(int(lo), int(hi or lo)), random_seed=seed, db_url=db
        )
        if scheme is not None:
            options.scheme_path = scheme
        with Progress(
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=as_json,
            transient=False,
        ) as bars:
            read = bars.add_task("approvals read", total=None)
            done = bars.add_task("records settled", total=None)

            def start(instances: int, approved: int) -> None:
                bars.update(read, total=instances)
                bars.update(done, total=approved)

            progress = DemoProgress(
                on_start=start,
                on_collected=lambda n: bars.advance(read, n),
                on_outcome=lambda _status: bars.advance(done, 1),
                on_phase=lambda text: None if as_json else err.print(f"[dim]{text}[/dim]"),
            )
            summary = asyncio.run(run_demo(options, progress))
        if as_json:
            typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
        else:
            table = Table(title="ferry demo: DingTalk 付款申请 → Kingdee 付款单", show_header=False)
            for key, value in summary.as_dict().items():
                if key in ("api_calls", "statuses", "held_by_rule"):
                    continue
                table.add_row(key, str(value))
            out.print(table)
            calls = Table(title="API calls")
            calls.add_column("connection / API")
            calls.add_column("calls", justify="right")
            for api, n in summary.api_calls.items():
                calls.add_row(api, str(n))
            out.print(calls)
            if summary.held:
                rules = ", ".join(f"{rule} {n}" for rule, n in summary.held_by_rule.items())
                out.print(
                    f"held for review (待复核): {summary.held} ({rules}); never sent until released: "
                    "ferry records ls --status held, ferry records release|reject",
                    markup=False,
                )
            verdict = "[green]reconciled[/green]" if summary.ok else "[red]NOT reconciled[/red]"
            out.print(
                f"{verdict}: missing {summary.missing}, duplicates {summary.duplicates} "
                f"(checked against the sandboxes' own state)"
            )
            if summary.missing_numbers:
                out.print(f"missing: {', '.join(summary.missing_numbers[:20])}")
            if summary.duplicate_numbers:
                out.print(f"duplicates: {', '.join(summary.duplicate_numbers[:20])}")
        if not summary.ok:
            raise typer.Exit(1)
