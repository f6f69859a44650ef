"""The rate-limit store in PostgreSQL: every worker on one database shares one limit.

Three small tables in the ``ferry_ratelimit`` schema, created idempotently on first use (no ledger
migration): ``seconds`` (one row per key and calendar second, claimed with one atomic
``INSERT ... ON CONFLICT DO UPDATE ... WHERE n < limit RETURNING``), ``state`` (penalty and step-down per
key) and ``leases`` (numbered concurrency slots with an expiry). One autocommit connection per process
and event loop; claims are batched by the limiter, so this costs a round trip per few calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ferry.ratelimit.store import Claim, KeyState, RateLimitStoreError, redact

SCHEMA = "ferry_ratelimit"

# one implicit transaction under an advisory lock, so concurrent first uses do not race
_DDL = f"""
SELECT pg_advisory_xact_lock(727100116);
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.seconds (
    key text NOT NULL, second bigint NOT NULL, n integer NOT NULL, last_grant integer NOT NULL,
    PRIMARY KEY (key, second));
CREATE TABLE IF NOT EXISTS {SCHEMA}.state (
    key text PRIMARY KEY, penalty_until double precision NOT NULL DEFAULT 0,
    low_rate double precision, low_since double precision NOT NULL DEFAULT 0,
    max_in_flight integer);
CREATE TABLE IF NOT EXISTS {SCHEMA}.leases (
    key text NOT NULL, slot integer NOT NULL, holder text NOT NULL, expires_at double precision NOT NULL,
    PRIMARY KEY (key, slot));
"""

# the right-hand sides of an UPDATE read the old row, so last_grant is what this statement added
_CLAIM = f"""
WITH c AS (
    INSERT INTO {SCHEMA}.seconds AS s (key, second, n, last_grant)
    VALUES (%(key)s, %(second)s, LEAST(%(want)s, %(limit)s), LEAST(%(want)s, %(limit)s))
    ON CONFLICT (key, second) DO UPDATE
        SET n = s.n + LEAST(%(want)s, %(limit)s - s.n), last_grant = LEAST(%(want)s, %(limit)s - s.n)
        WHERE s.n < %(limit)s
    RETURNING n, last_grant)
SELECT (SELECT n FROM c), (SELECT last_grant FROM c), st.penalty_until, st.low_rate, st.low_since
FROM (SELECT 1) AS one LEFT JOIN {SCHEMA}.state st ON st.key = %(key)s
"""

_SLOW_DOWN = f"""
INSERT INTO {SCHEMA}.state AS st (key, penalty_until, low_rate, low_since)
VALUES (%(key)s, %(until)s, %(low)s, %(until)s)
ON CONFLICT (key) DO UPDATE SET
    penalty_until = GREATEST(st.penalty_until, %(until)s),
    low_rate = CASE WHEN st.penalty_until >= %(now)s THEN st.low_rate ELSE %(low)s END,
    low_since = CASE WHEN st.penalty_until >= %(now)s THEN st.low_since ELSE %(until)s END
RETURNING penalty_until, low_rate, low_since
"""

# the lowest free or expired slot; SKIP LOCKED-free because the primary key serialises takers of one slot
_LEASE = f"""
INSERT INTO {SCHEMA}.leases AS l (key, slot, holder, expires_at)
SELECT %(key)s, g.slot, %(holder)s, %(now)s + %(ttl)s
FROM generate_series(0, %(limit)s - 1) AS g(slot)
WHERE NOT EXISTS (SELECT 1 FROM {SCHEMA}.leases x
                  WHERE x.key = %(key)s AND x.slot = g.slot AND x.expires_at >= %(now)s)
ORDER BY g.slot LIMIT 1
ON CONFLICT (key, slot) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE l.expires_at < %(now)s
RETURNING slot
"""


class PostgresStore:
    """A :class:`~ferry.ratelimit.store.LimitStore` on PostgreSQL (psycopg 3, async)."""

    def __init__(self, url: str) -> None:
        # SQLAlchemy-style URLs are accepted, since the ledger's URL is often reused
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1).replace(
            "postgres://", "postgresql://", 1
        )
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._claims = 0

    async def _connection(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._conn is None or self._loop is not loop or self._conn.closed:
            # a connection belongs to the event loop it was opened on
            try:
                import psycopg
            except ImportError as exc:
                raise RateLimitStoreError(
                    "FERRY_RATE_LIMITS names PostgreSQL but psycopg is not installed",
                    hint="pip install 'ferry[postgres]'",
                ) from exc
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=5)
                await conn.execute(_DDL)
            except psycopg.Error as exc:
                raise self._error(exc) from None
            self._conn, self._loop, self._lock = conn, loop, asyncio.Lock()
        return self._conn

    async def connect(self) -> None:
        await self._connection()

    def _error(self, exc: Exception) -> RateLimitStoreError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return RateLimitStoreError(
            f"rate-limit store {redact(self.url)} is not usable: {redact(first)}",
            hint="check FERRY_RATE_LIMITS and that PostgreSQL is running",
        )

    async def _fetch(self, sql: str, params: dict[str, Any]) -> Any:
        import psycopg

        conn = await self._connection()
        assert self._lock is not None
        try:
            async with self._lock:
                cur = await conn.execute(sql, params)
                return await cur.fetchone()
        except psycopg.Error as exc:
            raise self._error(exc) from None

    async def claim(self, key: str, second: int, limit: int, want: int) -> Claim:
        self._claims += 1
        if self._claims % 500 == 1:
            # old seconds are never claimed again; each worker sweeps now and then
            await self._fetch(
                f"WITH d AS (DELETE FROM {SCHEMA}.seconds WHERE second < %(s)s RETURNING 1)"
                " SELECT count(*) FROM d",
                {"s": second - 120},
            )
        row = await self._fetch(_CLAIM, {"key": key, "second": second, "limit": max(0, limit), "want": want})
        n, grant, until, low, since = row
        state = KeyState(float(until or 0.0), None if low is None else float(low), float(since or 0.0))
        if n is None or not grant:
            return Claim(0, limit, state)
        return Claim(int(grant), int(n) - int(grant), state)

    async def slow_down(self, key: str, now: float, until: float, low_rate: float) -> KeyState:
        row = await self._fetch(_SLOW_DOWN, {"key": key, "now": now, "until": until, "low": low_rate})
        return KeyState(float(row[0]), None if row[1] is None else float(row[1]), float(row[2]))

    async def lease(self, key: str, holder: str, limit: int, ttl_s: float) -> int | None:
        import time

        row = await self._fetch(
            _LEASE, {"key": key, "holder": holder, "limit": limit, "ttl": ttl_s, "now": time.time()}
        )
        return None if row is None else int(row[0])

    async def renew(self, key: str, holder: str, slot: int, ttl_s: float) -> bool:
        import time

        row = await self._fetch(
            f"UPDATE {SCHEMA}.leases SET expires_at = %(exp)s WHERE key = %(key)s AND slot = %(slot)s"
            " AND holder = %(holder)s RETURNING 1",
            {"key": key, "slot": slot, "holder": holder, "exp": time.time() + ttl_s},
        )
        return row is not None

    async def release(self, key: str, holder: str, slot: int) -> None:
        await self._fetch(
            f"WITH d AS (DELETE FROM {SCHEMA}.leases WHERE key = %(key)s AND slot = %(slot)s"
            " AND holder = %(holder)s RETURNING 1) SELECT count(*) FROM d",
            {"key": key, "slot": slot, "holder": holder},
        )

    async def shared_limit(self, key: str, default: int, change: int | None = None) -> int:
        if change is None:
            row = await self._fetch(
                f"SELECT max_in_flight FROM {SCHEMA}.state WHERE key = %(key)s", {"key": key}
            )
            return default if row is None or row[0] is None else int(row[0])
        row = await self._fetch(
            f"INSERT INTO {SCHEMA}.state AS st (key, max_in_flight) VALUES (%(key)s, %(n)s)"
            " ON CONFLICT (key) DO UPDATE SET max_in_flight = %(n)s RETURNING max_in_flight",
            {"key": key, "n": change},
        )
        return int(row[0])

    async def aclose(self) -> None:
        if self._conn is not None and self._loop is asyncio.get_running_loop():
            await self._conn.close()
        self._conn = None
