"""``ferry run`` (one scheme, once) and ``ferry check`` (its pre-flight checks); ``ferry serve`` is in
:mod:`ferry.cli.serve_cmd`."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ferry.cli.common import ConnectionsOption, DatabaseOption, connections_path, err, fail, open_ledger, out
from ferry.errors import Interrupted

# the scheme model (pydantic, sqlglot), the engine and rich's widgets are imported by the commands that
# use them: `ferry --help` and `ferry run --help` start without them
if TYPE_CHECKING:
    from ferry.scheme import Scheme


def _load(path: Path) -> Scheme:
    """The scheme, or its problems (one line each, by the CLI's handler)."""
    from ferry.scheme import load_scheme

    return load_scheme(path)


def watch_signals(stop: asyncio.Event) -> None:
    """Ctrl-C or SIGTERM once: finish the batch in flight, then stop (``stop`` is set). Twice: stop
    at once (the running task is cancelled; the dispatcher gives back or leaves in doubt what it holds)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
            err.print("stopping: finishing the batch in flight (press Ctrl-C again to stop at once)")
        elif task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


def _counts_line(ledger: Any, scheme_id: str) -> str:
    try:
        counts = ledger.counts(scheme_id)
    except Exception:
        return ""
    return "ledger: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        scheme_path: Annotated[Path, typer.Argument(metavar="SCHEME", help="The scheme file.")],
        once: Annotated[bool, typer.Option("--once", help="Run one pass and exit (the default).")] = True,
        collect_only: Annotated[
            bool, typer.Option("--collect-only", help="Only collect into the ledger.")
        ] = False,
        dispatch_only: Annotated[
            bool, typer.Option("--dispatch-only", help="Only dispatch what is due.")
        ] = False,
        remedy: Annotated[
            bool,
            typer.Option(
                "--remedy",
                help="Only run the omission remedy (漏单补救): re-read the last omission_remedy.days "
                "without moving the watermark.",
            ),
        ] = False,
        db: Annotated[str | None, DatabaseOption] = None,
        connections: Annotated[Path | None, ConnectionsOption] = None,
        lease: Annotated[float, typer.Option("--lease", help="Seconds a claimed record stays ours.")] = 300.0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Run a scheme once: collect from the source into the ledger, then dispatch to the target."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        from ferry.connectors.settings import load_connections
        from ferry.engine.runner import Engine, RunSummary
        from ferry.engine.runner import Progress as EngineProgress
        from ferry.observe.redact import install, redact
        from ferry.observe.tracing import configure

        install()
        configure()  # OTLP traces when OTEL_EXPORTER_OTLP_ENDPOINT is set and the otel extra installed
        if collect_only + dispatch_only + remedy > 1:
            raise fail("--collect-only, --dispatch-only and --remedy exclude each other", 2)
        scheme = _load(scheme_path)
        # a ConnectionSettingsError lists every problem with its place; the CLI's handler prints them
        conns = load_connections(connections_path(connections))
        ledger = open_ledger(db)
        engine = Engine(ledger, conns, lease_seconds=lease)
        bars = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=as_json,
            disable=as_json,
        )
        collected = bars.add_task("remedy" if remedy else "collect", total=None, visible=not dispatch_only)
        written = bars.add_task("dispatch", total=None, visible=not (collect_only or remedy))

        def add_total(n: int) -> None:
            # the source said how many records a window holds: the bar shows how far it is
            bars.update(collected, total=(bars.tasks[collected].total or 0) + n)

        progress = EngineProgress(
            on_page=lambda n: bars.advance(collected, n),
            on_outcome=lambda status: bars.advance(written, 1),
            on_total=add_total,
        )
        stop = asyncio.Event()
        collect, dispatch = not (dispatch_only or remedy), not (collect_only or remedy)

        async def one_pass() -> RunSummary:
            watch_signals(stop)
            async with engine:
                # the checks first: a pass that cannot run says so before any bar or call
                await engine.check(scheme, source=collect or remedy, target=dispatch)
                with bars:
                    return await engine.run(
                        scheme,
                        collect=collect,
                        dispatch=dispatch,
                        remedy=remedy,
                        progress=progress,
                        stop=stop,
                        preflight=False,
                    )

        try:
            summary = asyncio.run(one_pass())
            if stop.is_set():
                # we are stopping already: a late Ctrl-C must not cut the report short
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except (asyncio.CancelledError, KeyboardInterrupt):
            # the second Ctrl-C: the batch in flight was given back or left in doubt for the probe
            raise Interrupted(
                "stopped at once: records not yet sent went back to pending; a batch already sent "
                "is in doubt and the probe settles it on the next run",
                hint=_counts_line(ledger, scheme.id),
            ) from None
        finally:
            ledger.close()
        for problem in summary.errors:
            err.print(f"error: {redact(problem)}", markup=False, highlight=False)
        if as_json:
            typer.echo(json.dumps({**summary.as_dict(), "interrupted": stop.is_set()}, ensure_ascii=False))
            if stop.is_set():
                raise typer.Exit(130)
            if summary.errors:
                raise typer.Exit(1)
            return
        table = Table(title=f"{scheme.id}: {summary.elapsed_s:.2f}s")
        table.add_column("step")
        table.add_column("figures")
        if summary.collect:
            table.add_row("collect", ", ".join(f"{k} {v}" for k, v in summary.collect.as_dict().items()))
        if summary.remedy:
            table.add_row("remedy", ", ".join(f"{k} {v}" for k, v in summary.remedy.as_dict().items()))
        if summary.dispatch:
            table.add_row("dispatch", ", ".join(f"{k} {v}" for k, v in summary.dispatch.as_dict().items()))
        table.add_row("ledger", ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items())))
        out.print(table)
        if stop.is_set():
            raise Interrupted("stopped: the batch in flight was finished; run again to go on")
        if summary.errors:
            raise typer.Exit(1)

    @app.command()
    def check(
        scheme_path: Annotated[Path, typer.Argument(metavar="SCHEME", help="The scheme file.")],
        db: Annotated[str | None, DatabaseOption] = None,
        connections: Annotated[Path | None, ConnectionsOption] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    ) -> None:
        """Check a scheme can run before it spends anything: connections resolve, each side logs in,
        DingTalk process codes and Kingdee forms exist, DingTalk quota is left. Exit 1 if one fails."""
        from rich.table import Table

        from ferry.connectors.settings import load_connections
        from ferry.engine.runner import Engine, PreflightFailed
        from ferry.observe.redact import install

        install()
        scheme = _load(scheme_path)
        conns = load_connections(connections_path(connections))
        ledger = open_ledger(db)
        engine = Engine(ledger, conns)

        async def run_checks() -> tuple[list[Any], bool]:
            async with engine:
                try:
                    return await engine.check(scheme, force=True), True
                except PreflightFailed:
                    # show every check, not only the failed ones
                    return [*engine.last_checks], False

        try:
            checks, ok = asyncio.run(run_checks())
        finally:
            ledger.close()
        if as_json:
            typer.echo(json.dumps([dataclasses.asdict(c) for c in checks], ensure_ascii=False))
        else:
            table = Table(title=f"{scheme.id}: pre-flight checks")
            for col in ("connection", "check", "result", "detail"):
                table.add_column(col, overflow="fold")
            for c in checks:
                mark = "ok" if c.ok else ("FAILED" if c.blocking else "warning")
                table.add_row(c.connection, c.what, mark, c.detail)
            out.print(table)
        if not ok:
            raise typer.Exit(1)
