"""Helpers of the quality tests (a module of its own: ``conftest`` is a name every test folder shares)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from pg_support import fresh_pg_schema as _fresh_pg_schema
from pg_support import postgres_problem, postgres_url, require_postgres

#: the shared fresh schema, named so the quality tests' schemas are recognisable in the database
fresh_pg_schema = functools.partial(_fresh_pg_schema, "q")

AddRecords = Callable[..., list[int]]

__all__ = ["AddRecords", "fresh_pg_schema", "postgres_problem", "postgres_url", "require_postgres"]
