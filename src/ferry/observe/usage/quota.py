"""Quotas per connection type: DingTalk's monthly allowance with a forecast, Kingdee's sessions, REST limits.

DingTalk: metered calls this month (the org's month, Beijing time) against the allowance; the rate of the
last ``RATE_WINDOW`` forecasts the month's end ("at this rate the quota runs out on the 23rd"), and when
it would run out, the schedule change that keeps it inside: a longer poll interval if polling alone can
save enough (list calls fall with the interval; detail calls follow the approvals, not the schedule),
else events on and polling as a rare safety net.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ferry.store import HourUsage

#: the recent rate is measured over this long (or since the first call, when that is later)
RATE_WINDOW = dt.timedelta(days=7)
#: the shortest history the rate is taken over
MIN_SPAN = dt.timedelta(days=1)
QUOTA_TZ = "Asia/Shanghai"
HOUR = dt.timedelta(hours=1)


def is_poll_api(api: str) -> bool:
    """DingTalk's list calls: the ones a poll makes whether or not anything changed."""
    return "listids" in api.lower() or "instanceids" in api.lower()


def month_bounds(now: dt.datetime, tz: str = QUOTA_TZ) -> tuple[dt.datetime, dt.datetime]:
    """The start of ``now``'s month in ``tz`` and the start of the next, as aware UTC."""
    local = now.astimezone(ZoneInfo(tz))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclass
class DingTalkQuota:
    connection: str
    month: str
    allowance: int
    used: int
    #: metered calls per hour over the recent window
    rate_per_hour: float
    forecast: int
    #: when the allowance is used up at this rate (None: it lasts the month)
    runs_out_at: dt.datetime | None
    advice: list[Advice]
    #: (day start, metered calls used by the end of that day) for each day of the month so far
    burn: list[tuple[dt.datetime, int]] = field(default_factory=list)
    month_start: dt.datetime | None = None
    month_end: dt.datetime | None = None
    now: dt.datetime | None = None

    @property
    def left(self) -> int:
        return max(self.allowance - self.used, 0)

    def as_dict(self, tz: str = QUOTA_TZ) -> dict[str, Any]:
        zone = ZoneInfo(tz)
        return {
            "type": "dingtalk",
            "connection": self.connection,
            "month": self.month,
            "allowance": self.allowance,
            "used": self.used,
            "left": self.left,
            "rate_per_day": round(self.rate_per_hour * 24, 1),
            "forecast": self.forecast,
            "runs_out_on": self.runs_out_at.astimezone(zone).date().isoformat() if self.runs_out_at else None,
            "advice": [a.text for a in self.advice],
            "advice_items": [{"template": a.template, "values": a.values} for a in self.advice],
            "burn": [[d.astimezone(zone).date().isoformat(), n] for d, n in self.burn],
            "forecast_line": [
                [self.now.astimezone(zone).isoformat(timespec="minutes"), self.used],
                [self.month_end.astimezone(zone).isoformat(timespec="minutes"), self.forecast],
            ]
            if self.now and self.month_end
            else [],
        }


def ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def dingtalk_quota(
    connection: str,
    hours: Iterable[HourUsage],
    *,
    allowance: int,
    now: dt.datetime,
    poll_interval_s: float | None = None,
    events_on: bool = False,
    tz: str = QUOTA_TZ,
) -> DingTalkQuota:
    """The month's quota of ``connection`` from its hourly usage (which must reach back over the month
    and the rate window)."""
    start, end = month_bounds(now, tz)
    zone = ZoneInfo(tz)
    window_start = now - RATE_WINDOW
    used = 0
    recent = recent_poll = 0
    first: dt.datetime | None = None
    per_day: dict[dt.date, int] = {}
    for u in hours:
        if u.connection != connection or not u.metered or u.hour >= now:
            continue
        first = u.hour if first is None else min(first, u.hour)
        if start <= u.hour < end:
            used += u.metered
            day = u.hour.astimezone(zone).date()
            per_day[day] = per_day.get(day, 0) + u.metered
        if u.hour >= floor_hour(window_start):
            recent += u.metered
            if is_poll_api(u.api):
                recent_poll += u.metered
    since = max(window_start, first) if first is not None else now
    # a schedule repeats daily: less than a day of history (a first backfill) is spread over a day, or
    # its burst would read as the steady rate
    span_h = max((now - since) / HOUR, MIN_SPAN / HOUR)
    rate = recent / span_h
    poll_rate = recent_poll / span_h
    hours_left = max((end - now) / HOUR, 0.0)
    forecast = used + round(rate * hours_left)
    runs_out: dt.datetime | None = None
    if used >= allowance:
        runs_out = now
    elif forecast > allowance and rate > 0:
        runs_out = now + (allowance - used) / rate * HOUR
    advice = _advice(allowance, used, rate, poll_rate, hours_left, runs_out, poll_interval_s, events_on, zone)
    burn: list[tuple[dt.datetime, int]] = []
    total = 0
    day = start.astimezone(zone).date()
    today = now.astimezone(zone).date()
    while day <= today:
        total += per_day.get(day, 0)
        burn.append((dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC), total))
        day += dt.timedelta(days=1)
    return DingTalkQuota(
        connection=connection,
        month=start.astimezone(zone).strftime("%Y-%m"),
        allowance=allowance,
        used=used,
        rate_per_hour=rate,
        forecast=forecast,
        runs_out_at=runs_out,
        advice=advice,
        burn=burn,
        month_start=start,
        month_end=end,
        now=now,
    )


#: advice as templates, so the console can show it in its own language (``t(text, **values)``)
ON_TRACK = "on track: {forecast} of {allowance} metered calls by month end"
RUNS_OUT = (
    "at this rate the quota runs out on the {day_th} ({when}); {used} of {allowance} used, "
    "{per_day} metered calls a day"
)
POLL_LESS = (
    "poll every {minutes} min instead of {current} to stay inside ({keep} metered calls a day at most)"
)
EVENTS_ON = "turn DingTalk events on (HTTP push or Stream) and poll once an hour as a safety net"
ASK_MORE = "ask DingTalk for a larger allowance: polling less cannot save enough"


@dataclass(frozen=True)
class Advice:
    template: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template.format(**self.values)


def _advice(
    allowance: int,
    used: int,
    rate: float,
    poll_rate: float,
    hours_left: float,
    runs_out: dt.datetime | None,
    poll_interval_s: float | None,
    events_on: bool,
    zone: ZoneInfo,
) -> list[Advice]:
    if runs_out is None:
        if rate > 0:
            forecast = used + round(rate * hours_left)
            return [Advice(ON_TRACK, {"forecast": f"{forecast:,}", "allowance": f"{allowance:,}"})]
        return []
    local = runs_out.astimezone(zone)
    out = [
        Advice(
            RUNS_OUT,
            {
                "day_th": ordinal(local.day),
                "day": local.day,
                "when": f"{local:%Y-%m-%d %H:%M}",
                "used": f"{used:,}",
                "allowance": f"{allowance:,}",
                "per_day": f"{rate * 24:,.0f}",
            },
        )
    ]
    keep_rate = max(allowance - used, 0) / hours_left if hours_left else 0.0
    cut = rate - keep_rate  # metered calls per hour to save
    if poll_interval_s and poll_rate > cut > 0:
        # list calls scale with 1/interval: poll_rate * old / new <= poll_rate - cut
        new_s = poll_interval_s * poll_rate / (poll_rate - cut)
        values = {
            "minutes": math.ceil(new_s / 60),
            "current": _span(poll_interval_s),
            "keep": f"{keep_rate * 24:,.0f}",
        }
        out.append(Advice(POLL_LESS, values))
    if not events_on:
        out.append(Advice(EVENTS_ON))
    elif not (poll_interval_s and poll_rate > cut > 0):
        out.append(Advice(ASK_MORE))
    return out


def _span(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


#: Kingdee's login operations (the client logs in once per session)
KINGDEE_LOGINS = frozenset(
    {"LoginByAppSecret", "LoginBySign", "ValidateUser", "ValidateUser2", "LoginBySimplePassport", "login"}
)


@dataclass
class KingdeeSessions:
    connection: str
    logins_per_day: dict[str, int]
    #: answers that said the session was gone (MsgCode 1): the client logged in again
    sessions_lost: int
    #: answers that made the client halve its calls in flight (MsgCode 13/14, HTTP 429, HTTP 5xx)
    concurrency_step_downs: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "kingdee",
            "connection": self.connection,
            "logins_per_day": self.logins_per_day,
            "sessions_lost": self.sessions_lost,
            "concurrency_step_downs": self.concurrency_step_downs,
        }


def kingdee_sessions(connection: str, hours: Iterable[HourUsage], *, tz: str = QUOTA_TZ) -> KingdeeSessions:
    zone = ZoneInfo(tz)
    logins: dict[str, int] = {}
    lost = steps = 0
    for u in hours:
        if u.connection != connection:
            continue
        if u.api in KINGDEE_LOGINS:
            day = u.hour.astimezone(zone).date().isoformat()
            logins[day] = logins.get(day, 0) + u.calls
        lost += u.by_status.get("reauthenticate", 0)
        steps += u.throttles + sum(n for code, n in u.errors_by_code.items() if code.startswith("HTTP 5"))
    return KingdeeSessions(connection, dict(sorted(logins.items())), lost, steps)


_PERIODS = {"per_second": 1.0, "per_minute": 60.0, "per_day": 86400.0}


@dataclass
class RestLimitUse:
    connection: str
    declared: dict[str, float]
    #: the busiest observed use of each declared limit (per second and per minute from the busiest hour's
    #: average: the hourly roll-up keeps no finer grain)
    peak: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"type": "http", "connection": self.connection, "declared": self.declared, "peak": self.peak}


def rest_limits(
    connection: str, hours: Iterable[HourUsage], declared: Mapping[str, float | None]
) -> RestLimitUse:
    per_hour: dict[dt.datetime, int] = {}
    per_day: dict[dt.date, int] = {}
    per_month: dict[str, int] = {}
    for u in hours:
        if u.connection != connection:
            continue
        per_hour[u.hour] = per_hour.get(u.hour, 0) + u.calls
        per_day[u.hour.date()] = per_day.get(u.hour.date(), 0) + u.calls
        month = u.hour.strftime("%Y-%m")
        per_month[month] = per_month.get(month, 0) + u.calls
    busiest = max(per_hour.values(), default=0)
    peak: dict[str, float] = {}
    limits = {k: float(v) for k, v in declared.items() if v is not None}
    for key in limits:
        if key in _PERIODS and key != "per_day":
            peak[key] = round(busiest / 3600 * _PERIODS[key], 3)
        elif key == "per_day":
            peak[key] = float(max(per_day.values(), default=0))
        elif key == "per_month":
            peak[key] = float(max(per_month.values(), default=0))
    return RestLimitUse(connection, limits, peak)
