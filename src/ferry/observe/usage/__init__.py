"""The API-usage and quota model: per-API figures, DingTalk's monthly quota with a forecast and advice,
Kingdee's sessions and concurrency, REST connections' declared limits.

Reads the ledger through its usage functions only (may use :mod:`ferry.store`).
"""

from ferry.observe.usage.quota import (
    Advice,
    DingTalkQuota,
    KingdeeSessions,
    RestLimitUse,
    dingtalk_quota,
    kingdee_sessions,
    month_bounds,
    rest_limits,
)
from ferry.observe.usage.report import ApiReport, ConnectionInfo, api_report, connection_infos
from ferry.observe.usage.stats import ApiStats, per_api, percentile
from ferry.observe.usage.upkeep import Upkept, UsageUpkeep, keep_usage, upkeep

__all__ = [
    "Advice",
    "ApiReport",
    "ApiStats",
    "ConnectionInfo",
    "DingTalkQuota",
    "KingdeeSessions",
    "RestLimitUse",
    "Upkept",
    "UsageUpkeep",
    "api_report",
    "connection_infos",
    "dingtalk_quota",
    "keep_usage",
    "kingdee_sessions",
    "month_bounds",
    "per_api",
    "percentile",
    "rest_limits",
    "upkeep",
]
