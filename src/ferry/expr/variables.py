"""The rendering context, system variables, time parsing and the ``|pipe`` filters.

Owns: :class:`Context` (variables, time zone, clock, lookup, compat switch); the system
variables ``LAST_SYNC_TIME``, ``CURRENT_TIME``, ``DAYS_AGO_n`` and ``PAGINATION_START_PAGE``;
reading a value as a point in time (:func:`to_datetime`); the pipes ``datetime``, ``date``,
``timestamp`` and ``timestamp_ms``; and the text form of a value (:func:`to_text`).

Time rule: every time value is Unix **seconds** unless a number is too large to be seconds
(>= 1e11, i.e. after the year 5138), in which case it is read as milliseconds (DingTalk and
many Chinese APIs send ms). Date strings without an offset are wall-clock times in the
context's zone (Asia/Shanghai by default); output strings are in that zone too.

Bounds: a text is read as a time only when it is at most 64 characters once stripped (longer
text is not a date, and no regular expression ever sees it), and the regular expressions have
no two adjacent parts that can match the same characters, so none can backtrack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ferry.expr.errors import ExprError, shown
from ferry.expr.limits import DEFAULT_LIMITS, Limits, budget
from ferry.expr.paths import MISSING, Scope

if TYPE_CHECKING:
    from ferry.expr.lookup import Lookup

DEFAULT_TZ = "Asia/Shanghai"

#: Names that ``{{NAME}}`` treats as system variables rather than record fields.
SYSTEM_VARIABLE = re.compile(r"^(?:LAST_SYNC_TIME|CURRENT_TIME|PAGINATION_START_PAGE|DAYS_AGO_(\d{1,5}))$")

# Numbers at or above this are milliseconds, below it seconds (1e11 s is the year 5138).
_MS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a rendering needs besides the record.

    ``variables`` holds scheme/run variables (``LAST_SYNC_TIME`` in seconds,
    ``PAGINATION_START_PAGE``, anything a ``{NAME}`` refers to); a value given here for
    ``CURRENT_TIME`` or ``DAYS_AGO_n`` overrides the computed one. ``now`` fixes the clock (an
    aware or naive datetime, or a zero-argument callable) for tests and replays. ``compat``
    selects Qingyi's behaviour: a failing ``_function`` returns its raw text instead of raising,
    and a missing ``is_required`` field is not an error (a breached limit is still an error).
    ``limits`` bounds the work of every rendering done with this context (see :class:`Limits`).
    """

    variables: Mapping[str, Any] = field(default_factory=dict)
    tz: tzinfo | str = DEFAULT_TZ
    now: datetime | Callable[[], datetime] | None = None
    lookup: Lookup | None = None
    compat: bool = False
    limits: Limits = DEFAULT_LIMITS
    #: the time zone as a ``tzinfo`` (an attribute, not a property: it is read per value)
    zone: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.tz, str):
            object.__setattr__(self, "tz", zone(self.tz))
        elif not isinstance(self.tz, tzinfo):
            raise ExprError(f"Context.tz must be a time zone name or a tzinfo, got {shown(self.tz)}")
        object.__setattr__(self, "zone", self.tz)
        if not isinstance(self.variables, Mapping):
            raise ExprError(f"Context.variables must be a mapping, got {type(self.variables).__name__}")
        if not isinstance(self.limits, Limits):
            raise ExprError(f"Context.limits must be a ferry.expr.Limits, got {type(self.limits).__name__}")

    def current_time(self) -> datetime:
        """The current time, aware, in the context's zone."""
        now = self.now
        if now is None:
            return datetime.now(self.zone)
        moment = now() if callable(now) else now
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.zone)
        return moment.astimezone(self.zone)

    def variable(self, name: str) -> Any:
        """The value of a system or context variable, or ``MISSING``."""
        value = self.variables.get(name, MISSING)
        if value is not MISSING:
            return _as_number_if_numeric(value)
        if name == "CURRENT_TIME":
            return int(self.current_time().timestamp())
        match = SYSTEM_VARIABLE.match(name)
        if match and match.group(1) is not None:
            return int((self.current_time() - timedelta(days=int(match.group(1)))).timestamp())
        return MISSING


def zone(name: str) -> ZoneInfo:
    """A ``ZoneInfo`` by IANA name, with an ``ExprError`` naming the zone when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise ExprError(
            f"unknown time zone {shown(name)} (use an IANA name such as 'Asia/Shanghai')"
        ) from exc


def _as_number_if_numeric(value: Any) -> Any:
    # Variables often arrive as text (CLI, stored watermarks); "1704067200" should act as a number.
    # Only plain ASCII digits of a sensible length: int() of '²' or of 5,000 digits would raise.
    if isinstance(value, str) and len(value) <= 40:
        digits = value.strip().removeprefix("-")
        if digits.isascii() and digits.isdigit():
            return int(value)
    return value


# ----------------------------------------------------------------------------- time reading

# Matched against stripped text of at most _MAX_DATE_TEXT characters, without leading or
# trailing \s*: the old pattern's adjacent optional whitespace backtracked cubically.
_MAX_DATE_TEXT = 64
_DATE_RE = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})(?::|时)(\d{1,2})(?:(?::|分)(\d{1,2})(?:\.(\d{1,9}))?秒?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_COMPACT_RE = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2}))?")
_NUMBER_RE = re.compile(r"[+-]?\d+(?:\.\d+)?")


def to_datetime(value: Any, tz: tzinfo) -> datetime | None:
    """Read ``value`` as a point in time (aware, in ``tz``); ``None`` if it is not one.

    Accepts datetimes, dates, Unix seconds or milliseconds (numbers or numeric strings),
    ``YYYY-MM-DD[ HH:MM[:SS[.f]]][offset]`` with ``-``, ``/``, ``.`` or 年月日 separators,
    ISO 8601 with ``T``/``Z``, and compact ``YYYYMMDD`` / ``YYYYMMDDHHMMSS``. Never raises: a
    value out of the datetime range is not a point in time either.
    """
    try:
        return _to_datetime(value, tz)
    except (ValueError, OverflowError, ArithmeticError):
        return None


def _to_datetime(value: Any, tz: tzinfo) -> datetime | None:
    if value is None or value is MISSING or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    if isinstance(value, int | float | Decimal):
        return _from_epoch(value, tz)
    if not isinstance(value, str):
        return None
    if len(value) > _MAX_DATE_TEXT:
        value = value.strip()
        if len(value) > _MAX_DATE_TEXT:
            return None
    else:
        value = value.strip()
    if len(value) >= 10 and value[4] == "-" and value[:4].isdigit():
        # Fast path for ISO-shaped text (the usual API format), done in C.
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)
    compact = _COMPACT_RE.fullmatch(value)
    if compact:
        y, mo, d, h, mi, s = (int(p) if p is not None else 0 for p in compact.groups())
        return datetime(y, mo, d, h, mi, s, tzinfo=tz)
    if _NUMBER_RE.fullmatch(value):
        return _from_epoch(Decimal(value), tz)
    match = _DATE_RE.fullmatch(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro
    )
    if offset is None:
        return moment.replace(tzinfo=tz)
    if offset == "Z":
        return moment.replace(tzinfo=UTC).astimezone(tz)
    sign = 1 if offset[0] == "+" else -1
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.replace(tzinfo=timezone(sign * delta)).astimezone(tz)


def _from_epoch(number: float | Decimal, tz: tzinfo) -> datetime | None:
    seconds = float(number)  # OverflowError for a huge int: to_datetime turns it into None
    if abs(seconds) >= _MS_THRESHOLD:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz)
    except (OverflowError, OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- pipes

Pipe = Callable[[Any, tzinfo], Any]


def _pipe_datetime(m: datetime) -> Any:
    # isoformat is C and pads the year to four digits, like f"{m.year:04d}"; the offset is cut off.
    return m.isoformat(" ")[:19]


def _pipe_date(m: datetime) -> Any:
    return m.isoformat()[:10]


def _pipe_timestamp(moment: datetime) -> Any:
    return int(moment.timestamp())


def _pipe_timestamp_ms(moment: datetime) -> Any:
    return round(moment.timestamp() * 1000)


_PIPES: dict[str, Callable[[datetime], Any]] = {
    "datetime": _pipe_datetime,
    "date": _pipe_date,
    "timestamp": _pipe_timestamp,
    "timestamp_ms": _pipe_timestamp_ms,
}

PIPE_NAMES = tuple(_PIPES)


# Results per pipe, keyed by (value, zone): the same watermark, day or timestamp recurs across
# the records of a run. Emptied when full rather than kept in LRU order, which costs a hit a
# dictionary lookup and a miss one insertion.
_PIPE_CACHE_SIZE = 4096


def _pipe_moment(name: str, value: Any, tz: tzinfo) -> Any:
    moment = to_datetime(value, tz)
    if moment is None:
        raise ExprError(f"|{name}: cannot read {shown(value)} as a date/time or Unix timestamp")
    return _PIPES[name](moment)


def compile_pipe(name: str) -> Callable[[Any, tzinfo], Any]:
    """The function for ``|name``; raises ``KeyError`` for an unknown pipe."""
    if name not in _PIPES:
        raise KeyError(name)
    what = f"the list given to |{name}"
    cache = _PIPE_CACHES.setdefault(name, {})
    form = _PIPES[name]

    def apply(value: Any, tz: tzinfo) -> Any:
        kind = type(value)
        # Only short texts and plain numbers are cached: a key must be cheap to hash and keep.
        if (
            (kind is str and 0 < len(value) <= _MAX_DATE_TEXT)
            or kind is int
            or (kind is float and value - value == 0.0)
        ):
            key = (value, tz)
            done = cache.get(key, MISSING)
            if done is not MISSING:
                return done
            moment = to_datetime(value, tz)
            if moment is None:
                raise ExprError(f"|{name}: cannot read {shown(value)} as a date/time or Unix timestamp")
            done = form(moment)
            if len(cache) >= _PIPE_CACHE_SIZE:
                cache.clear()
            cache[key] = done
            return done
        if value is None or value is MISSING or value == "":
            return value
        if kind is list:
            budget().items(len(value), what)
            return [apply(item, tz) for item in value]
        return _pipe_moment(name, value, tz)

    return apply


_PIPE_CACHES: dict[str, dict[tuple[Any, tzinfo], Any]] = {}


def variable_resolver(name: str) -> Callable[[Scope], Any]:
    """A resolver for a system/context variable (``MISSING`` when unset)."""

    def get(scope: Scope) -> Any:
        return scope.ctx.variable(name)

    return get


# ----------------------------------------------------------------------------- text form


def to_text(value: Any) -> str:
    """How a value appears inside text: missing/None as '', numbers without a spurious '.0'.

    Objects and lists become compact JSON; that text counts against ``Limits.max_result_chars``
    (checked once written: the value it is made of is already in memory).
    """
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, Mapping | list | tuple):
        return json_text(value)
    return str(value)


def json_text(value: Any) -> str:
    """Compact JSON for an object or list from a record, or an ``ExprError`` saying why not."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    except RecursionError:
        raise  # a limit (depth), reported by the entry point
    except (TypeError, ValueError, ArithmeticError):
        raise ExprError(f"cannot write {shown(value)} as JSON text") from None
    budget().result(len(text), "the JSON text of an object or list")
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and value.as_tuple().exponent == 0
            else float(value)
        )
    if isinstance(value, datetime | date):
        return to_text(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
