"""``ferry serve`` as a service: one uvicorn HTTP app, the schemes' work, and background services, in one
event loop, stopped together.

- the app (:func:`ferry.console.app.create_app`): ``/healthz``, ``/readyz`` (ledger reachable,
  connections resolved, Stream connected), the console pages, the DingTalk callback route, and any
  ``routers`` another part adds (``/metrics``);
- the **work**: by default :class:`InProcessSchedules` runs every scheme on its schedules in this
  process. That is the one seam where scale-out plugs in: any object with ``async run(stop)`` will do
  (``--workers external`` passes one that leaves the passes to ``ferry worker`` processes);
- **background services** (``async run(stop)`` each): the DingTalk Stream clients, and whatever
  else is handed in (an alert evaluator).

Stopping (:meth:`Service.run` returns once ``stop`` is set): the HTTP server stops taking requests,
the work finishes its batch in flight (records not yet sent are released), events already taken are
handled, and nothing is left ``running`` in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import uvicorn
from fastapi import APIRouter, FastAPI

from ferry.console.app import create_app
from ferry.console.dingtalk_intake import DingTalkWiring, wire_dingtalk
from ferry.console.pages.live import stop_streams
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.engine.preflight import unresolved
from ferry.engine.registry import ConnectionLike
from ferry.engine.runner import Engine
from ferry.engine.schedule import OnPass
from ferry.errors import ConfigError
from ferry.scheme import Scheme
from ferry.store import Ledger

log = logging.getLogger("ferry.serve")

#: how long stopping waits for events already taken before it leaves them to polling
DRAIN_TIMEOUT_S = 30.0


class Runnable(Protocol):
    """Work or a background service: runs until ``stop`` is set, then returns."""

    async def run(self, stop: asyncio.Event) -> None: ...


@dataclass
class InProcessSchedules:
    """The default work: every scheme's collect, dispatch and remedy on their schedules, in this process."""

    engine: Engine
    schemes: Sequence[Scheme]
    on_pass: OnPass | None = None

    async def run(self, stop: asyncio.Event) -> None:
        await self.engine.serve(self.schemes, stop, on_pass=self.on_pass)


@dataclass
class _StreamClients:
    wiring: DingTalkWiring

    async def run(self, stop: asyncio.Event) -> None:
        await self.wiring.run_streams(stop)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers (the service owns SIGTERM and Ctrl-C), and with a bind
    failure told as one clear error rather than logged and ``sys.exit``-ed."""

    bind_error: str | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def serve_or_fail(self) -> None:
        quiet = _BindErrors(self)
        logger = logging.getLogger("uvicorn.error")
        logger.addFilter(quiet)
        try:
            await self.serve()
        except SystemExit:
            # uvicorn exits the process when it cannot bind: say why instead
            where = f"{self.config.host}:{self.config.port}"
            raise ConfigError(
                f"cannot listen on {where}: {self.bind_error or 'the HTTP server did not start'}",
                hint="choose another --port, or stop what is listening there",
            ) from None
        finally:
            logger.removeFilter(quiet)


class _BindErrors(logging.Filter):
    """Keeps uvicorn's bind error for the service's own message, instead of a second line."""

    def __init__(self, server: _Server) -> None:
        super().__init__()
        self.server = server

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "error while attempting to bind" in text:
            self.server.bind_error = text.rsplit(": ", 1)[-1]
            return False
        return True


@dataclass
class Service:
    """The app and what runs beside it; build it with :func:`build_service`, run it with :meth:`run`."""

    app: FastAPI
    settings: ConsoleSettings
    work: Runnable | None = None
    background: list[Runnable] = field(default_factory=list)
    wiring: DingTalkWiring = field(default_factory=DingTalkWiring)
    #: set once the HTTP server listens
    started: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return self.settings.base_url

    async def run(self, stop: asyncio.Event, on_started: Callable[[], None] | None = None) -> None:
        """Serve until ``stop`` is set, then stop everything in order (see the module doc);
        ``on_started`` is called once the app listens (to print where)."""
        config = uvicorn.Config(
            self.app,
            host=self.settings.host,
            port=self.settings.port,
            log_level="warning",
            log_config=None,  # our logging (redacted lines), not uvicorn's own set-up
            access_log=False,
            lifespan="off",
        )
        server = _Server(config)
        http = asyncio.create_task(server.serve_or_fail(), name="http")
        # nothing runs before the app listens: a taken port stops the service before any pass
        while not server.started:
            if http.done():
                http.result()  # raises why it could not listen
                raise ConfigError(f"cannot listen on {self.settings.host}:{self.settings.port}")
            await asyncio.sleep(0.02)
        self.started.set()
        if on_started is not None:
            on_started()
        others = [
            asyncio.create_task(r.run(stop), name=type(r).__name__)
            for r in ([self.work] if self.work is not None else []) + self.background
        ]
        try:
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({stopper, http, *others}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            for task in others:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("%s stopped: %s", task.get_name(), task.exception())
            stop.set()
            # the work finishes its batch in flight, and the events already taken are handled
            await asyncio.gather(*others, return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wiring.drain(), DRAIN_TIMEOUT_S)
        except asyncio.CancelledError:
            # a second signal: stop at once (the dispatcher gives back or leaves in doubt what it holds)
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            raise
        finally:
            stop_streams(self.app)  # open pages' live streams end, or uvicorn would wait for them
            server.should_exit = True
            await asyncio.gather(http, return_exceptions=True)


def build_service(
    ledger: Ledger,
    schemes: Sequence[Scheme],
    settings: ConsoleSettings,
    *,
    engine: Engine | None = None,
    connections: Mapping[str, ConnectionLike] | None = None,
    work: Runnable | str | None = "in-process",
    events: bool = True,
    background: Sequence[Runnable] = (),
    routers: Sequence[APIRouter] = (),
    on_pass: OnPass | None = None,
) -> Service:
    """The service over ``ledger`` and ``schemes``.

    With an ``engine``: ``work="in-process"`` (the default) runs the schedules here, another
    :class:`Runnable` replaces them, ``None`` runs none; ``events`` wires the DingTalk intake from
    the connections. Without one (``ferry console``): the pages alone, read-mostly.
    """
    conns: Mapping[str, ConnectionLike] = connections if connections is not None else {}
    if engine is not None and connections is None:
        conns = engine.connections
    wiring = (
        wire_dingtalk(engine, schemes, conns, on_pass=on_pass)
        if engine is not None and events
        else DingTalkWiring()
    )

    async def readiness() -> list[str]:
        problems = unresolved(conns, schemes) if engine is not None else []
        return problems + wiring.not_ready()

    console = ConsoleState(ledger, settings, {s.id: s for s in schemes}, engine)
    app = create_app(console, readiness=readiness, routers=[*wiring.routers, *routers])
    if work == "in-process":
        work = InProcessSchedules(engine, schemes, on_pass) if engine is not None else None
    elif isinstance(work, str):
        raise ValueError(f"unknown work {work!r}")
    extra: list[Runnable] = [_StreamClients(wiring)] if wiring.streams else []
    return Service(app, settings, work, [*extra, *background], wiring)


__all__ = ["DRAIN_TIMEOUT_S", "InProcessSchedules", "Runnable", "Service", "build_service"]
