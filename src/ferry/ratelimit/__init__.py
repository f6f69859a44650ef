"""Rate limits: DingTalk's calls per calendar second, Kingdee's calls in flight, shared across workers.

- :mod:`~ferry.ratelimit.second`: ``SecondPacer``, pacing by the calendar second with a margin measured
  from round trips, a shared pause and step-down after a throttle;
- :mod:`~ferry.ratelimit.concurrency` and :mod:`~ferry.ratelimit.leases`: adaptive calls-in-flight limits,
  in one process or shared as expiring leases;
- :mod:`~ferry.ratelimit.store`: where the state lives (``FERRY_RATE_LIMITS``: memory, PostgreSQL, Redis);
- :mod:`~ferry.ratelimit.bucket`: the older token bucket, and retry delays.

Imports nothing of ours but :mod:`ferry.errors`. See docs/ratelimits.md.
"""
