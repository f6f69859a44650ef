"""The alert loop: evaluate the rules over the ledger, keep the alerts' state, send what is due.

``ferry serve`` runs :meth:`AlertService.run` beside the schedules; several processes may run it over one
ledger (each notification is claimed before it is sent, see :mod:`.outbox`). The ledger is synchronous,
so its calls go to a thread; channels are awaited, each channel's messages in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ferry.observe.alerts import metrics
from ferry.observe.alerts.channels import Channel, DeliveryFailed, build_channel
from ferry.observe.alerts.evaluator import evaluate
from ferry.observe.alerts.lifecycle import AlertBook
from ferry.observe.alerts.outbox import Claimed, Outbox
from ferry.observe.alerts.rules import Rules
from ferry.observe.redact import redact
from ferry.scheme.model import Scheme
from ferry.store import Ledger

log = logging.getLogger("ferry.alerts")


@dataclass
class TickResult:
    firing: int = 0
    new: int = 0
    resolved: int = 0
    planned: int = 0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def scheme_intervals(schemes: Iterable[Scheme]) -> dict[str, float]:
    """Each scheme's source interval in seconds (the ``scheme_late`` rule's clock); cron schemes are left out."""
    out: dict[str, float] = {}
    for s in schemes:
        schedule = s.source.schedule
        if schedule is not None and schedule.interval:
            out[s.id] = float(schedule.interval)
    return out


class AlertService:
    """``AlertService(ledger, rules, channels)``: ``await tick(now)`` once, or ``await run(stop, every_s)``.

    ``channels`` defaults to those declared in the rules (alerts.yaml); ``intervals`` gives each scheme's
    interval in seconds for the ``scheme_late`` rule.
    """

    def __init__(
        self,
        ledger: Ledger,
        rules: Rules,
        channels: Sequence[Channel] | None = None,
        *,
        intervals: Mapping[str, float] | None = None,
        owner: str | None = None,
        retention_days: float = 30.0,
    ) -> None:
        self.ledger = ledger
        self.rules = rules
        self.channels = list(channels) if channels is not None else [build_channel(c) for c in rules.channels]
        self.intervals = dict(intervals or {})
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.book = AlertBook(ledger)
        self.outbox = Outbox(self.book)
        self.retention = dt.timedelta(days=retention_days)
        self._pruned_at: dt.datetime | None = None

    async def tick(self, now: dt.datetime | None = None) -> TickResult:
        """One pass: evaluate, store, plan, send. One bad rule or channel never stops the others."""
        now = now or dt.datetime.now(dt.UTC)
        out = TickResult()
        try:
            unread: dict[str, str] = {}
            firings = await asyncio.to_thread(evaluate, self.ledger, self.rules, now, self.intervals, unread)
            out.errors.extend(unread.values())
            for problem in unread.values():
                log.warning("%s", problem)
            counts = await asyncio.to_thread(self.book.sync, firings, self.rules, now, unknown=unread)
            out.firing, out.new, out.resolved = counts["firing"], counts["new"], counts["resolved"]
            out.planned = await asyncio.to_thread(
                self.book.plan, self.rules, [c.name for c in self.channels], now
            )
        except Exception as e:  # the ledger is unreachable: say so and try next tick
            out.errors.append(redact(f"evaluating alerts: {type(e).__name__}: {e}"))
            log.warning("%s", out.errors[-1])
            return out
        if self._pruned_at is None or now - self._pruned_at > dt.timedelta(hours=1):
            # the alert tables are pruned by age, as api_calls is: history is kept, not hoarded
            self._pruned_at = now
            await asyncio.to_thread(self.book.prune, now - self.retention)
        results = await asyncio.gather(*(self._send_channel(c, now) for c in self.channels))
        for sent, refused, errors in results:
            out.sent += sent
            out.failed += refused
            out.errors.extend(errors)
        return out

    async def _send_channel(self, channel: Channel, now: dt.datetime) -> tuple[int, int, list[str]]:
        sent = failed = 0
        errors: list[str] = []
        claimed = await asyncio.to_thread(
            self.outbox.claim, channel.name, self.owner, channel.per_minute, now
        )
        for item in claimed:
            ok, error, retry_after = await self._deliver(channel, item)
            status = await asyncio.to_thread(
                self.outbox.finish,
                item,
                self.owner,
                ok=ok,
                error=error,
                latency_ms=self._last_ms,
                now=now,
                retry_after=retry_after,
            )
            if ok:
                sent += 1
                metrics.SENT.labels(channel.name, item.kind).inc()
                if item.kind == "digest":
                    metrics.DIGESTS.labels(channel.name).inc()
            else:
                failed += 1
                errors.append(error or "")
                metrics.FAILED.labels(channel.name).inc()
                (metrics.GAVE_UP if status == "dead" else metrics.RETRIED).labels(channel.name).inc()
                log.warning("alert delivery failed (%s): %s", status, error)
        return sent, failed, errors

    _last_ms = 0.0

    async def _deliver(self, channel: Channel, item: Claimed) -> tuple[bool, str | None, float | None]:
        started = time.perf_counter()
        try:
            await channel.send(item.body, item.message_id)
            return True, None, None
        except DeliveryFailed as e:
            return False, str(e), e.retry_after
        except Exception as e:  # a channel's own bug must not stop the loop
            return False, redact(f"{channel.name}: {type(e).__name__}: {e}"), None
        finally:
            self._last_ms = (time.perf_counter() - started) * 1000

    async def run(self, stop: asyncio.Event, every_s: float = 10.0) -> None:
        """Tick every ``every_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    async def test(self, channel_name: str, now: dt.datetime | None = None) -> str | None:
        """Send a test message on one channel now (logged in its delivery log, outside the minute budget's
        digesting); the error, or None."""
        channel = next((c for c in self.channels if c.name == channel_name), None)
        if channel is None:
            names = ", ".join(c.name for c in self.channels) or "none declared"
            return f"no channel {channel_name!r} (channels: {names})"
        body = {
            "title": "Ferry test message",
            "kind": "test",
            "severity": "info",
            "alerts": [
                {
                    "state": "firing",
                    "summary": "If you read this, alerts reach this channel.",
                    "labels": {"rule": "test"},
                    "records": [],
                }
            ],
            "link": f"{self.rules.console_url}/alerts",
        }
        ok, error, _ = await self._deliver(channel, Claimed(0, channel.name, "test", body, 1))
        await asyncio.to_thread(
            self.outbox.log_attempt,
            channel.name,
            ok=ok,
            error=error,
            latency_ms=self._last_ms,
            now=now or dt.datetime.now(dt.UTC),
        )
        return None if ok else error


__all__ = ["AlertService", "TickResult", "scheme_intervals"]
