"""The ``ferry_alerts_*`` counters, on Ferry's registry (:data:`ferry.observe.metrics.REGISTRY`), which
``/metrics`` exposes beside the rest."""

from __future__ import annotations

from prometheus_client import Counter

from ferry.observe.metrics import REGISTRY

FIRED = Counter("ferry_alerts_fired", "Alerts that started firing.", ["rule"], registry=REGISTRY)
RESOLVED = Counter("ferry_alerts_resolved", "Alerts that resolved.", ["rule"], registry=REGISTRY)
SENT = Counter(
    "ferry_alerts_notifications_sent", "Notifications delivered.", ["channel", "kind"], registry=REGISTRY
)
FAILED = Counter(
    "ferry_alerts_delivery_failures", "Delivery attempts that failed.", ["channel"], registry=REGISTRY
)
RETRIED = Counter(
    "ferry_alerts_delivery_retries",
    "Failed deliveries scheduled for another attempt.",
    ["channel"],
    registry=REGISTRY,
)
GAVE_UP = Counter(
    "ferry_alerts_notifications_dead",
    "Notifications given up after every attempt.",
    ["channel"],
    registry=REGISTRY,
)
DIGESTS = Counter(
    "ferry_alerts_digests",
    "Digests sent instead of messages beyond a channel's limit.",
    ["channel"],
    registry=REGISTRY,
)

__all__ = ["DIGESTS", "FAILED", "FIRED", "GAVE_UP", "RESOLVED", "RETRIED", "SENT"]
