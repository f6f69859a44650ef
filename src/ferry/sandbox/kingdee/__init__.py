"""A faithful Kingdee Cloud Galaxy (K/3 Cloud) WebAPI sandbox: sessions, signed headers, bills, Push, queries, faults.

Imports nothing of Ferry's except :mod:`ferry.sandbox.serve` (used by callers to run it). See README.md.
"""

from ferry.sandbox.kingdee.app import (
    DEFAULT_ACCT_ID,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    KingdeeSandbox,
    SandboxConfig,
    create_app,
)
from ferry.sandbox.kingdee.faults import FAULT_NAMES, parse_faults, parse_latency

__all__ = [
    "DEFAULT_ACCT_ID",
    "DEFAULT_APP_ID",
    "DEFAULT_APP_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "FAULT_NAMES",
    "KingdeeSandbox",
    "SandboxConfig",
    "create_app",
    "parse_faults",
    "parse_latency",
]
