"""Loading schemes from files, with every problem located by file, key path, line and column.

YAML and JSON are both read with ruamel.yaml's round-trip loader, which remembers where each key
and item stood; pydantic's error locations are then walked back through that structure. A scheme
file is YAML (native form) or JSON (Qingyi: ``{"id", "name", "source": {...}, "target": {...}}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from ferry.errors import ConfigError
from ferry.scheme.model import Scheme, SourceSpec, TargetSpec

Side = Literal["source", "target"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scheme file. ``line`` and ``column`` are 1-based; 0 when unknown."""

    file: str
    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class SchemeError(ConfigError):
    """A scheme file could not be loaded; ``problems`` says every reason, each with its place."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file into ruamel's position-aware structures (or raise SchemeError)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise SchemeError([Problem(name, "", 0, 0, f"cannot read file: {e.strerror or e}")]) from None
    except UnicodeDecodeError as e:
        raise SchemeError(
            [Problem(name, "", 0, 0, f"not UTF-8 text: {e.reason} at byte {e.start}")]
        ) from None
    if path.suffix.lower() == ".json":
        # json gives the exact place of a syntax error; ruamel then supplies key positions
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise SchemeError([Problem(name, "", e.lineno, e.colno, f"invalid JSON: {e.msg}")]) from None
    try:
        return _yaml().load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        what = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
        raise SchemeError([Problem(name, "", line, col, what)]) from None
    except Exception as e:  # ruamel raises a few unmarked errors for odd input
        if path.suffix.lower() == ".json":
            return json.loads(text)  # valid JSON that YAML rejects (rare): load it without positions
        raise SchemeError([Problem(name, "", 0, 0, f"cannot parse: {e}")]) from None


def plain(node: Any) -> Any:
    """ruamel structures -> plain dicts and lists (keeps key order)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def locate(doc: Any, loc: Iterable[str | int]) -> tuple[int, int]:
    """The 1-based line and column of the deepest part of ``loc`` that exists in ``doc``."""
    line, col = 0, 0
    node = doc
    for part in loc:
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            ln, cl = node.lc.key(part)
            line, col = ln + 1, cl + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            ln, cl = node.lc.item(part)
            line, col = ln + 1, cl + 1
            node = node[part]
        else:
            if line == 0 and hasattr(node, "lc"):
                line, col = node.lc.line + 1, node.lc.col + 1
            break
    return line, col


def _path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(name: str, doc: Any, err: ValidationError, prefix: Sequence[str | int] = ()) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        # pydantic adds the validator's name ("function-before[...]") to some locations; drop those
        loc = [*prefix, *(p for p in e["loc"] if not (isinstance(p, str) and "[" in p and "]" in p))]
        line, col = locate(doc, loc)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "extra_forbidden":
            msg = "unknown key (not part of this block; check the spelling)"
        problems.append(Problem(name, _path(loc), line, col, msg))
    return problems


def _validate(name: str, doc: Any, model: type[BaseModel], prefix: Sequence[str | int] = ()) -> BaseModel:
    data = plain(doc)
    if not isinstance(data, dict):
        line, col = locate(doc, [])
        raise SchemeError([Problem(name, _path(prefix), line or 1, col or 1, "expected a mapping of keys")])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise SchemeError(_problems(name, doc, e, prefix)) from None


def load_scheme(path: str | Path) -> Scheme:
    """Load and validate one scheme file (native YAML or Qingyi JSON), or raise :class:`SchemeError`."""
    p = Path(path)
    doc = read_document(p)
    if isinstance(doc, CommentedMap) and "id" not in doc:
        # a Qingyi export often has no scheme id: the file name is a stable, readable default
        doc["id"] = p.stem
    scheme = _validate(str(p), doc, Scheme)
    assert isinstance(scheme, Scheme)
    problems = list(check_expressions(str(p), doc, scheme))
    if problems:
        raise SchemeError(problems)
    return scheme


def load_side(path: str | Path, side: Side) -> SourceSpec | TargetSpec:
    """Load one side's metadata alone (a Qingyi 源平台 or 目标平台 export), or raise :class:`SchemeError`."""
    p = Path(path)
    doc = read_document(p)
    model: type[SourceSpec | TargetSpec] = SourceSpec if side == "source" else TargetSpec
    spec = _validate(str(p), doc, model)
    assert isinstance(spec, SourceSpec | TargetSpec)
    problems = list(check_expressions(str(p), doc, spec, prefix=()))
    if problems:
        raise SchemeError(problems)
    return spec


def check_expressions(
    name: str, doc: Any, model: BaseModel, prefix: Sequence[str | int] | None = None
) -> list[Problem]:
    """Compile every template and expression in the field lists, so a bad one is found before a run."""
    from ferry.expr import ExprError, check

    problems: list[Problem] = []

    def walk_fields(fields: Any, loc: list[str | int], raw: Any) -> None:
        for i, f in enumerate(fields):
            raw_item = raw[i] if isinstance(raw, list) and i < len(raw) else None
            if isinstance(f.value, str):
                try:
                    check(f.value)
                except ExprError as e:
                    line, col = locate(doc, [*loc, i, "value"])
                    problems.append(Problem(name, _path([*loc, i, "value"]), line, col, str(e)))
            walk_fields(
                f.children,
                [*loc, i, "children"],
                (raw_item or {}).get("children") if isinstance(raw_item, dict) else None,
            )

    def side_lists(spec: BaseModel, base: list[str | int]) -> None:
        raw_side: Any = doc
        for part in base:
            raw_side = raw_side.get(part) if isinstance(raw_side, dict) else None
        for attr, aliases in (
            ("request", ("request",)),
            ("other_request", ("other_request", "otherRequest")),
        ):
            key = next((a for a in aliases if isinstance(raw_side, dict) and a in raw_side), aliases[0])
            raw = raw_side.get(key) if isinstance(raw_side, dict) else None
            walk_fields(getattr(spec, attr), [*base, key], raw)

    if isinstance(model, Scheme):
        side_lists(model.source, ["source"])
        side_lists(model.target, ["target"])
        for i, rule in enumerate(model.quality):
            for attr in ("check", "when"):
                text = getattr(rule, attr)
                if text is None:
                    continue
                try:
                    check(text if text.lstrip().startswith("_function") else f"_function {text}")
                except ExprError as e:
                    line, col = locate(doc, ["quality", i, attr])
                    problems.append(Problem(name, _path(["quality", i, attr]), line, col, str(e)))
    else:
        side_lists(model, list(prefix or ()))
    return problems
