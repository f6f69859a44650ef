"""Cheap hooks the engine and the connectors call, and the metrics fill in when they are installed.

This module imports nothing, so a command that never serves metrics pays nothing for them (the Prometheus
client costs a fifth of a second to import): :func:`ferry.observe.metrics.instrument` adds the sinks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

_WAIT_SINKS: list[Callable[[Hashable, float], None]] = []
_OUTCOME_SINKS: list[Callable[[str, str, str, int], None]] = []


def limiter_waited(key: Hashable, seconds: float) -> None:
    """A call waited ``seconds`` for its rate limiter (connectors pass this to ``RateLimiter(on_wait=)``)."""
    for sink in _WAIT_SINKS:
        sink(key, seconds)


def dispatched(scheme: str, target: str, outcome: str, count: int = 1) -> None:
    """Dispatch settled ``count`` records of ``scheme`` with ``outcome`` (written, failed, dead,
    in_doubt...); the dispatcher tells it once per outcome and batch."""
    for sink in _OUTCOME_SINKS:
        sink(scheme, target, outcome, count)


def add_wait_sink(sink: Callable[[Hashable, float], None]) -> None:
    if sink not in _WAIT_SINKS:
        _WAIT_SINKS.append(sink)


def add_outcome_sink(sink: Callable[[str, str, str, int], None]) -> None:
    if sink not in _OUTCOME_SINKS:
        _OUTCOME_SINKS.append(sink)


def remove_sinks(*sinks: Callable[..., None]) -> None:
    for sink in sinks:
        for found in (_WAIT_SINKS, _OUTCOME_SINKS):
            if sink in found:
                found.remove(sink)  # type: ignore[arg-type]


__all__ = ["add_outcome_sink", "add_wait_sink", "dispatched", "limiter_waited", "remove_sinks"]
