"""What one Kingdee sandbox holds: credentials, bills, sessions, faults and counters, and how it resets."""

from __future__ import annotations

import random
from collections import Counter

from ferry.sandbox.kingdee.auth import Credentials, SessionStore
from ferry.sandbox.kingdee.bills import Bill, BillStore
from ferry.sandbox.kingdee.config import SandboxConfig
from ferry.sandbox.kingdee.faults import Faults
from ferry.sandbox.kingdee.seed import seed_payment_requests


class SandboxState:
    """The state the request handlers share; :class:`~ferry.sandbox.kingdee.app.KingdeeSandbox` adds the app."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.creds = Credentials(
            self.config.acct_id,
            self.config.username,
            self.config.password,
            self.config.app_id,
            self.config.app_secret,
            self.config.lcid,
        )
        self.rng = random.Random(self.config.random_seed)
        self.store = BillStore(self.config.extra_forms, push_control=self.config.push_control)
        self.sessions = SessionStore(self.config.session_ttl)
        self.faults = Faults(self.rng)
        self.envelope_style = self.config.envelope_style
        self.calls: Counter[str] = Counter()
        self.logins: Counter[str] = Counter()
        self._apply_start_faults()
        if self.config.seed_bills:
            seed_payment_requests(self.store, self.config.seed_bills, self.rng)

    def reset(self, seed_bills: int = 0) -> list[Bill]:
        """Back to the start: no bills (then ``seed_bills`` fresh ones), sessions, faults or counters."""
        self.store.clear()
        self.sessions.drop_all()
        self.sessions.ttl = self.config.session_ttl
        self.faults.clear()
        self.faults.fired.clear()
        self.calls.clear()
        self.logins.clear()
        self.envelope_style = self.config.envelope_style
        self.rng.seed(self.config.random_seed)
        return seed_payment_requests(self.store, seed_bills, self.rng)

    def _apply_start_faults(self) -> None:
        for name, rate in self.config.faults.items():
            self.faults.set(name, rate)
        self.faults.latency_ms = self.config.latency_ms
