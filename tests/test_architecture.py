"""The layering of ARCHITECTURE.md, enforced: each package imports only the parts its row allows.

``ferry.errors`` is the shared kernel (it imports nothing), so every part but the sandboxes may use it.
The sandboxes import nothing of ours: they must share no code with the clients they test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ferry

ROOT = Path(ferry.__file__).parent
KERNEL = {"errors"}

#: package -> the packages it may import (besides itself and the kernel)
MAY_USE: dict[str, set[str]] = {
    "errors": set(),
    "expr": set(),
    "store": set(),
    "ratelimit": set(),
    "sandbox": set(),
    "scheme": {"expr"},
    # observe reads alerts.yaml with the scheme reader (positions, bounded parsing, unknown keys)
    "observe": {"store", "scheme"},
    "quality": {"expr"},
    "connectors": {"ratelimit", "observe", "scheme"},
    "engine": {"scheme", "expr", "connectors", "store", "quality", "observe", "ratelimit"},
    "executor": {"engine", "store", "scheme", "connectors", "observe", "ratelimit"},
    "console": {"engine", "store", "observe", "quality", "scheme", "connectors", "executor"},
    # the composition roots may use everything
    "cli": {"*"},
    "demo": {"*"},
    "__main__": {"*"},
    "testing": {"*"},
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found.update(n.split(".")[1] for n in names if n.startswith("ferry."))
    return found


def test_every_package_imports_only_what_its_row_allows() -> None:
    wrong: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).parts
        package = rel[0].removesuffix(".py")
        if package in ("__init__", "__main__"):  # the package itself, and `python -m ferry` (= cli)
            continue
        assert package in MAY_USE, f"{package} has no row in MAY_USE (and in ARCHITECTURE.md)"
        allowed = MAY_USE[package]
        if "*" in allowed:
            continue
        kernel = set() if package == "sandbox" else KERNEL
        for other in _imports(path) - {package} - kernel:
            if other not in allowed:
                wrong.append(f"{path.relative_to(ROOT)} imports ferry.{other}")
    assert not wrong, "\n".join(wrong)
