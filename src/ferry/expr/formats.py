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

import decimal
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from ferry.expr.errors import ExprError, LimitExceeded, shown, translate
from ferry.expr.limits import SHORT_TEXT, bounded, budget, total
from ferry.expr.mysql import check_digits
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
_NUMBER_PREFIX = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_MAX_PLACES = 30
_DEFAULT_CONTEXT = Context()


def _date(name: str, pattern: str) -> Formatter:
    def fmt(value: Any, ctx: Context) -> Any:
        moment = to_datetime(value, ctx.zone)
        if moment is None:
            raise ExprError(f"format {name}: cannot read {shown(value)} as a date/time")
        return moment.strftime(pattern)

    return fmt


def _describe(value: Any, ctx: Context) -> Any:
    moment = to_datetime(value, ctx.zone)
    if moment is None:
        raise ExprError(f"format dateDescription: cannot read {shown(value)} as a date/time")
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


# Room for max_digits before the point plus the places rounded to, whatever the default context.
def _context() -> decimal.Context:
    return decimal.Context(prec=budget().limits.max_digits + _MAX_PLACES + 2, rounding=ROUND_HALF_UP)


def _decimal(value: Any, name: str) -> Decimal:
    """The exact, finite number in ``value``, checked against ``Limits.max_digits`` first."""
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExprError(f"format {name}: {shown(value)} is not a finite number")
        return _bounded(Decimal(repr(value)), value, name)
    if isinstance(value, int):
        # Certainly too long, judged from the bits: str() or Decimal() of a huge int is slow.
        if value.bit_length() > 4 * budget().limits.max_digits:
            budget().digits(int(value.bit_length() * 0.30103) + 1, f"format {name}: the number")
        return _bounded(Decimal(value), value, name)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ExprError(f"format {name}: {shown(value)} is not a finite number")
        return _bounded(value, value, name)
    text = to_text(value)
    if len(text) > SHORT_TEXT:
        budget().text(text, f"format {name}: the value")
    match = _NUMBER_PREFIX.match(text.strip().replace(",", ""))
    if not match:
        raise ExprError(f"format {name}: {shown(value)} is not a number")
    check_digits(match.group(0), value)
    return Decimal(match.group(0))


def _bounded(number: Decimal, value: Any, name: str) -> Decimal:
    # Digits before the point; a tiny magnitude (1e-300) is harmless and rounds to zero.
    before_point = number.adjusted() + 1
    checks = budget()
    if before_point > checks.limits.max_digits:
        checks.digits(before_point, f"format {name}: {shown(value)}")
    return number


def _long_text(limit: int) -> Formatter:
    def fmt(value: Any, ctx: Context) -> Any:
        text = to_text(value)
        return text if len(text) <= limit else text[:limit] + "..."

    return fmt


def _intval(value: Any, ctx: Context) -> Any:
    try:
        number = _decimal(value, "intval")
    except LimitExceeded:
        raise  # too many digits is reported, never read as 0
    except ExprError:
        return 0  # PHP intval: text that is not a number is 0
    return int(number.to_integral_value(ROUND_DOWN))


def _round(places: int) -> Formatter:
    quantum = Decimal(1).scaleb(-places)

    def fmt(value: Any, ctx: Context) -> Any:
        rounded = _decimal(value, "round").quantize(quantum, rounding=ROUND_HALF_UP, context=_context())
        return int(rounded) if places <= 0 else float(rounded)

    return fmt


def _amount(value: Any, ctx: Context) -> Any:
    rounded = _decimal(value, "amount").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP, context=_context())
    return f"{rounded:,.2f}"


def _implode(separator: str) -> Formatter:
    def fmt(value: Any, ctx: Context) -> Any:
        if isinstance(value, list | tuple):
            checks = budget()
            checks.items(len(value), "format implode: the list")
            parts = [to_text(item) for item in value]
            checks.result(sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0), "format implode")
            return separator.join(parts)
        return to_text(value)

    return fmt


def _int_arg(name: str, arg: str | None, default: int) -> int:
    if arg is None or not arg.strip():
        return default
    digits = arg.strip()
    if len(digits) > 18 or not digits.removeprefix("-").isascii() or not digits.removeprefix("-").isdigit():
        raise ExprError(f"format {name}({arg[:40]}): the argument must be a whole number")
    return int(digits)


def compile_format(spec: str) -> Formatter:
    """A formatter from a format spec such as ``date``, ``round(2)`` or ``implode('|')``.

    The formatter is an entry point of its own: applied to any value it raises only ``ExprError``.
    """
    inner = total(_compile_format, spec)

    def fmt(value: Any, ctx: Context) -> Any:
        return bounded(ctx.limits, inner, value, ctx)

    return fmt


def _compile_format(spec: str) -> Formatter:
    if spec is not None and not isinstance(spec, str):
        raise ExprError(f"a format is a text such as 'date' or 'round(2)', got {type(spec).__name__}")
    match = _SPEC.match(spec or "")
    if not match:
        raise ExprError(f"malformed format {shown(spec)}")
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
        places = _int_arg(name, arg, 2)
        if not -_MAX_PLACES <= places <= _MAX_PLACES:
            raise ExprError(
                f"format round({arg}): the places must be between -{_MAX_PLACES} and {_MAX_PLACES}"
            )
        inner = _round(places)
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
    """Compile a ``formatResponse`` list once; the result maps a record to a copy with the new fields.

    In compat mode a value that cannot be formatted is kept as it is; a breached limit is raised.
    """
    compiled = total(_compile_rules, rules)

    def apply(record: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        return bounded(ctx.limits, _apply_rules, compiled, record, ctx)

    return apply


def _compile_rules(rules: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, Formatter]]:
    if not isinstance(rules, Sequence) or isinstance(rules, str):
        raise ExprError(f"formatResponse is a list of rules, got {type(rules).__name__}")
    compiled = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise ExprError(f"formatResponse[{index}] must be an object with 'old', 'new' and 'format'")
        old, new, spec = rule.get("old"), rule.get("new"), rule.get("format")
        if not isinstance(old, str) or not isinstance(new, str) or not isinstance(spec, str):
            raise ExprError(f"formatResponse[{index}] needs string 'old', 'new' and 'format'")
        try:
            compiled.append((old, new, _compile_format(spec)))
        except ExprError as exc:
            raise exc.with_field(f"formatResponse[{index}]") from None
    return compiled


def _apply_rules(
    compiled: list[tuple[str, str, Formatter]], record: Mapping[str, Any], ctx: Context
) -> dict[str, Any]:
    if not isinstance(record, Mapping):
        raise ExprError(f"formatResponse applies to a record (an object), got {type(record).__name__}")
    out = dict(record)
    for old, new, fmt in compiled:
        value = resolve(record, old)
        if value is None or value is MISSING:
            out[new] = None
            continue
        try:
            out[new] = fmt(value, ctx)
        except LimitExceeded as exc:
            raise exc.with_field(old) from None
        except ExprError as exc:
            if ctx.compat:
                out[new] = value
                continue
            raise exc.with_field(old) from None
        except Exception as exc:  # translated here so that compat keeps the value, as for any failure
            if ctx.compat and not isinstance(exc, RecursionError | MemoryError):
                out[new] = value
                continue
            raise translate(exc).with_field(old) from None
    return out


def format_response(
    record: Mapping[str, Any], rules: Sequence[Mapping[str, Any]], ctx: Context | None = None
) -> dict[str, Any]:
    """Apply ``formatResponse`` rules to one record; returns a new dict with the derived fields."""
    return compile_format_response(rules)(record, ctx or _DEFAULT_CONTEXT)
