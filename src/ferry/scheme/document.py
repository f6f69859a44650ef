"""Reading a YAML or JSON file safely into plain data that still knows where each key stood.

Every file goes through :func:`read_document`, whatever is in it, and either comes out as a
:class:`Document` or raises a :class:`~ferry.scheme.problems.SchemeError` whose problems say what is
wrong and where. Nothing else escapes, and the work is bounded:

- a file over :data:`MAX_BYTES` is refused before it is parsed;
- text must be UTF-8 (a UTF-8 byte-order mark is dropped; UTF-16 is named as such), with no NUL or
  other control characters (binary junk);
- nesting deeper than :data:`MAX_DEPTH` is refused by the parser, with the place;
- anchors and aliases are counted on the parsed node graph *before* anything is expanded: a
  document that would expand to more than :data:`MAX_VALUES` values (an alias bomb), or an alias
  that contains itself, is refused at once;
- keys must be text, each once per mapping; YAML-only types (dates, ``!!binary``, ``!!set``, custom
  ``!tags``) and non-finite numbers (``.inf``, ``.nan``, ``1e999``) are refused with their place,
  since a scheme is JSON-shaped data and they would only fail later, at run time.

Both YAML and JSON are parsed by ruamel.yaml's round-trip loader, which remembers each key's line
and column; a JSON file is first checked by :mod:`json`, which places syntax errors exactly.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from ferry.scheme.problems import Problem, SchemeError, path_text

#: the largest file read: a scheme a person writes is a few KiB, a large Qingyi export a few hundred;
#: the pure-Python YAML parser needs seconds per MiB, so this also bounds the time a file can take
MAX_BYTES = 1024 * 1024
#: the deepest nesting of lists and mappings
MAX_DEPTH = 64
#: the most values a document may hold once its aliases are expanded (a scheme holds a few thousand;
#: this bounds the memory and time of everything after parsing)
MAX_VALUES = 250_000
#: problems reported from one file at most (an alias can repeat one bad value many times)
MAX_PROBLEMS = 50
#: the longest integer literal (Python refuses very long ones, and no setting needs one)
MAX_DIGITS = 100

Form = Literal["native", "qingyi"]

_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}
_MERGE = f"{_TAG}merge"
# what YAML allows in a stream (ruamel's own rule); anything else is binary junk
_NOT_TEXT = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


def form_of(path: str | Path) -> Form:
    """Which spelling a file is in, by its name: ``.json`` is Qingyi metadata, anything else native YAML."""
    return "qingyi" if Path(path).suffix.lower() == ".json" else "native"


@dataclass(frozen=True)
class Document:
    """A parsed file: ``data`` as plain dicts, lists and scalars; ``root`` remembers positions."""

    file: str
    data: Any
    #: ruamel's round-trip structure (``CommentedMap`` ...); ``None`` when positions are unknown
    root: Any = None
    #: values refused where they stand (non-finite numbers, broken text); the rest of the file is
    #: still worth checking, so these do not stop the read
    problems: tuple[Problem, ...] = ()

    def place(self, loc: Iterable[str | int]) -> tuple[int, int]:
        """The 1-based line and column of the deepest part of ``loc`` found in the file (0, 0 if none)."""
        return locate(self.root, loc)

    def problem(self, loc: Sequence[str | int], message: str, *, warning: bool = False) -> Problem:
        """A :class:`Problem` at ``loc`` in this file."""
        line, col = self.place(loc)
        return Problem(self.file, path_text(loc), line, col, message, "warning" if warning else "error")


def locate(root: Any, loc: Iterable[str | int]) -> tuple[int, int]:
    """The 1-based line and column of the deepest part of ``loc`` that exists under ``root``."""
    line, col = 0, 0
    node = root
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and isinstance(part, str) and part in node and lc is not None:
                ln, cl = lc.key(part)
            elif (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node) and lc is not None
            ):
                ln, cl = lc.item(part)
            else:
                raise KeyError(part)
        except (KeyError, TypeError, AttributeError):
            # a key that came in through a merge (<<) has no place of its own: use its mapping's
            if line == 0 and lc is not None:
                line, col = lc.line + 1, lc.col + 1
            break
        line, col = ln + 1, cl + 1
        node = node[part]
    return line, col


def read_document(path: str | Path, *, form: Form | None = None, empty_ok: bool = False) -> Document:
    """Read ``path`` into a :class:`Document`, or raise :class:`SchemeError` saying what and where.

    ``form`` overrides the form the name implies (``.json``: checked as JSON first); with ``empty_ok``
    an empty file (or one of comments only) gives a document whose ``data`` is None.
    """
    p = Path(path)
    name = str(p)
    fail = _failer(name)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise fail("expected a file, got a folder") from None
    except OSError as e:
        raise fail(f"cannot read file: {e.strerror or type(e).__name__}") from None
    if len(raw) > MAX_BYTES:
        raise fail(f"the file is larger than {MAX_BYTES // 1024:,} KiB; a scheme is far smaller")
    text = decode(raw, name)
    return parse_text(text, name, json_syntax=(form or form_of(p)) == "qingyi", empty_ok=empty_ok)


def decode(raw: bytes, name: str) -> str:
    """UTF-8 bytes as text (a byte-order mark dropped), or a SchemeError naming the first bad byte."""
    fail = _failer(name)
    if raw.startswith(_UTF32_BOMS):
        raise fail("the file is UTF-32 text; save it as UTF-8")
    if raw.startswith(_UTF16_BOMS):
        raise fail("the file is UTF-16 text; save it as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise fail(f"not UTF-8 text: byte 0x{raw[e.start]:02x} cannot start a character", line, col) from None


def parse_text(text: str, name: str, *, json_syntax: bool = False, empty_ok: bool = False) -> Document:
    """Parse YAML (or JSON, checked as JSON first when ``json_syntax``) text into a :class:`Document`."""
    fail = _failer(name)
    junk = _NOT_TEXT.search(text)
    if junk:
        line, col = _line_col(text, junk.start())
        raise fail(
            f"control character U+{ord(junk.group()):04X} in the text (is this a binary file?)", line, col
        )
    if not text.strip():
        if empty_ok:
            return Document(name, None)
        raise fail("the file is empty")
    if json_syntax:
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise fail(f"invalid JSON: {e.msg}", e.lineno, e.colno) from None
        except (ValueError, RecursionError):
            pass  # an over-long number or deep nesting: the YAML pass below names the place
    root = _load_yaml(text, fail)
    if root is None:
        if empty_ok:
            return Document(name, None)
        raise fail("the file holds no data (only comments?)")
    problems: list[Problem] = []
    data = _plain(root, [], Document(name, None, root), problems)
    return Document(name, data, root, tuple(problems))


def _failer(name: str) -> Any:
    def fail(message: str, line: int = 0, col: int = 0) -> SchemeError:
        return SchemeError([Problem(name, "", line, col, message)])

    return fail


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _load_yaml(text: str, fail: Any) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ruamel warns on stderr about reused anchors
        try:
            node = yaml.compose(text)
            if node is None:
                return None
            _check_nodes(node, fail)
            return yaml.constructor.construct_document(node)
        except MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
            if "maximum depth" in str(e.problem):
                raise fail(f"nested more than {MAX_DEPTH} levels deep", line, col) from None
            what = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
            raise fail(what, line, col) from None
        except SchemeError:
            raise
        except RecursionError:
            raise fail(f"nested more than {MAX_DEPTH} levels deep") from None
        except Exception as e:  # ruamel raises a few unmarked errors for odd input
            raise fail(f"cannot parse the file ({type(e).__name__})") from None


def _check_nodes(root: Any, fail: Any) -> None:
    """Refuse, before anything is expanded: alias bombs and cycles, odd keys and tags, huge integers."""

    def where(node: Any) -> tuple[int, int]:
        mark = node.start_mark
        return mark.line + 1, mark.column + 1

    def children(node: Any) -> list[Any]:
        if isinstance(node, SequenceNode):
            return list(node.value)
        if isinstance(node, MappingNode):
            return [n for pair in node.value for n in pair]
        return []

    size: dict[int, int] = {}
    distinct = 0
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            total = 1 + sum(size[id(c)] for c in children(node))
            distinct += 1
            if total > MAX_VALUES:
                through = " through its aliases (*name); use fewer aliases" if total > distinct else ""
                raise fail(f"the document expands to more than {MAX_VALUES:,} values{through}", *where(node))
            size[key] = total
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise fail("an alias refers to the collection that contains it (a loop)", *where(node))
        _check_node(node, fail, where)
        open_nodes.add(key)
        stack.append((node, True))
        for child in children(node):
            if id(child) in open_nodes:
                raise fail("an alias refers to the collection that contains it (a loop)", *where(child))
            if id(child) not in size:
                stack.append((child, False))


def _check_node(node: Any, fail: Any, where: Any) -> None:
    tag = node.tag
    if isinstance(node, ScalarNode):
        if tag == f"{_TAG}timestamp":
            raise fail(f"{node.value!r} reads as a date/time; quote it to mean text", *where(node))
        if tag == f"{_TAG}int" and len(node.value) > MAX_DIGITS:
            raise fail(f"a number longer than {MAX_DIGITS} digits", *where(node))
    if tag not in _PLAIN_TAGS and tag != _MERGE:
        shown = tag.replace(_TAG, "!!") if isinstance(tag, str) else str(tag)
        raise fail(
            f"the YAML type {shown} is not supported here; write plain text, numbers, lists or mappings",
            *where(node),
        )
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, _value in node.value:
            if not isinstance(key_node, ScalarNode):
                raise fail("a key must be text, not a list or mapping", *where(key_node))
            if key_node.tag == _MERGE:
                continue
            if key_node.tag != f"{_TAG}str":
                raise fail(f"the key {key_node.value!r} is not text; quote it", *where(key_node))
            if key_node.value in seen:
                first = seen[key_node.value]
                raise fail(f"duplicate key {key_node.value!r} (first at line {first})", *where(key_node))
            seen[key_node.value] = where(key_node)[0]


def _plain(node: Any, loc: list[str | int], doc: Document, problems: list[Problem]) -> Any:
    """ruamel structures -> plain dicts, lists and scalars (key order kept); odd values are problems."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out[str(k)] = _plain(v, [*loc, str(k)], doc, problems)
        return out
    if isinstance(node, list):
        return [_plain(v, [*loc, i], doc, problems) for i, v in enumerate(node)]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        if not math.isfinite(node) and len(problems) < MAX_PROBLEMS:
            problems.append(doc.problem(loc, "not a finite number (.inf, .nan and 1e999 are refused)"))
        return float(node)
    if isinstance(node, str):
        text = str(node)
        if _SURROGATE.search(text):
            # JSON's "\ud83d\ude00" escapes arrive as two halves of one character: join them
            try:
                text = text.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeError:
                problems.append(doc.problem(loc, "text with a broken \\u escape (a lone surrogate)"))
        return text
    problems.append(doc.problem(loc, f"a value of an unsupported kind ({type(node).__name__})"))
    return None


__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_PROBLEMS",
    "MAX_VALUES",
    "Document",
    "Form",
    "decode",
    "form_of",
    "locate",
    "parse_text",
    "read_document",
]
