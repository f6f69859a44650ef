"""Shared stores for the rate-limit tests: PostgreSQL and Redis, skipped with a reason when absent."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

PG_URL = os.environ.get("FERRY_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("FERRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_url() -> str:
    if not PG_URL:
        pytest.skip("FERRY_TEST_POSTGRES_URL is not set (a PostgreSQL database for the shared limiter)")
    if not _reachable(PG_URL, 5432):
        pytest.skip("PostgreSQL at FERRY_TEST_POSTGRES_URL is not reachable")
    return PG_URL


@pytest.fixture
def redis_url() -> str:
    if not _reachable(REDIS_URL, 6379):
        pytest.skip(f"Redis at {REDIS_URL} is not reachable (set FERRY_TEST_REDIS_URL)")
    return REDIS_URL


@pytest.fixture(params=["memory", "postgresql", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory"
    return str(request.getfixturevalue("pg_url" if request.param == "postgresql" else "redis_url"))
