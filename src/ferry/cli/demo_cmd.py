"""``ferry demo``: the flagship scheme against the built-in sandboxes, with progress and a reconciliation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ferry.cli.common import err, out

if TYPE_CHECKING:
    from ferry.demo import AfterDemo, DemoSummary


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        instances: Annotated[
            # the seeded mix (refused, revoked, the amount mismatch, the draft, ...) needs ten
            int, typer.Option("--instances", "-n", min=10, help="Payment requests to seed (at least 10).")
        ] = 200,
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
        serve: Annotated[
            bool,
            typer.Option(
                "--serve", help="After the summary, keep the console running over the demo (Ctrl-C ends)."
            ),
        ] = False,
        host: Annotated[
            str, typer.Option("--host", help="With --serve: the console's interface.")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="With --serve: the console's port.")] = 8600,
    ) -> None:
        """Run DingTalk payment approvals into Kingdee payment bills against the sandboxes, then reconcile.

        Exit status 0 only when no approved request lacks its payment bill and none has two.
        """
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from ferry.demo import DemoOptions, DemoProgress, run_demo
        from ferry.observe.redact import install

        install()
        if serve:
            from ferry.console.settings import ConsoleSettings

            ConsoleSettings.from_env(host=host, port=port)  # refuse an exposed console before the demo runs
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
            after = _console(host, port, as_json, bars.stop) if serve else None
            summary = asyncio.run(run_demo(options, progress, after=after))
        if after is None:
            _print_summary(summary, as_json)
        if not summary.ok:
            raise typer.Exit(1)


def _print_summary(summary: DemoSummary, as_json: bool) -> None:
    from rich.table import Table

    if as_json:
        typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        table = Table(title="ferry demo: DingTalk 付款申请 → Kingdee 付款单", show_header=False)
        for key, value in summary.as_dict().items():
            if key in ("api_calls", "statuses", "held_by_rule", "alerts"):
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
        for title in summary.alerts:
            out.print(f"alert sent to the sandbox's DingTalk group robot: {title}", markup=False)
        verdict = "[green]reconciled[/green]" if summary.ok else "[red]NOT reconciled[/red]"
        out.print(
            f"{verdict}: missing {summary.missing}, duplicates {summary.duplicates} "
            f"(checked against the sandboxes' own state)"
        )
        if summary.missing_numbers:
            out.print(f"missing: {', '.join(summary.missing_numbers[:20])}")
        if summary.duplicate_numbers:
            out.print(f"duplicates: {', '.join(summary.duplicate_numbers[:20])}")


def _console(host: str, port: int, as_json: bool, end_bars: Callable[[], None]) -> AfterDemo:
    """What ``--serve`` does after the demo: print the summary, then serve the console over the demo's
    ledger (the sandboxes stay up behind it) until Ctrl-C."""
    from ferry.cli.run_cmd import watch_signals
    from ferry.console.serve import build_service
    from ferry.console.settings import OPERATOR_PASSWORD_ENV, ConsoleSettings

    async def after(summary: DemoSummary, ledger: Any, engine: Any, scheme: Any) -> None:
        end_bars()  # the bars stop redrawing while the console serves
        _print_summary(summary, as_json)
        settings = ConsoleSettings.from_env(host=host, port=port)
        # the console and its actions, no schedules or event intake: the demo's work is done
        service = build_service(ledger, [scheme], settings, engine=engine, work=None, events=False)
        stop = asyncio.Event()
        watch_signals(stop)

        def announce() -> None:
            how = (
                "no password is set: open to this machine only, no login needed"
                if settings.open_access
                else f"log in with any name and the password in {OPERATOR_PASSWORD_ENV}"
            )
            err.print(f"console: {service.url}  ({how}); Ctrl-C to stop", markup=False, highlight=False)

        await service.run(stop, on_started=announce)

    return after
