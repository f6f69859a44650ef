"""The store's public surface and its place in the architecture."""

from __future__ import annotations

import ast
from pathlib import Path

import ferry.store

STORE_DIR = Path(ferry.store.__file__).parent


def test_public_api_is_the_explicit_all() -> None:
    assert sorted(ferry.store.__all__) == sorted(
        [
            "DATABASE_URL_ENV",
            "DEFAULT_DATABASE_URL",
            "FINAL_STATUSES",
            "FOLLOW_UP",
            "PROBE_STATUSES",
            "STATUSES",
            "ApiCallLike",
            "ApiUsage",
            "CallRow",
            "HourUsage",
            "LATENCY_BUCKETS_MS",
            "AsyncLedger",
            "facade",
            "CallLog",
            "Claimed",
            "CollectCounts",
            "Collected",
            "EventRow",
            "Ledger",
            "Outcome",
            "RecordRow",
            "RunRow",
            "Status",
            "content_hash",
            "current_revision",
            "make_engine",
            "metadata",
            "schema_diff",
            "upgrade",
        ]
    )
    for name in ferry.store.__all__:
        assert hasattr(ferry.store, name), name


def test_store_imports_nothing_of_ours_but_itself() -> None:
    for path in STORE_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            for module in modules:
                # ferry.errors is the shared kernel every package may use
                assert not module.startswith("ferry.") or module.startswith(
                    ("ferry.store", "ferry.errors")
                ), (
                    path,
                    module,
                )


def test_migrations_ship_inside_the_package() -> None:
    assert (STORE_DIR / "migrations" / "env.py").is_file()
    assert (STORE_DIR / "migrations" / "script.py.mako").is_file()
    assert sorted(p.name for p in (STORE_DIR / "migrations" / "versions").glob("0*.py")) == [
        "0001_initial.py",
        "0002_fenced_leases.py",
        "0003_console_indexes.py",
        "0004_alerts.py",
        "0005_api_usage_hourly.py",
        "0006_quality.py",
        "0007_events_without_foreign_key.py",
    ]
