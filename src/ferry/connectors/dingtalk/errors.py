"""DingTalk answers classified into Ferry's typed connector errors (reference §5.3).

| answer | error |
|---|---|
| token bad/expired: 40014, 42001, 41001, 88+40014/40000 (oapi); 400/401 ``InvalidAuthentication``, 401 (v1) | :class:`Reauthenticate` |
| throttled: 90018, 90002, 90005, 90006, 90019, 88 with those sub-codes; 403 ``Qps*``/``Qpm*``, 429 | :class:`SlowDown` |
| monthly quota: 90020; 403 ``ApiCountLimitForOrg`` | :class:`QuotaExhausted` |
| transient: -1 系统繁忙, HTTP 5xx, a dropped connection or timeout (reads are safe to retry) | :class:`RetryLater` |
| anything else (60011 permission, 40035 parameters, ``processInstanceNotExist``, ``invalid*``) | :class:`GiveUp` |

Messages carry DingTalk's own ``errmsg``/``message`` text and never a token or secret.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from ferry.connectors.errors import (
    ConnectorError,
    GiveUp,
    QuotaExhausted,
    Reauthenticate,
    RetryLater,
    SlowDown,
)

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

TOKEN_CODES = frozenset({"40014", "42001", "41001", "40000"})
THROTTLE_CODES = frozenset({"90002", "90005", "90006", "90018", "90019"})
QUOTA_CODES = frozenset({"90020"})
V1_TOKEN_CODES = frozenset({"InvalidAuthentication", "AuthenticationFailed.MissingParameter", "Unauthorized"})

#: DingTalk's QPS window is one second; its advice is to sleep one second and continue
THROTTLE_PAUSE_S = 1.0

_PENALTY_END = re.compile(r"(?:处罚|限制)将在\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*结束")


def seconds_to_next_month(now: dt.datetime | None = None) -> float:
    """Seconds until the monthly quota resets (start of next month, Beijing time)."""
    now = now or dt.datetime.now(BEIJING)
    now = now.astimezone(BEIJING)
    days = calendar.monthrange(now.year, now.month)[1]
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (start + dt.timedelta(days=days) - now).total_seconds()


def penalty_seconds(message: str, now: dt.datetime | None = None) -> float | None:
    """Seconds until the end of a 90002 penalty named in its message (``处罚将在 … 结束``), if any."""
    match = _PENALTY_END.search(message)
    if not match:
        return None
    try:
        end = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        # "2018-99-99 99:99:99" matches the pattern but is no date: the default pause applies
        return None
    now = now or dt.datetime.now(BEIJING)
    return max(0.0, min(60.0, (end - now).total_seconds()))


def _code(value: Any) -> str | None:
    if value is None or value == "":
        return None
    # a code goes into the ledger's error-code column: DingTalk's are short, a hostile one is cut
    return str(value)[:64]


def is_token_error(error: ConnectorError) -> bool:
    """True for answers that mean: fetch a new token and try once more."""
    return isinstance(error, Reauthenticate)


def classify_oapi(body: Mapping[str, Any], api: str) -> ConnectorError | None:
    """The error a legacy-host answer (HTTP 200, ``errcode`` body) stands for, or None when ``errcode`` is 0."""
    errcode = _code(body.get("errcode"))
    if errcode in (None, "0"):
        return None
    sub_code = _code(body.get("sub_code"))
    text = str(body.get("sub_msg") or body.get("errmsg") or "")[:500]
    rid = _code(body.get("request_id"))
    # the TOP gateway wraps the real cause as errcode 88 + sub_code (reference §1.3, §5.2)
    cause = sub_code if errcode == "88" and sub_code else errcode
    if errcode == "88" and not sub_code:
        # some answers only name the cause inside errmsg: "ding talk error[subcode=90018,...]"
        found = re.search(r"subcode=(\w+)", text)
        cause = found.group(1) if found else errcode
    code = f"{errcode}/{cause}" if cause != errcode else errcode
    message = f"DingTalk {api}: {text}".rstrip(": ")
    if cause in TOKEN_CODES:
        return Reauthenticate(message, code=code, api=api, request_id=rid)
    if cause in THROTTLE_CODES:
        wait = penalty_seconds(text) if cause == "90002" else None
        return SlowDown(message, code=code, api=api, request_id=rid, retry_after=wait or THROTTLE_PAUSE_S)
    if cause in QUOTA_CODES:
        return QuotaExhausted(
            message, code=code, api=api, request_id=rid, retry_after=seconds_to_next_month()
        )
    if cause == "-1":
        return RetryLater(message, code=code, api=api, request_id=rid)
    return GiveUp(message, code=code, api=api, request_id=rid)


def classify_v1(
    status: int, body: Mapping[str, Any] | None, api: str, request_id: str | None = None
) -> ConnectorError | None:
    """The error a v1.0-host answer (real HTTP status, ``code``/``message`` body) stands for, or None on 2xx."""
    if 200 <= status < 300:
        return None
    body = body or {}
    code = _code(body.get("code")) or str(status)
    rid = _code(body.get("requestid")) or request_id
    message = f"DingTalk {api}: HTTP {status} {str(body.get('message') or '')[:500]}".rstrip()
    if status == 401 or (status in (400, 401) and code in V1_TOKEN_CODES):
        return Reauthenticate(message, code=code, api=api, request_id=rid)
    if status == 429 or (status == 403 and (".QpsLimit" in code or ".QpmLimit" in code)):
        return SlowDown(message, code=code, api=api, request_id=rid, retry_after=THROTTLE_PAUSE_S)
    if code.endswith("ApiCountLimitForOrg"):
        return QuotaExhausted(
            message, code=code, api=api, request_id=rid, retry_after=seconds_to_next_month()
        )
    if status >= 500:
        return RetryLater(message, code=code, api=api, request_id=rid)
    return GiveUp(message, code=code, api=api, request_id=rid)


def classify_http(status: int, api: str) -> ConnectorError:
    """An answer that is not the API's JSON (a gateway page): 5xx and 429 are transient, the rest permanent."""
    message = f"DingTalk {api}: HTTP {status} without a JSON body"
    if status == 429:
        return SlowDown(message, code=str(status), api=api, retry_after=THROTTLE_PAUSE_S)
    if status >= 500 or status == 200:
        return RetryLater(message, code=str(status), api=api)
    return GiveUp(message, code=str(status), api=api)
