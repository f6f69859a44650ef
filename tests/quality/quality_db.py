"""Helpers of the quality tests (a module of its own: ``conftest`` is a name every test folder shares)."""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("FERRY_TEST_POSTGRES_URL") or PG_DEFAULT_URL


@functools.cache
def postgres_problem() -> str | None:
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
def fresh_pg_schema() -> Iterator[str]:
    """A new, empty schema; yields a URL whose search_path points at it; drops it afterwards."""
    schema = f"q_{uuid.uuid4().hex[:12]}"
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


AddRecords = Callable[..., list[int]]
