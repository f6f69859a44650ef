"""Back-off for failed writes: exponential with jitter and a cap, honouring any wait the API names."""

from __future__ import annotations

import datetime as dt
import random

from ferry.scheme import RetryPolicy


def backoff_delay(
    policy: RetryPolicy, attempts: int, *, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``attempts + 1``; ``attempts`` counts the tries made so far (>= 1)."""
    base = min(policy.max_delay, policy.initial_delay * policy.multiplier ** max(0, attempts - 1))
    spread = base * policy.jitter
    delay = base + (rng or random).uniform(-spread, spread)
    if retry_after is not None:
        # the API said how long to wait: never retry sooner than that
        delay = max(delay, retry_after)
    return max(
        0.0, min(delay, policy.max_delay if retry_after is None else max(policy.max_delay, retry_after))
    )


def next_attempt_at(
    policy: RetryPolicy, attempts: int, now: dt.datetime, *, retry_after: float | None = None
) -> dt.datetime:
    return now + dt.timedelta(seconds=backoff_delay(policy, attempts, retry_after=retry_after))
