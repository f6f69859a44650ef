"""``formatResponse``: derived fields computed from response fields (值格式化).

Owns :func:`compile_format`, :func:`apply_format` and :func:`format_response`. A rule
``{"old": "create_time", "new": "create_date", "format": "date"}`` adds ``new`` to the record
(``old`` may be a dotted path). Outputs, chosen and documented in docs/expressions.md:

================  =====================================  ==================================
format            output                                 example
================  =====================================  ==================================
date              ``%Y-%m-%d``                           ``2024-03-15``
time              ``%H:%M:%S``                           ``14:30:05``
dateTime          ``%Y-%m-%d %H:%M:%S``                  ``2024-03-15 14:30:05``
shortDate         ``%m-%d``                              ``03-15``
shortTime         ``%H:%M``                              ``14:30``
shortDateTime     ``%m-%d %H:%M``                        ``03-15 14:30``
dateDescription   relative Chinese text vs. now          ``3天前``, ``刚刚``, ``2小时后``
longText(n)       first n characters + ``...`` (n=15)    ``这是一个很长...``
intval            integer, truncated toward zero         ``"10.8"`` -> ``10``
round(n)          number rounded half-up to n places     ``19.9956`` -> ``20.0`` (n=2)
amount            thousands separators, 2 decimals       ``1000000`` -> ``"1,000,000.00"``
implode(sep)      list joined with sep (default ``,``)   ``["a","b"]`` -> ``"a,b"``
================  =====================================  ==================================

``None``/missing input gives ``None``. Date inputs are read by
:func:`ferry.expr.variables.to_datetime` (strings, seconds or milliseconds) in the context zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ferry.expr.errors import ExprError
from ferry.expr.paths import MISSING, resolve
from ferry.expr.variables import Context, to_datetime, to_text

Formatter = Callable[[Any, Context], Any]

_SPEC = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$", re.S)
_DATE_FORMATS = {
    "date": "%Y-%m-%d",
    "time": "%H:%M:%S",
    "dateTime": "%Y-%m-%d %H:%M:%S",
    "shortDate": "%m-%d",
    "shortTime": "%H:%M",
    "shortDateTime": "%m-%d %H:%M",
}
FORMAT_NAMES = (*_DATE_FORMATS, "dateDescription", "longText", "intval", "round", "amount", "implode")
_DEFAULT_CONTEXT = Context()


def _date(name: str, pattern: str) -> Formatter:
    def fmt(value: Any, ctx: Context) -> Any:
        moment = to_datetime(value, ctx.zone)
        if moment is None:
            raise ExprError(f"format {name}: cannot read {value!r} as a date/time")
        return moment.strftime(pattern)

    return fmt


def _describe(value: Any, ctx: Context) -> Any:
    moment = to_datetime(value, ctx.zone)
    if moment is None:
        raise ExprError(f"format dateDescription: cannot read {value!r} as a date/time")
    seconds = (ctx.current_time() - moment).total_seconds()
    suffix = "前" if seconds >= 0 else "后"
    seconds = abs(seconds)
    if seconds < 60:
        return "刚刚"
    for size, unit in (
        (31_536_000, "年"),
        (2_592_000, "个月"),
        (604_800, "周"),
        (86_400, "天"),
        (3_600, "小时"),
    ):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}{suffix}"
    return f"{int(seconds // 60)}分钟{suffix}"


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    text = to_text(value).strip().replace(",", "")
    match = re.match(r"^[+-]?(\d+(\.\d*)?|\.\d+)", text)
    if not match:
        raise ExprError(f"format {name}: {value!r} is not a number")
    try:
        return Decimal(match.group(0))
    except InvalidOperation:  # pragma: no cover - the regex only admits valid numbers
        raise ExprError(f"format {name}: {value!r} is not a number") from None


def _long_text(limit: int) -> Formatter:
    def fmt(value: Any, ctx: Context) -> Any:
        text = to_text(value)
        return text if len(text) <= limit else text[:limit] + "..."

    return fmt


def _intval(value: Any, ctx: Context) -> Any:
    try:
        return int(_decimal(value, "intval").to_integral_value(ROUND_DOWN))
    except ExprError:
        return 0  # PHP intval: text that is not a number is 0


def _round(places: int) -> Formatter:
    quantum = Decimal(1).scaleb(-places)

    def fmt(value: Any, ctx: Context) -> Any:
        rounded = _decimal(value, "round").quantize(quantum, rounding=ROUND_HALF_UP)
        return int(rounded) if places <= 0 else float(rounded)

    return fmt


def _amount(value: Any, ctx: Context) -> Any:
    rounded = _decimal(value, "amount").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{rounded:,.2f}"


def _implode(separator: str) -> Formatter:
    def fmt(value: Any, ctx: Context) -> Any:
        if isinstance(value, list | tuple):
            return separator.join(to_text(item) for item in value)
        return to_text(value)

    return fmt


def _int_arg(name: str, arg: str | None, default: int) -> int:
    if arg is None or not arg.strip():
        return default
    try:
        return int(arg.strip())
    except ValueError:
        raise ExprError(f"format {name}({arg}): the argument must be a whole number") from None


def compile_format(spec: str) -> Formatter:
    """A formatter from a format spec such as ``date``, ``round(2)`` or ``implode('|')``."""
    match = _SPEC.match(spec or "")
    if not match:
        raise ExprError(f"malformed format {spec!r}")
    name, arg = match.group(1), match.group(2)
    if name in _DATE_FORMATS:
        inner = _date(name, _DATE_FORMATS[name])
    elif name == "dateDescription":
        inner = _describe
    elif name == "longText":
        inner = _long_text(_int_arg(name, arg, 15))
    elif name == "intval":
        inner = _intval
    elif name == "round":
        inner = _round(_int_arg(name, arg, 2))
    elif name == "amount":
        inner = _amount
    elif name == "implode":
        separator = "," if arg is None else arg.strip()
        if len(separator) >= 2 and separator[0] == separator[-1] and separator[0] in "'\"":
            separator = separator[1:-1]
        inner = _implode(separator or ",")
    else:
        raise ExprError(f"unknown format {name!r} (known: {', '.join(FORMAT_NAMES)})")

    def fmt(value: Any, ctx: Context) -> Any:
        if value is None or value is MISSING:
            return None
        return inner(value, ctx)

    return fmt


def apply_format(value: Any, spec: str, ctx: Context | None = None) -> Any:
    """Format one value (compiles the spec each call)."""
    return compile_format(spec)(value, ctx or _DEFAULT_CONTEXT)


def compile_format_response(
    rules: Sequence[Mapping[str, Any]],
) -> Callable[[Mapping[str, Any], Context], dict[str, Any]]:
    """Compile a ``formatResponse`` list once; the result maps a record to a copy with the new fields."""
    compiled = []
    for index, rule in enumerate(rules):
        old, new, spec = rule.get("old"), rule.get("new"), rule.get("format")
        if not isinstance(old, str) or not isinstance(new, str) or not isinstance(spec, str):
            raise ExprError(f"formatResponse[{index}] needs string 'old', 'new' and 'format'")
        try:
            compiled.append((old, new, compile_format(spec)))
        except ExprError as exc:
            raise exc.with_field(f"formatResponse[{index}]") from None

    def apply(record: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        out = dict(record)
        for old, new, fmt in compiled:
            value = resolve(record, old)
            try:
                out[new] = fmt(value, ctx)
            except ExprError as exc:
                if ctx.compat:
                    out[new] = None if value is MISSING else value
                    continue
                raise exc.with_field(old) from None
        return out

    return apply


def format_response(
    record: Mapping[str, Any], rules: Sequence[Mapping[str, Any]], ctx: Context | None = None
) -> dict[str, Any]:
    """Apply ``formatResponse`` rules to one record; returns a new dict with the derived fields."""
    return compile_format_response(rules)(record, ctx or _DEFAULT_CONTEXT)
