"""The tests' PostgreSQL: its URL, whether it is reachable, a fresh schema per test. One module at the
top of ``tests/`` (on the path through ``tests/conftest.py``) under a name of its own, since
``conftest`` is ambiguous once several test folders have one."""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator

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


@contextlib.contextmanager
def fresh_pg_schema(prefix: str = "t") -> Iterator[str]:
    """A new, empty schema; yields a URL whose search_path points at it; drops it afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url(), poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


__all__ = ["PG_DEFAULT_URL", "fresh_pg_schema", "postgres_problem", "postgres_url", "require_postgres"]
