"""The sandbox's settings and its clock.

Every default here is documented in this package's README; the CLI exposes most of them as options.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

#: DingTalk reports wall-clock times in Beijing time; China has no daylight saving, so a fixed offset is exact.
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

DEFAULT_APP_KEY = "dingferrysandbox01"
DEFAULT_APP_SECRET = "ferry-sandbox-app-secret-0000000000000000000000000000000000"
DEFAULT_CORP_ID = "dingferrysandboxcorp"
DEFAULT_PROCESS_CODE = "PROC-FERRY7PAYREQ01"
DEFAULT_ROBOT_TOKEN = "ferry-sandbox-robot"
DEFAULT_ROBOT_SECRET = "SECferrysandboxrobotsecret0000000000000000000000000000000000000"

#: fault names the sandbox understands, see README
FAULT_NAMES = (
    "throttle",  # per app x API QPS answer: 88+90018 (oapi) / 403 QpsLimitForAppkeyAndApi (v1)
    "throttle_bare",  # the older top-level 90018 (oapi) / same 403 as throttle (v1)
    "throttle_global",  # per API, all tenants: 88+90002 (oapi) / 403 QpsLimitForApi (v1)
    "busy",  # -1 系统繁忙 (oapi, HTTP 200) / 500 systemError (v1)
    "gateway_error",  # HTTP 502 with an HTML body, on either host
    "drop",  # close the connection without an answer
    "token_expire",  # the presented token has just expired
)

#: how the legacy host answers an expired or unknown token (the real answer is unconfirmed, see README)
LEGACY_TOKEN_ERRORS = ("88", "40014", "42001")


class Clock:
    """Wall-clock time with an adjustable offset, so tests can jump ahead (token expiry, robot block)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> float:
        """Seconds since the epoch, shifted by the offset."""
        return time.time() + self.offset_s

    def now_ms(self) -> int:
        """Milliseconds since the epoch, shifted by the offset."""
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        """Move the sandbox's time forward (or back, with a negative value)."""
        self.offset_s += seconds


def beijing_midnight_ms(epoch_s: float) -> int:
    """Start of the Beijing day containing ``epoch_s``, in ms; the default anchor of seeded data."""
    day = dt.datetime.fromtimestamp(epoch_s, BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(day.timestamp() * 1000)


@dataclass
class SandboxConfig:
    """Settings of one sandbox instance; all have documented defaults."""

    app_key: str = DEFAULT_APP_KEY
    app_secret: str = DEFAULT_APP_SECRET
    corp_id: str = DEFAULT_CORP_ID
    process_code: str = DEFAULT_PROCESS_CODE
    seed_instances: int = 60
    random_seed: int = 7
    #: seeded instances are created over this many days before the anchor
    seed_days: int = 42
    #: seeded data is laid out before this moment (ms); default: today's Beijing midnight, so that
    #: the same seed gives the same instances all day long
    anchor_ms: int | None = None
    faults: dict[str, float] = field(default_factory=dict)
    latency_ms: tuple[int, int] | None = None
    qps: int = 20
    monthly_quota: int = 5000
    token_ttl_s: int = 7200
    legacy_token_error: str = "88"
    robot_token: str = DEFAULT_ROBOT_TOKEN
    robot_secret: str = DEFAULT_ROBOT_SECRET
    robot_per_minute: int = 20
    robot_block_s: int = 600

    def __post_init__(self) -> None:
        for name, rate in self.faults.items():
            if name not in FAULT_NAMES:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate for {name!r} must be between 0 and 1, got {rate}")
        if self.latency_ms is not None and not 0 <= self.latency_ms[0] <= self.latency_ms[1]:
            raise ValueError(f"latency must be MIN-MAX with 0 <= MIN <= MAX, got {self.latency_ms}")
        if self.legacy_token_error not in LEGACY_TOKEN_ERRORS:
            raise ValueError(f"legacy_token_error must be one of {LEGACY_TOKEN_ERRORS}")


def parse_faults(text: str) -> dict[str, float]:
    """Parse ``throttle=0.1,busy=0.05`` into a dict; raises ValueError on a malformed or unknown entry."""
    faults: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, rate = part.partition("=")
        if not sep:
            raise ValueError(f"fault {part!r} must look like NAME=RATE")
        name = name.strip()
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        value = float(rate)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"fault rate for {name!r} must be between 0 and 1, got {value}")
        faults[name] = value
    return faults


def parse_latency(text: str) -> tuple[int, int]:
    """Parse ``MIN-MAX`` milliseconds (or a single number) into a pair."""
    low, sep, high = text.partition("-")
    pair = (int(low), int(high)) if sep else (int(low), int(low))
    if not 0 <= pair[0] <= pair[1]:
        raise ValueError(f"latency must be MIN-MAX with 0 <= MIN <= MAX, got {text!r}")
    return pair
