"""The public surface of ferry.expr is the explicit __all__, and it imports nothing else of Ferry's."""

from __future__ import annotations

import ast
from pathlib import Path

import ferry.expr

EXPECTED = {
    "Condition",
    "Context",
    "ExprError",
    "FieldNode",
    "LimitExceeded",
    "Limits",
    "Lookup",
    "MemoryLookup",
    "RequestBuilder",
    "Template",
    "Verdict",
    "apply_format",
    "apply_parser",
    "apply_value_map",
    "beat_flat",
    "build_request",
    "check",
    "compile_condition",
    "compile_format",
    "compile_format_response",
    "compile_parser",
    "compile_request",
    "compile_template",
    "compile_value_map",
    "field_nodes",
    "format_response",
    "render",
}


def test_all_is_the_documented_api() -> None:
    assert set(ferry.expr.__all__) == EXPECTED
    for name in ferry.expr.__all__:
        assert getattr(ferry.expr, name) is not None


def test_package_imports_only_itself_stdlib_and_libraries() -> None:
    package = Path(ferry.expr.__file__).parent
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("ferry"):
                    # the error root is the shared kernel (tests/test_architecture.py)
                    assert name.startswith(("ferry.expr", "ferry.errors")), f"{path.name} imports {name}"
                assert not name.startswith(("os", "subprocess", "socket", "urllib", "http")), (
                    f"{path.name}: {name}"
                )
