"""Whether the tests' PostgreSQL is reachable, importable under a name of its own (``conftest`` is
ambiguous once several test folders have one)."""

from __future__ import annotations

import functools
import os

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("FERRY_TEST_POSTGRES_URL") or PG_DEFAULT_URL


@functools.cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        engine = sa.create_engine(postgres_url(), connect_args={"connect_timeout": 3}, poolclass=sa.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "not reachable", with the reason shown
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is not None:
        shown = make_url(postgres_url()).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL not reachable at {shown}: {problem}")


__all__ = ["PG_DEFAULT_URL", "postgres_problem", "postgres_url", "require_postgres"]
