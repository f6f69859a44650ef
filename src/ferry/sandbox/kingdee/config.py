"""The Kingdee sandbox's start-up settings and its default credentials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: default credentials (documented in README.md and ``ferry sandbox kingdee --help``); the app id has the
#: ``<clientId>_<32 base64 chars>`` form the official SDK derives its client secret from
DEFAULT_ACCT_ID = "65a0b1c2d3e4f5"
DEFAULT_USERNAME = "demo"
DEFAULT_PASSWORD = "sandbox-password"
DEFAULT_APP_ID = "224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
DEFAULT_APP_SECRET = "0123456789abcdef0123456789abcdef"


@dataclass
class SandboxConfig:
    """Start-up settings of one sandbox (the CLI's options)."""

    acct_id: str = DEFAULT_ACCT_ID
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    app_id: str = DEFAULT_APP_ID
    app_secret: str = DEFAULT_APP_SECRET
    lcid: int = 2052
    #: sliding idle lifetime of a session, seconds (20 minutes on a real server)
    session_ttl: float = 1200.0
    seed_bills: int = 0
    random_seed: int | None = None
    faults: Mapping[str, float] = field(default_factory=dict)
    latency_ms: tuple[int, int] = (0, 0)
    #: "modern" envelopes, or "legacy" ones like older servers (no MsgCode, no empty arrays, string booleans)
    envelope_style: str = "modern"
    extra_forms: Sequence[str] = ()
    #: over-push control of the CN_PAYAPPLY -> AP_PAYBILL rule; off, a repeated Push makes a second bill
    push_control: bool = True
