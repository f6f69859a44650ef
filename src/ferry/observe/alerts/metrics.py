"""The ``ferry_alerts_*`` counters (prometheus_client, default registry; ``/metrics`` exposes them)."""

from __future__ import annotations

from prometheus_client import Counter

FIRED = Counter("ferry_alerts_fired", "Alerts that started firing.", ["rule"])
RESOLVED = Counter("ferry_alerts_resolved", "Alerts that resolved.", ["rule"])
SENT = Counter("ferry_alerts_notifications_sent", "Notifications delivered.", ["channel", "kind"])
FAILED = Counter("ferry_alerts_delivery_failures", "Delivery attempts that failed.", ["channel"])
RETRIED = Counter(
    "ferry_alerts_delivery_retries", "Failed deliveries scheduled for another attempt.", ["channel"]
)
GAVE_UP = Counter(
    "ferry_alerts_notifications_dead", "Notifications given up after every attempt.", ["channel"]
)
DIGESTS = Counter(
    "ferry_alerts_digests", "Digests sent instead of messages beyond a channel's limit.", ["channel"]
)

__all__ = ["DIGESTS", "FAILED", "FIRED", "GAVE_UP", "RESOLVED", "RETRIED", "SENT"]
