"""The FilterString language of a bill query: its text parsed into a predicate over result rows.

FilterString is the SQL-like text the real server accepts (``FBillNo='FKSQ000004' AND (FDocumentStatus='C' OR
FAmount>=100)``), or the JSON array form ``[{"Left":"(","FieldName":..,"Compare":..,"Value":..,"Right":")",
"Logic":0}]`` (reference §7.4). Supported: ``= <> != > >= < <=``, ``[NOT] LIKE``, ``[NOT] IN (...)``,
``IS [NOT] NULL``, ``BETWEEN a AND b``, ``AND``/``OR``/``NOT`` with parentheses. String comparison ignores case,
like SQL Server's default collation.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferry.sandbox.kingdee.catalog import Catalog, FieldRef, QueryError, Row
from ferry.sandbox.kingdee.records import MSG_EXCEPTION, MSG_PARAM
from ferry.sandbox.kingdee.values import get_ci

#: numeric ``Compare`` codes of the JSON filter form. Only "67" appears in the reference (as equality);
#: other numeric codes are refused rather than guessed.
NUMERIC_COMPARE = {"67": "="}

# ---- filter parsing --------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>[Nn]?'(?:[^']|'')*')
      | (?P<num>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<op><>|!=|>=|<=|=|>|<)
      | (?P<punct>[(),])
      | (?P<ident>[A-Za-z_\u4e00-\u9fff][\w.]*)
    )""",
    re.VERBOSE,
)

_KEYWORDS = {"and", "or", "not", "like", "in", "is", "null", "between"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # str, num, op, punct, ident, kw, end
    text: str


def tokenize(text: str) -> list[Token]:
    """Split a FilterString into tokens; raise on anything unrecognised."""
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"GetRealExpress error: 无法解析过滤条件“{text[pos : pos + 20]}”", MSG_EXCEPTION)
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            body = value[1:] if value[0] in "Nn" else value
            tokens.append(Token("str", body[1:-1].replace("''", "'")))
        elif kind == "ident" and value.casefold() in _KEYWORDS:
            tokens.append(Token("kw", value.casefold()))
        else:
            tokens.append(Token(kind, value))
    tokens.append(Token("end", ""))
    return tokens


Predicate = Callable[[Row], bool]


class FilterParser:
    """Recursive descent over the tokens; builds a predicate and records the fields it uses."""

    def __init__(self, text: str, catalog: Catalog) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.catalog = catalog
        self.refs: list[FieldRef] = []

    def parse(self) -> Predicate:
        pred = self._or()
        if self._peek().kind != "end":
            raise QueryError(
                f"GetRealExpress error: 过滤条件在“{self._peek().text}”附近有语法错误", MSG_EXCEPTION
            )
        return pred

    def _peek(self) -> Token:
        return self.tokens[self.pos]

    def _next(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _accept_kw(self, word: str) -> bool:
        tok = self._peek()
        if tok.kind == "kw" and tok.text == word:
            self.pos += 1
            return True
        return False

    def _expect(self, kind: str, text: str | None = None) -> Token:
        tok = self._next()
        if tok.kind != kind or (text is not None and tok.text != text):
            raise QueryError(f"GetRealExpress error: 过滤条件在“{tok.text}”附近有语法错误", MSG_EXCEPTION)
        return tok

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._accept_kw("or"):
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda row: any(p(row) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._accept_kw("and"):
            parts.append(self._not())
        if len(parts) == 1:
            return parts[0]
        return lambda row: all(p(row) for p in parts)

    def _not(self) -> Predicate:
        if self._accept_kw("not"):
            inner = self._not()
            return lambda row: not inner(row)
        return self._primary()

    def _primary(self) -> Predicate:
        tok = self._peek()
        if tok.kind == "punct" and tok.text == "(":
            self.pos += 1
            inner = self._or()
            self._expect("punct", ")")
            return inner
        return self._comparison()

    def _literal(self) -> Any:
        tok = self._next()
        if tok.kind == "str":
            return tok.text
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "kw" and tok.text == "null":
            return None
        raise QueryError(f"GetRealExpress error: 过滤条件在“{tok.text}”附近需要一个值", MSG_EXCEPTION)

    def _comparison(self) -> Predicate:
        tok = self._next()
        if tok.kind != "ident":
            raise QueryError(f"GetRealExpress error: 过滤条件在“{tok.text}”附近需要字段名", MSG_EXCEPTION)
        ref = self.catalog.resolve(tok.text)
        self.refs.append(ref)
        negate = self._accept_kw("not")
        nxt = self._peek()
        if nxt.kind == "kw" and nxt.text == "like":
            self.pos += 1
            pattern = like_regex(str(self._literal()))
            return _negated(negate, lambda row: _like(row.value(ref), pattern))
        if nxt.kind == "kw" and nxt.text == "in":
            self.pos += 1
            self._expect("punct", "(")
            values = [self._literal()]
            while self._peek().kind == "punct" and self._peek().text == ",":
                self.pos += 1
                values.append(self._literal())
            self._expect("punct", ")")
            return _negated(negate, lambda row: any(compare(row.value(ref), "=", v) for v in values))
        if nxt.kind == "kw" and nxt.text == "between":
            self.pos += 1
            low = self._literal()
            self._expect("kw", "and")
            high = self._literal()
            return _negated(
                negate, lambda row: compare(row.value(ref), ">=", low) and compare(row.value(ref), "<=", high)
            )
        if negate:
            raise QueryError("GetRealExpress error: NOT 只能用于 LIKE / IN / BETWEEN", MSG_EXCEPTION)
        if nxt.kind == "kw" and nxt.text == "is":
            self.pos += 1
            is_not = self._accept_kw("not")
            self._expect("kw", "null")
            return lambda row: (row.value(ref) in (None, "")) != is_not
        op = self._expect("op").text
        value = self._literal()
        return lambda row: compare(row.value(ref), op, value)


def _negated(negate: bool, pred: Predicate) -> Predicate:
    return (lambda row: not pred(row)) if negate else pred


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%``, ``_``) as a case-insensitive regex."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def _like(value: Any, pattern: re.Pattern[str]) -> bool:
    return value is not None and pattern.match(str(value)) is not None


_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def _as_datetime(value: str) -> dt.datetime | None:
    if not _DATE.match(value.strip()):
        return None
    try:
        return dt.datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError:
        # single-digit months/days ("2025-3-1") are valid for Kingdee but not for fromisoformat
        nums = [int(float(p)) for p in re.split(r"[-T: ]", value.strip()) if p]
        nums += [0] * (6 - len(nums))
        try:
            return dt.datetime(nums[0], nums[1], nums[2], nums[3], nums[4], nums[5])
        except ValueError:
            return None


def compare(left: Any, op: str, right: Any) -> bool:
    """SQL-ish comparison: NULL compares false; numbers numerically; dates as dates; strings ignoring case."""
    if left is None or right is None or isinstance(left, (list, dict)):
        return False
    a: Any
    b: Any
    if isinstance(left, bool):
        left = int(left)
    if isinstance(left, (int, float)):
        try:
            a, b = float(left), float(right)
        except (TypeError, ValueError):
            a, b = str(left).casefold(), str(right).casefold()
    else:
        da, db = _as_datetime(str(left)), _as_datetime(str(right))
        if da is not None and db is not None:
            a, b = da, db
        else:
            a, b = str(left).casefold(), str(right).casefold()
    if op == "=":
        return bool(a == b)
    if op in ("<>", "!="):
        return bool(a != b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    raise QueryError(f"不支持的比较符“{op}”", MSG_PARAM)


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


_IDENT = re.compile(r"^[A-Za-z_][\w.]*$")


def filter_from_json(items: Sequence[Any]) -> str:
    """Turn the JSON array filter form into FilterString text (values quoted, field names checked)."""
    parts: list[str] = []
    pending_logic: str | None = None
    for item in items:
        if not isinstance(item, Mapping):
            raise QueryError("FilterString 数组的每一项必须是对象", MSG_PARAM, "FilterString")
        name = str(get_ci(item, "FieldName") or "").strip()
        if not _IDENT.match(name):
            raise QueryError(f"FilterString 中的字段名“{name}”无效", MSG_PARAM, "FilterString")
        raw_op = str(get_ci(item, "Compare") or "=").strip()
        op = NUMERIC_COMPARE.get(raw_op, raw_op).lower()
        value = get_ci(item, "Value")
        if op in ("=", "<>", "!=", ">", ">=", "<", "<="):
            cond = f"{name} {op} {_quote(value)}"
        elif op in ("like", "not like"):
            cond = f"{name} {op.upper()} {_quote(value)}"
        elif op in ("in", "not in"):
            values = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
            cond = f"{name} {op.upper()} ({', '.join(_quote(v) for v in values)})"
        elif op in ("is null", "is not null"):
            cond = f"{name} {op.upper()}"
        else:
            raise QueryError(f"FilterString 中的比较符“{raw_op}”不受支持", MSG_PARAM, "FilterString")
        left = str(get_ci(item, "Left") or "").strip()
        right = str(get_ci(item, "Right") or "").strip()
        if set(left) - {"("} or set(right) - {")"}:
            raise QueryError("FilterString 的 Left/Right 只能是括号", MSG_PARAM, "FilterString")
        if pending_logic is not None:
            parts.append(pending_logic)
        parts.append(f"{left}{cond}{right}")
        logic = str(get_ci(item, "Logic") if get_ci(item, "Logic") is not None else "0").strip().lower()
        pending_logic = "OR" if logic in ("1", "or") else "AND"
    return " ".join(parts)


__all__ = [
    "NUMERIC_COMPARE",
    "FilterParser",
    "Predicate",
    "Token",
    "compare",
    "filter_from_json",
    "like_regex",
    "tokenize",
]
