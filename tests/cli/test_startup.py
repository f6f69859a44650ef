"""``ferry`` starts light: the command modules import their heavy dependencies inside the commands.

Checked by what a fresh interpreter has imported, never by a stopwatch (bench/bench_startup.py times it).
"""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from ferry.cli.main import app

#: what `ferry --help` must not pay for: the store, the HTTP stack, the scheme model, the sandboxes
HEAVY = (
    "sqlalchemy",
    "alembic",
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "sqlglot",
    "rich.progress",
    "ferry.store",
    "ferry.engine",
    "ferry.scheme",
    "ferry.connectors",
    "ferry.sandbox",
)


def _imported_by(statement: str) -> list[str]:
    probe = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def test_importing_the_cli_imports_nothing_heavy() -> None:
    modules = _imported_by("import ferry.cli.main")
    assert "typer" in modules  # the probe saw the CLI
    found = sorted({m for m in modules for heavy in HEAVY if m == heavy or m.startswith(heavy + ".")})
    assert found == []


def test_the_expr_package_loads_its_parts_on_first_use() -> None:
    modules = _imported_by("from ferry.expr.variables import DEFAULT_TZ")
    assert "sqlglot" not in modules
    modules = _imported_by("from ferry.expr import render")
    assert "ferry.expr.template" in modules


def test_the_sandbox_group_lists_its_commands_when_asked() -> None:
    result = CliRunner().invoke(app, ["sandbox", "--help"])
    assert result.exit_code == 0, result.output
    for name in ("dingtalk", "kingdee", "both"):
        assert name in result.output
    result = CliRunner().invoke(app, ["sandbox", "kingdee", "--help"])
    assert result.exit_code == 0 and "--acct-id" in result.output
