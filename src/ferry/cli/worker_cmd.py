"""``ferry worker``: run the queue's units of work (PostgreSQL only); ``ferry serve --workers external``
hands its schedules to such workers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ferry.cli.common import ConnectionsOption, DatabaseOption, connections_path, err, open_ledger
from ferry.errors import UsageError

if TYPE_CHECKING:
    from ferry.scheme import Scheme


def scheme_files(folder: Path) -> list[Scheme]:
    """Every scheme in a folder (connections.yaml and alerts.yaml are not schemes), or the one file."""
    from ferry.scheme import load_folder

    if not folder.exists():
        raise UsageError(f"{folder}: no such folder or file")
    return load_folder(folder)


def postgres_url(db: str | None, command: str) -> str:
    """The ledger URL, which must be PostgreSQL: the queue lives in the ledger's database."""
    from ferry.store import DATABASE_URL_ENV, DEFAULT_DATABASE_URL

    url = db or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL
    if not url.startswith("postgresql"):
        raise UsageError(
            f"{command} needs a PostgreSQL ledger (the job queue lives in it), not {url.split(':', 1)[0]}",
            hint="pass --db postgresql+psycopg://user@host/db or set FERRY_DATABASE_URL; on SQLite run `ferry serve`",
        )
    return url


def _register_hooks(folder: Path, schemes: list[Scheme], conns: Any) -> None:
    """The queue's periodic hooks: usage roll-up, and the alert evaluator (``alerts.yaml`` next to the
    schemes, or the defaults); notifications are claimed in the ledger, so every worker may tick."""
    from ferry.cli.alerts_cmd import alert_service_for
    from ferry.executor.queue import HOOKS
    from ferry.observe.usage import upkeep

    services: dict[int, Any] = {}

    async def alerts(ledger: Any) -> None:
        service = services.get(id(ledger))
        if service is None:
            service = services[id(ledger)] = alert_service_for(ledger, folder, schemes, conns)
        await service.tick()

    HOOKS["usage"] = upkeep
    HOOKS["alerts"] = alerts


def _signals(stop: asyncio.Event) -> None:
    """SIGTERM or Ctrl-C once: finish or give back the work in hand, then exit; twice: at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
            err.print("stopping: finishing the jobs in hand (signal again to stop at once)")
        elif task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        folder: Annotated[Path, typer.Argument(help="A folder of scheme files (or one file).")],
        db: Annotated[str | None, DatabaseOption] = None,
        connections: Annotated[Path | None, ConnectionsOption] = None,
        concurrency: Annotated[
            int, typer.Option("--concurrency", min=1, max=64, help="Jobs this process runs at once.")
        ] = 4,
        lease: Annotated[float, typer.Option("--lease", help="Seconds a claimed record stays ours.")] = 300.0,
        stalled_after: Annotated[
            float,
            typer.Option(
                "--stalled-after", min=1.0, help="Seconds without a heartbeat before a worker is dead."
            ),
        ] = 30.0,
    ) -> None:
        """Run the schemes' collect, dispatch and remedy jobs from the PostgreSQL queue until SIGTERM;
        run as many as you like, on as many machines. Every worker needs the same scheme folder."""
        from ferry.connectors.settings import load_connections
        from ferry.executor.worker import run_worker
        from ferry.observe.redact import install

        install()
        url = postgres_url(db, "ferry worker")
        schemes = scheme_files(folder)
        conns = load_connections(connections_path(connections))
        ledger = open_ledger(url)
        _register_hooks(folder, schemes, conns)
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")

        async def main() -> None:
            stop = asyncio.Event()
            _signals(stop)
            err.print(f"worker: {len(schemes)} scheme(s), {concurrency} job(s) at once; SIGTERM to stop")
            await run_worker(
                ledger,
                conns,
                schemes,
                url=url,
                stop=stop,
                concurrency=concurrency,
                lease_seconds=lease,
                stalled_after_s=stalled_after,
            )

        try:
            asyncio.run(main())
        except (asyncio.CancelledError, KeyboardInterrupt):
            err.print("stopped at once: unsent records went back; sent ones are in doubt for the probe")
        finally:
            ledger.close()
        err.print("stopped")


async def serve_external(url: str, schemes: list[Scheme], stop: asyncio.Event) -> None:
    """``ferry serve --workers external``: offer the schedules to the queue; the workers do the work."""
    from ferry.executor.queue import apply_schema, build_app, defer_schedules

    app = build_app(url)
    async with app.open_async():
        await apply_schema(app, url)
        await defer_schedules(app, schemes, stop)
