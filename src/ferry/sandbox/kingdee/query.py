"""ExecuteBillQuery / BillQuery for the sandbox: FieldKeys, FilterString, OrderString, paging.

FilterString is the SQL-like text the real server accepts (``FBillNo='FKSQ000004' AND (FDocumentStatus='C' OR
FAmount>=100)``), or the JSON array form ``[{"Left":"(","FieldName":..,"Compare":..,"Value":..,"Right":")",
"Logic":0}]`` (reference §7.4). Supported: ``= <> != > >= < <=``, ``[NOT] LIKE``, ``[NOT] IN (...)``,
``IS [NOT] NULL``, ``BETWEEN a AND b``, ``AND``/``OR``/``NOT`` with parentheses. String comparison ignores case,
like SQL Server's default collation.

Field keys: header fields (``FBillNo``), base data sub-fields (``FCONTACTUNIT.FNumber``), entry fields either
bare (``FSRCBILLNO``) or entry-qualified (``FPAYBILLSRCENTRY_FSRCBILLNO``), and ``<Entry>_FEntryId`` /
``<Entry>_FSeq``. A query that names an entry field yields one row per entry row (left join), else one per bill.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferry.sandbox.kingdee.bills import SYSTEM_FIELDS, Bill, BillStore, FormSpec, OperationError, get_ci

MSG_PARAM = 8
MSG_NO_FIELD = 9
MSG_EXCEPTION = 4

#: default and maximum page size (reference §7.4: "默认最大2000行，可调整至10000")
DEFAULT_LIMIT = 2000
MAX_LIMIT = 10000

#: numeric ``Compare`` codes of the JSON filter form. Only "67" appears in the reference (as equality);
#: other numeric codes are refused rather than guessed.
NUMERIC_COMPARE = {"67": "="}


class QueryError(OperationError):
    """A query is refused as a whole (bad field, bad filter)."""


# ---- field resolution ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldRef:
    """A resolved field key: where its value lives."""

    key: str
    entry: str | None  # entry key, or None for a header field
    name: str  # field key inside header/entry; "FEntryID" / "FSeq" for entry ids and row numbers
    sub: str | None  # base data property (FNumber, FName) if dotted


class Catalog:
    """The field keys a form knows: declared in its spec plus every key seen in a stored bill."""

    def __init__(self, spec: FormSpec, bills: Sequence[Bill]) -> None:
        self.spec = spec
        self.header: dict[str, str] = {f.casefold(): f for f in SYSTEM_FIELDS}
        self.header.update({f.casefold(): f for f in spec.header_fields})
        self.entries: dict[str, str] = {e.casefold(): e for e in spec.entries}
        self.entry_fields: dict[str, dict[str, str]] = {
            e.casefold(): {f.casefold(): f for f in spec.entry_fields.get(e, ())} for e in spec.entries
        }
        for bill in bills:
            for key, value in bill.model.items():
                if isinstance(value, list) and all(isinstance(r, dict) for r in value):
                    self.entries.setdefault(key.casefold(), key)
                    fields = self.entry_fields.setdefault(key.casefold(), {})
                    for row in value:
                        for fk in row:
                            fields.setdefault(fk.casefold(), fk)
                else:
                    self.header.setdefault(key.casefold(), key)
        for fields in self.entry_fields.values():
            fields.setdefault("fentryid", "FEntryID")

    def resolve(self, key: str) -> FieldRef:
        """Resolve a field key or raise MsgCode 9 with the real server's wording."""
        text = key.strip()
        base, _, sub = text.partition(".")
        folded = base.casefold()
        # entry-qualified: <ENTRY>_<FIELD>, the entry key may itself contain underscores
        for entry_folded, entry in self.entries.items():
            prefix = entry_folded + "_"
            if folded.startswith(prefix):
                rest = folded[len(prefix) :]
                if rest == "fentryid":
                    return FieldRef(text, entry, "FEntryID", None)
                if rest == "fseq":
                    return FieldRef(text, entry, "FSeq", None)
                name = self.entry_fields.get(entry_folded, {}).get(rest)
                if name is not None:
                    return FieldRef(text, entry, name, sub or None)
        if folded in self.header:
            return FieldRef(text, None, self.header[folded], sub or None)
        owners = [e for e, fields in self.entry_fields.items() if folded in fields and folded != "fentryid"]
        if len(owners) == 1:
            entry_folded = owners[0]
            return FieldRef(
                text, self.entries[entry_folded], self.entry_fields[entry_folded][folded], sub or None
            )
        raise QueryError(f"元数据中标识为{base}的字段不存在", MSG_NO_FIELD, base)


@dataclass(slots=True)
class Row:
    """One result row before projection: a bill and, per referenced entry, one of its rows (or None)."""

    bill: Bill
    entry_rows: dict[str, tuple[int, dict[str, Any]] | None]

    def value(self, ref: FieldRef) -> Any:
        """The value of a resolved field in this row."""
        if ref.entry is None:
            try:
                value = self.bill.system_value(ref.name)
            except KeyError:
                value = get_ci(self.bill.model, ref.name)
        else:
            picked = self.entry_rows.get(ref.entry.casefold())
            if picked is None:
                return None
            seq, row = picked
            if ref.name == "FSeq":
                return seq
            value = get_ci(row, ref.name)
        if isinstance(value, Mapping):
            # base data: a real server answers the internal id for a bare key; we have no ids, so the number
            return get_ci(value, ref.sub or "FNumber")
        if isinstance(value, list):
            return None
        return value


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


# ---- running a query -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QuerySpec:
    """The ``data`` of ExecuteBillQuery / BillQuery, parsed."""

    form_id: str
    field_keys: list[str]
    filter_string: str
    order_string: str
    start_row: int
    limit: int
    top_row_count: int


def parse_query(data: Mapping[str, Any]) -> QuerySpec:
    """Read FormId, FieldKeys, FilterString, OrderString, StartRow, Limit, TopRowCount; refuse bad ones."""
    form_id = str(get_ci(data, "FormId") or "").strip()
    if not form_id:
        raise QueryError("data 数据包中的参数 FormId 的值不能为空", 5, "FormId")
    raw_keys = get_ci(data, "FieldKeys")
    if isinstance(raw_keys, list):
        keys = [str(k).strip() for k in raw_keys if str(k).strip()]
    else:
        keys = [k.strip() for k in str(raw_keys or "").split(",") if k.strip()]
    if not keys:
        raise QueryError("data 数据包中的参数 FieldKeys 的值不能为空", MSG_PARAM, "FieldKeys")
    raw_filter = get_ci(data, "FilterString")
    if isinstance(raw_filter, list):
        filter_string = filter_from_json(raw_filter)
    else:
        filter_string = str(raw_filter or "").strip()

    def number(name: str) -> int:
        value = get_ci(data, name)
        try:
            return max(0, int(value or 0))
        except (TypeError, ValueError) as exc:
            raise QueryError(f"参数 {name} 必须是整数", MSG_PARAM, name) from exc

    return QuerySpec(
        form_id=form_id,
        field_keys=keys,
        filter_string=filter_string,
        order_string=str(get_ci(data, "OrderString") or "").strip(),
        start_row=number("StartRow"),
        limit=number("Limit"),
        top_row_count=number("TopRowCount"),
    )


def _order_keys(order_string: str, catalog: Catalog) -> list[tuple[FieldRef, bool]]:
    out: list[tuple[FieldRef, bool]] = []
    for part in order_string.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise QueryError(f"OrderString “{part.strip()}” 无效", MSG_PARAM, "OrderString")
        out.append((catalog.resolve(words[0]), len(words) == 2 and words[1].lower() == "desc"))
    return out


def _expand(bill: Bill, entries: Iterable[str]) -> list[Row]:
    choices: list[list[tuple[str, tuple[int, dict[str, Any]] | None]]] = []
    for entry in entries:
        rows = bill.entry_rows(entry)
        picked: list[tuple[int, dict[str, Any]] | None] = [(i, r) for i, r in enumerate(rows, start=1)] or [
            None
        ]
        choices.append([(entry.casefold(), p) for p in picked])
    return [Row(bill, dict(combo)) for combo in itertools.product(*choices)]


def _sort_key(value: Any) -> tuple[int, Any]:
    # NULLs first in ascending order, as SQL Server sorts them
    if value is None:
        return (0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value))
    return (2, str(value).casefold())


def run_query(store: BillStore, query: QuerySpec) -> tuple[list[str], list[list[Any]]]:
    """Evaluate a query; returns the field keys as written and the rows (list of lists, FieldKeys order)."""
    spec = store.spec(query.form_id)
    with store.lock:
        bills = store.bills(spec.form_id)
        catalog = Catalog(spec, bills)
        refs = [catalog.resolve(k) for k in query.field_keys]
        predicate: Predicate | None = None
        filter_refs: list[FieldRef] = []
        if query.filter_string:
            parser = FilterParser(query.filter_string, catalog)
            predicate = parser.parse()
            filter_refs = parser.refs
        order = _order_keys(query.order_string, catalog)
        entries: list[str] = []
        for ref in [*refs, *filter_refs, *(r for r, _ in order)]:
            if ref.entry is not None and ref.entry not in entries:
                entries.append(ref.entry)
        rows: list[Row] = []
        for bill in bills:
            rows.extend(_expand(bill, entries))
        if predicate is not None:
            rows = [r for r in rows if predicate(r)]
        for ref, desc in reversed(order):
            rows.sort(key=lambda r, ref=ref: _sort_key(r.value(ref)), reverse=desc)  # type: ignore[misc]
        if query.top_row_count:
            rows = rows[: query.top_row_count]
        limit = min(query.limit or DEFAULT_LIMIT, MAX_LIMIT)
        rows = rows[query.start_row : query.start_row + limit]
        return query.field_keys, [[r.value(ref) for ref in refs] for r in rows]


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Catalog",
    "QueryError",
    "QuerySpec",
    "compare",
    "filter_from_json",
    "parse_query",
    "run_query",
    "tokenize",
]
