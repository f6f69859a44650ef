"""``ferry serve`` (the schemes on their schedules, the console, DingTalk events: one service) and
``ferry console`` (the console alone over a ledger)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ferry.cli.common import ConnectionsOption, DatabaseOption, connections_path, open_ledger
from ferry.cli.run_cmd import watch_signals
from ferry.errors import Interrupted, UsageError

if TYPE_CHECKING:
    from ferry.console.serve import Service
    from ferry.engine.runner import Engine
    from ferry.scheme import Scheme

HostOption = typer.Option("--host", help="Interface the HTTP app listens on (non-loopback needs a password).")
PortOption = typer.Option("--port", help="Port the HTTP app listens on.")
log = logging.getLogger("ferry.serve")


def _logging() -> None:
    """One line per event on stderr, every line redacted; the HTTP clients' per-request lines are off."""
    from ferry.observe.redact import install

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.error", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install()


def _schemes(folder: Path) -> list[Scheme]:
    from ferry.scheme import load_folder

    if not folder.exists():
        from ferry.errors import ConfigError

        raise ConfigError(f"{folder}: no such folder or file")
    return load_folder(folder)


class _ExternalWork:
    """``--workers external``: the schedules go to the queue as periodic jobs; ``ferry worker`` runs them
    (events are still taken here, and the ledger keeps every record to one owner)."""

    def __init__(self, url: str, schemes: list[Scheme]) -> None:
        self.url, self.schemes = url, schemes

    async def run(self, stop: asyncio.Event) -> None:
        from ferry.cli.worker_cmd import serve_external

        await serve_external(self.url, self.schemes, stop)


def _run(service: Service, what: str, engine: Engine | None = None) -> None:
    async def main() -> None:
        try:
            await serving()
        finally:
            if engine is not None:
                await engine.aclose()  # the connectors' HTTP clients belong to this loop

    async def serving() -> None:
        stop = asyncio.Event()
        watch_signals(stop)

        def announce() -> None:
            log.info("%s at %s (SIGTERM or Ctrl-C to stop)", what, service.url)
            if service.settings.open_access:
                log.info("no console password is set: open to this machine only, everyone an operator")

        await service.run(stop, on_started=announce)

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise Interrupted(
            "stopped at once: records not yet sent went back to pending; a batch already sent is in "
            "doubt and the probe settles it on the next run"
        ) from None
    log.info("stopped")


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        folder: Annotated[Path, typer.Argument(help="A folder of scheme files (or one file).")],
        connections: Annotated[Path | None, ConnectionsOption] = None,
        host: Annotated[str, HostOption] = "127.0.0.1",
        port: Annotated[int, PortOption] = 8600,
        db: Annotated[str | None, DatabaseOption] = None,
        lease: Annotated[float, typer.Option("--lease", help="Seconds a claimed record stays ours.")] = 300.0,
        workers: Annotated[
            str,
            typer.Option(
                "--workers",
                help="in-process (the default) runs the work here; external offers the schedules to "
                "`ferry worker` processes (PostgreSQL) and keeps the console and the event intake.",
            ),
        ] = "in-process",
    ) -> None:
        """Run every scheme in a folder on its schedule, receive DingTalk events, and serve the console
        and /healthz, /readyz; SIGTERM or Ctrl-C finish the batch in flight, then stop."""
        from ferry.cli.alerts_cmd import alert_service_for
        from ferry.connectors.settings import load_connections
        from ferry.console.metrics import router as metrics_router
        from ferry.console.serve import build_service
        from ferry.console.settings import ConsoleSettings
        from ferry.engine.runner import Engine
        from ferry.engine.schedule import PassDone
        from ferry.observe.tracing import configure as configure_tracing
        from ferry.observe.usage import UsageUpkeep

        _logging()
        configure_tracing()
        # the refusals first, before anything opens: an exposed console without a password, bad schemes
        settings = ConsoleSettings.from_env(host=host, port=port)
        if workers not in ("in-process", "external"):
            raise UsageError(f"--workers must be in-process or external, not {workers!r}")
        schemes = _schemes(folder)
        conns = load_connections(connections_path(connections))
        if workers == "external":
            from ferry.cli.worker_cmd import postgres_url

            db = postgres_url(db, "ferry serve --workers external")
        ledger = open_ledger(db)

        def on_pass(done: PassDone) -> None:
            (log.warning if done.error else log.info)("%s", done.line())

        try:
            engine = Engine(ledger, conns, lease_seconds=lease)
            # alerts.yaml next to the schemes (or the defaults), evaluated every 10 s beside the work;
            # usage rolled up hourly so a month of API history outlives the raw call log
            alerts = alert_service_for(ledger, folder, schemes, conns)
            service = build_service(
                ledger,
                schemes,
                settings,
                engine=engine,
                on_pass=on_pass,
                work="in-process" if workers == "in-process" else _ExternalWork(str(db), schemes),
                background=[alerts, UsageUpkeep(ledger)],
                routers=[metrics_router(ledger, conns, schemes)],
            )
            log.info("serving %d scheme(s): %s", len(schemes), ", ".join(s.id for s in schemes) or "none")
            for line in service.wiring.channels:
                log.info("%s", line)

            _run(service, "console", engine)
        finally:
            ledger.close()

    @app.command()
    def console(
        folder: Annotated[
            Path | None, typer.Argument(help="The scheme folder (names and time zones for the pages).")
        ] = None,
        db: Annotated[str | None, DatabaseOption] = None,
        host: Annotated[str, HostOption] = "127.0.0.1",
        port: Annotated[int, PortOption] = 8600,
    ) -> None:
        """Serve the console alone over a ledger (read-mostly: no schedules, no event intake), for
        instance on a second machine."""
        from ferry.console.serve import build_service
        from ferry.console.settings import ConsoleSettings

        _logging()
        settings = ConsoleSettings.from_env(host=host, port=port)
        schemes = _schemes(folder) if folder is not None else []
        ledger = open_ledger(db)
        try:
            _run(build_service(ledger, schemes, settings), "console (no schedules, no event intake)")
        finally:
            ledger.close()
