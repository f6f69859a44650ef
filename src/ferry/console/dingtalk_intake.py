"""DingTalk event intake for ``ferry serve``, wired from each connection's own settings.

For every ``type: dingtalk`` connection that a scheme reads from:

- ``event_token`` and ``event_aes_key`` set: the HTTP-push callback (:mod:`ferry.console.dingtalk_callback`)
  is mounted at the connection's ``event_path`` (``/dingtalk/events`` by default);
- ``stream: true``: a :class:`~ferry.connectors.dingtalk.stream.StreamClient` is run beside the app
  (a background service), connecting out to the connection's ``api_base``.

Either channel hands each finished instance to :func:`~ferry.console.dingtalk_callback.engine_handler`:
that one instance is collected at once and its scheme dispatched. Polling stays the safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter

from ferry.connectors.dingtalk.crypto import CallbackCrypto
from ferry.connectors.dingtalk.events import EventIntake
from ferry.connectors.dingtalk.factory import connection_settings
from ferry.connectors.dingtalk.stream import StreamClient
from ferry.console.dingtalk_callback import callback_router, engine_handler
from ferry.engine.registry import ConnectionLike
from ferry.engine.runner import Engine
from ferry.engine.schedule import OnPass
from ferry.errors import ConfigError
from ferry.scheme import Scheme


@dataclass
class DingTalkWiring:
    """What the connections asked for: routers to mount, Stream clients to run, intakes to drain."""

    routers: list[APIRouter] = field(default_factory=list)
    streams: dict[str, StreamClient] = field(default_factory=dict)
    intakes: list[EventIntake] = field(default_factory=list)
    #: one line per channel, for the start-up message
    channels: list[str] = field(default_factory=list)

    async def run_streams(self, stop: asyncio.Event) -> None:
        """Run every Stream client until ``stop`` is set (a background service of the app)."""
        if self.streams:
            await asyncio.gather(*(client.run(stop) for client in self.streams.values()))

    def not_ready(self) -> list[str]:
        """Readiness: a Stream connection that is not open right now."""
        return [
            f"connection {name}: DingTalk stream not connected"
            for name, client in self.streams.items()
            if not client.connected.is_set()
        ]

    async def drain(self) -> None:
        """Wait for the events already taken (at shutdown)."""
        for intake in self.intakes:
            await intake.drain()


def wire_dingtalk(
    engine: Engine,
    schemes: Sequence[Scheme],
    connections: Mapping[str, ConnectionLike],
    *,
    on_pass: OnPass | None = None,
) -> DingTalkWiring:
    """The event channels the DingTalk connections' settings ask for (a ConfigError for a clash)."""
    wiring = DingTalkWiring()
    paths: dict[str, str] = {}
    for name, conn in sorted(connections.items()):
        if conn.type != "dingtalk":
            continue
        readers = [s for s in schemes if s.source.connection == name]
        if not readers:
            continue
        settings = connection_settings(name, getattr(conn, "settings", {}))
        if not (settings.http_events or settings.stream):
            continue
        intake = EventIntake(engine_handler(engine, readers, on_pass=on_pass))
        wiring.intakes.append(intake)
        if settings.http_events:
            assert settings.event_token is not None and settings.event_aes_key is not None
            path = settings.event_path
            if path in paths:
                raise ConfigError(
                    f"connections {paths[path]} and {name} both receive DingTalk events at {path}",
                    hint="give one of them another event_path",
                )
            paths[path] = name
            try:
                crypto = CallbackCrypto(
                    settings.event_token.get_secret_value(),
                    settings.event_aes_key.get_secret_value(),
                    settings.event_owner_key or settings.app_key,
                )
            except ConfigError as e:
                raise ConfigError(f"connection {name}: event_aes_key: {e.message}") from None
            wiring.routers.append(callback_router(crypto, intake, path=path))
            wiring.channels.append(f"DingTalk events for {name}: HTTP callback at {path}")
        if settings.stream:
            wiring.streams[name] = StreamClient(
                settings.app_key,
                settings.app_secret.get_secret_value(),
                intake,
                api_base=settings.api_base,
                timeout_s=settings.timeout_s,
            )
            wiring.channels.append(f"DingTalk events for {name}: Stream mode via {settings.api_base}")
    return wiring


__all__ = ["DingTalkWiring", "wire_dingtalk"]
