"""Prometheus metrics: counters per process, gauges read from the ledger at scrape time.

Naming follows Prometheus' rules: one ``ferry_`` prefix, base units (seconds), ``_total`` on counters, no
record ids in labels (they go to logs and traces). Two kinds:

- per-process counters and histograms (:data:`REGISTRY`): API request durations, throttles, limiter
  waits, dispatch attempts. Use them for rates; each process counts its own. Other parts add theirs
  here (``Counter("ferry_alerts_sent", ..., registry=REGISTRY)``).
- ledger readings (:class:`LedgerCollector`): records by scheme and status, in-doubt and dead records,
  last success per scheme, API calls and metered calls over all time, the month's quota used and its
  allowance. They agree with the ledger however many processes share it.

:func:`instrument` connects a ledger's API-call log and the rate limiters to the counters; it costs one
histogram observation per API call.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ferry.store import LATENCY_BUCKETS_MS

if TYPE_CHECKING:
    from ferry.observe.calls import ApiCall
    from ferry.observe.usage import ConnectionInfo
    from ferry.store import Ledger

log = logging.getLogger(__name__)

#: the process's own metrics; :func:`ferry.console.metrics.router` exposes them with the ledger's
REGISTRY = CollectorRegistry(auto_describe=True)

#: a scrape rolls finished hours up at most this often
ROLLUP_EVERY = dt.timedelta(minutes=10)

_SECONDS = tuple(b / 1000 for b in LATENCY_BUCKETS_MS)

API_REQUEST_DURATION = Histogram(
    "ferry_api_request_duration_seconds",
    "Outbound API calls by connection, API, HTTP status class (2xx, 4xx, 5xx, none) and outcome "
    "(ok or the error's action: retry, slow_down, reauthenticate, reconcile, give_up).",
    ["connection", "api", "status_class", "outcome"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
API_THROTTLED = Counter(
    "ferry_api_throttled",
    "Calls the remote side refused as too many (each costs the limiter a pause), by code.",
    ["connection", "api", "code"],
    registry=REGISTRY,
)
RATE_LIMITER_WAIT = Histogram(
    "ferry_rate_limiter_wait_seconds",
    "How long calls waited for the rate limiter before they were sent.",
    ["connection", "api"],
    buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
DISPATCH_ATTEMPTS = Counter(
    "ferry_dispatch_attempts",
    "Records settled by dispatch, by scheme, target connector and outcome (written, failed, dead, "
    "in_doubt, quarantined, finishing...).",
    ["scheme", "target", "outcome"],
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    "ferry_build_info", "Always 1; the labels say which Ferry runs.", ["version", "python"], registry=REGISTRY
)


def _build_info() -> None:
    from ferry import __version__

    BUILD_INFO.labels(version=__version__, python=platform.python_version()).set(1)


_build_info()


def status_class(http_status: int | None) -> str:
    return f"{http_status // 100}xx" if http_status else "none"


#: labelled histogram children by label values: ``labels()`` costs more than the observation itself
_durations: dict[tuple[str, str, str, str], Any] = {}


def observe_call(call: ApiCall) -> None:
    """Count one outbound API call (a ledger call listener)."""
    key = (call.connection, call.api, status_class(call.http_status), call.status)
    child = _durations.get(key)
    if child is None:
        child = _durations[key] = API_REQUEST_DURATION.labels(*key)
    child.observe(call.latency_ms / 1000)
    if call.status == "slow_down":
        API_THROTTLED.labels(call.connection, call.api, call.error_code or "").inc()


def observe_wait(key: Hashable, seconds: float) -> None:
    """Time one call waited for its rate limiter (a :mod:`ferry.ratelimit` wait observer)."""
    if isinstance(key, tuple) and len(key) == 2:
        connection, api = str(key[0]), str(key[1])
    elif isinstance(key, tuple) and len(key) == 3:
        # a vendor-wide limit (DingTalk counts per app, whichever connection uses it): system:app
        connection, api = f"{key[0]}:{key[1]}", str(key[2])
    else:
        connection, api = str(key), ""
    RATE_LIMITER_WAIT.labels(connection, api).observe(seconds)


#: labelled dispatch counters by label values, for the same reason
_attempts: dict[tuple[str, str, str], Any] = {}


def dispatched(scheme: str, target: str, outcome: str, count: int = 1) -> None:
    """Count ``count`` records settled alike (called by the engine's dispatcher, once per batch)."""
    key = (scheme, target, outcome)
    child = _attempts.get(key)
    if child is None:
        child = _attempts[key] = DISPATCH_ATTEMPTS.labels(*key)
    child.inc(count)


_instrumented: set[int] = set()
_lock = threading.Lock()


def instrument(ledger: Ledger) -> Callable[[], None]:
    """Feed ``ledger``'s API calls, every rate limiter's waits and dispatch outcomes to the counters
    (once per ledger); returns the function that stops it (for benchmarks and tests)."""
    from ferry.observe import hooks

    with _lock:
        if id(ledger) not in _instrumented:
            _instrumented.add(id(ledger))
            ledger.call_listeners.append(observe_call)
        hooks.add_wait_sink(observe_wait)
        hooks.add_outcome_sink(dispatched)

    def stop() -> None:
        with _lock:
            _instrumented.discard(id(ledger))
            if observe_call in ledger.call_listeners:
                ledger.call_listeners.remove(observe_call)
            hooks.remove_sinks(observe_wait, dispatched)

    return stop


class LedgerCollector(Collector):
    """Gauges and lasting counters read from the ledger at each scrape."""

    def __init__(
        self,
        ledger: Ledger,
        connections: Mapping[str, ConnectionInfo] | None = None,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.ledger = ledger
        self.connections = dict(connections or {})
        self.clock = clock
        self._rolled_at: dt.datetime | None = None

    def describe(self) -> list[Metric]:
        return []  # read at scrape time: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ferry_ledger_up", "1 when the ledger answered this scrape's reads.")
        try:
            families = list(self._read())
        except Exception as e:  # a scrape must answer; the reason goes to the log
            log.warning("metrics: the ledger could not be read: %s", e)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> Iterator[Metric]:
        from ferry.observe.usage import month_bounds

        led = self.ledger
        now = self.clock()
        if self._rolled_at is None or now - self._rolled_at > ROLLUP_EVERY:
            # whoever scrapes keeps the usage rolled up, so the readings below never aggregate a month of
            # raw calls, even where no upkeep task runs
            led.rollup_api_calls(now=now)
            self._rolled_at = now
        records = GaugeMetricFamily(
            "ferry_records", "Records in the ledger by scheme and status.", labels=["scheme", "status"]
        )
        in_doubt = GaugeMetricFamily(
            "ferry_records_in_doubt", "Records whose write may have landed.", labels=["scheme"]
        )
        dead = GaugeMetricFamily(
            "ferry_dead_letters", "Records that need a person (dead).", labels=["scheme"]
        )
        per_scheme: dict[str, dict[str, int]] = {}
        for (scheme, status), n in sorted(led.counts_by_scheme().items()):
            records.add_metric([scheme, status], n)
            per_scheme.setdefault(scheme, {})[status] = n
        for scheme, counts in sorted(per_scheme.items()):
            in_doubt.add_metric([scheme], counts.get("in_doubt", 0))
            dead.add_metric([scheme], counts.get("dead", 0))
        yield from (records, in_doubt, dead)

        last = GaugeMetricFamily(
            "ferry_last_success_timestamp_seconds",
            "When a scheme's last successful run of each kind (collect, dispatch) ended, Unix time.",
            labels=["scheme", "kind"],
        )
        for (scheme, kind), at in sorted(led.last_success_by_scheme().items()):
            last.add_metric([scheme, kind], at.timestamp())
        yield last

        calls = CounterMetricFamily(
            "ferry_api_calls",
            "API calls in the ledger, over all time (rolled up hours and recent calls).",
            labels=["connection", "api"],
        )
        metered = CounterMetricFamily(
            "ferry_api_metered_calls",
            "API calls that count against a metered quota, over all time.",
            labels=["connection", "api"],
        )
        for connection, api, n, m in led.call_totals():
            calls.add_metric([connection, api], n)
            metered.add_metric([connection, api], m)
        yield from (calls, metered)

        used = GaugeMetricFamily(
            "ferry_api_quota_used",
            "Metered calls used in the current quota period.",
            labels=["connection", "period"],
        )
        allowance = GaugeMetricFamily(
            "ferry_api_quota_allowance",
            "Metered calls allowed in the quota period.",
            labels=["connection", "period"],
        )
        start, _ = month_bounds(now)
        month: dict[str, int] = {}
        for u in led.usage_by_hour(since=start):
            if u.metered:
                month[u.connection] = month.get(u.connection, 0) + u.metered
        names = sorted(set(month) | {n for n, i in self.connections.items() if i.type == "dingtalk"})
        for name in names:
            used.add_metric([name, "month"], month.get(name, 0))
            info = self.connections.get(name)
            if info is not None and info.type == "dingtalk":
                allowance.add_metric([name, "month"], info.monthly_quota)
        yield from (used, allowance)

        dropped = CounterMetricFamily(
            "ferry_api_calls_dropped",
            "API calls this process could not log (ledger unavailable, buffer full).",
        )
        dropped.add_metric([], led.dropped_calls)
        yield dropped


class _Exposed(Collector):
    def __init__(self, *collectors: Any) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for c in self._collectors:
            yield from c.collect()


def exposition_registry(
    ledger: Ledger, connections: Mapping[str, ConnectionInfo] | None = None
) -> CollectorRegistry:
    """A registry with this process's metrics and ``ledger``'s readings, for one ``/metrics``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exposed(REGISTRY, LedgerCollector(ledger, connections)))
    return registry


__all__ = [
    "API_REQUEST_DURATION",
    "API_THROTTLED",
    "BUILD_INFO",
    "DISPATCH_ATTEMPTS",
    "RATE_LIMITER_WAIT",
    "REGISTRY",
    "LedgerCollector",
    "dispatched",
    "exposition_registry",
    "instrument",
    "observe_call",
    "observe_wait",
]
