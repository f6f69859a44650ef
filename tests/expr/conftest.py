"""Shared fixtures for the expression tests: a fixed clock and a fixed watermark."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ferry.expr import Context, render

# 2024-03-15 12:00:00 in Asia/Shanghai == 1710475200 Unix seconds.
NOW = datetime(2024, 3, 15, 12, 0, 0)
NOW_TS = 1710475200
# 2024-01-01 08:00:00 in Asia/Shanghai.
LAST_SYNC = 1704067200


@pytest.fixture
def ctx() -> Context:
    return Context(variables={"LAST_SYNC_TIME": LAST_SYNC}, now=NOW)


def fn(expression: str, record: dict[str, Any] | None = None, ctx: Context | None = None) -> Any:
    """Evaluate ``_function <expression>`` against a record with the fixed clock."""
    context = ctx or Context(variables={"LAST_SYNC_TIME": LAST_SYNC}, now=NOW)
    return render("_function " + expression, record or {}, context)
