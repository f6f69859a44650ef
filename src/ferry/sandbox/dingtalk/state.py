"""What one running sandbox holds: instances, tokens, counters, faults, robots, callbacks, events."""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ferry.sandbox.dingtalk import lifecycle
from ferry.sandbox.dingtalk.config import (
    BEIJING,
    FAULT_NAMES,
    LEGACY_TOKEN_ERRORS,
    Clock,
    SandboxConfig,
    beijing_midnight_ms,
)
from ferry.sandbox.dingtalk.events import Callback, Event, build_event, check_url, push
from ferry.sandbox.dingtalk.robot import RobotHub
from ferry.sandbox.dingtalk.store import Instance, InstanceStore


@dataclass
class IssuedToken:
    app_key: str
    expires_at: float


class Sandbox:
    """The mutable state behind the ASGI app; the admin API reads and changes it."""

    def __init__(self, config: SandboxConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.reset()

    # ----------------------------------------------------------------- setup
    def reset(self, seed_instances: int | None = None, random_seed: int | None = None) -> None:
        """Back to the configured start: seeded instances, no tokens, counters at zero, configured faults."""
        cfg = self.config
        if seed_instances is not None:
            cfg.seed_instances = seed_instances
        if random_seed is not None:
            cfg.random_seed = random_seed
        self.rng = random.Random(cfg.random_seed)
        # faults roll on their own generator so that seeding data does not shift them
        self.fault_rng = random.Random(cfg.random_seed + 1)
        self.store = InstanceStore()
        self.anchor_ms = cfg.anchor_ms if cfg.anchor_ms is not None else beijing_midnight_ms(self.clock.now())
        lifecycle.seed(
            self.store,
            count=cfg.seed_instances,
            rng=self.rng,
            process_code=cfg.process_code,
            anchor_ms=self.anchor_ms,
            days=cfg.seed_days,
        )
        self.seq = cfg.seed_instances
        self.tokens: dict[str, IssuedToken] = {}
        self.current_token: dict[str, str] = {}
        self.qps_windows: dict[tuple[str, str], tuple[int, int]] = {}
        #: business calls arriving per API and calendar second (the last 900 seconds)
        self.arrivals: dict[str, dict[int, int]] = {}
        self.quota_used: Counter[str] = Counter()
        self.monthly_quota = cfg.monthly_quota
        self.calls: dict[str, Counter[str]] = {}
        self.faults: dict[str, float] = dict(cfg.faults)
        self.latency_ms = cfg.latency_ms
        self.legacy_token_error = cfg.legacy_token_error
        self.qps = cfg.qps
        self.token_ttl_s = cfg.token_ttl_s
        self.robots = RobotHub(cfg.robot_per_minute, cfg.robot_block_s)
        self.robots.add(cfg.robot_token, cfg.robot_secret)
        self.callback: Callback | None = None
        self.events: list[Event] = []
        self.events_by_id: dict[str, Event] = {}

    # ----------------------------------------------------------------- counters
    def count(self, api: str, outcome: str) -> None:
        self.calls.setdefault(api, Counter())[outcome] += 1

    def month(self) -> str:
        return dt.datetime.fromtimestamp(self.clock.now(), BEIJING).strftime("%Y-%m")

    def quota_exceeded(self) -> bool:
        return self.quota_used[self.month()] >= self.monthly_quota

    def meter(self) -> None:
        self.quota_used[self.month()] += 1

    def calls_view(self) -> dict[str, Any]:
        return {
            "month": self.month(),
            "metered_used": self.quota_used[self.month()],
            "monthly_quota": self.monthly_quota,
            "by_api": {api: dict(c) for api, c in sorted(self.calls.items())},
            "per_second": {
                api: {str(k): n for k, n in sorted(d.items())} for api, d in sorted(self.arrivals.items())
            },
        }

    # ----------------------------------------------------------------- faults
    def roll(self, fault: str) -> bool:
        rate = self.faults.get(fault, 0.0)
        return rate > 0 and self.fault_rng.random() < rate

    def set_faults(self, body: dict[str, Any]) -> None:
        """Apply ``{"rates": {...}, "latency_ms": [a, b] | null, "legacy_token_error": "88"}``."""
        rates = body.get("rates")
        if rates is not None:
            if not isinstance(rates, dict):
                raise ValueError("rates must be an object of NAME: RATE")
            for name, rate in rates.items():
                if name not in FAULT_NAMES:
                    raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
                if not isinstance(rate, int | float) or not 0 <= rate <= 1:
                    raise ValueError(f"rate of {name!r} must be a number between 0 and 1")
            if body.get("replace", True):
                self.faults = {}
            self.faults.update({k: float(v) for k, v in rates.items()})
        if "latency_ms" in body:
            lat = body["latency_ms"]
            if lat is None:
                self.latency_ms = None
            elif isinstance(lat, list) and len(lat) == 2 and 0 <= lat[0] <= lat[1]:
                self.latency_ms = (int(lat[0]), int(lat[1]))
            else:
                raise ValueError("latency_ms must be [MIN, MAX] or null")
        if "legacy_token_error" in body:
            if body["legacy_token_error"] not in LEGACY_TOKEN_ERRORS:
                raise ValueError(f"legacy_token_error must be one of {LEGACY_TOKEN_ERRORS}")
            self.legacy_token_error = body["legacy_token_error"]
        if "qps" in body:
            self.qps = int(body["qps"])
        if "token_ttl_s" in body:
            self.token_ttl_s = int(body["token_ttl_s"])

    def faults_view(self) -> dict[str, Any]:
        return {
            "rates": self.faults,
            "latency_ms": list(self.latency_ms) if self.latency_ms else None,
            "legacy_token_error": self.legacy_token_error,
            "qps": self.qps,
            "token_ttl_s": self.token_ttl_s,
            "known": list(FAULT_NAMES),
        }

    # ----------------------------------------------------------------- tokens
    def issue_token(self, app_key: str, app_secret: str) -> tuple[str, int] | None:
        """The app's token; calling again within its life returns the same token and extends it."""
        if app_key != self.config.app_key or app_secret != self.config.app_secret:
            return None
        now = self.clock.now()
        token = self.current_token.get(app_key)
        if token is None or token not in self.tokens or self.tokens[token].expires_at <= now:
            token = secrets.token_hex(16)
            self.current_token[app_key] = token
        self.tokens[token] = IssuedToken(app_key, now + self.token_ttl_s)
        return token, self.token_ttl_s

    def check_token(self, token: str | None) -> str:
        """``ok``, ``missing``, ``invalid`` (never issued) or ``expired``."""
        if not token:
            return "missing"
        issued = self.tokens.get(token)
        if issued is None:
            return "invalid"
        if issued.expires_at <= self.clock.now():
            return "expired"
        return "ok"

    def expire_token(self, token: str) -> None:
        if token in self.tokens:
            self.tokens[token].expires_at = self.clock.now() - 1

    def expire_all_tokens(self) -> int:
        for token in self.tokens:
            self.expire_token(token)
        return len(self.tokens)

    def over_qps(self, app_key: str, api: str) -> bool:
        """True when this call is over the per-app-per-API limit in the current second."""
        second = int(self.clock.now())
        key = (app_key, api)
        start, count = self.qps_windows.get(key, (second, 0))
        if start != second:
            start, count = second, 0
        # every arrival, throttled or not, so a test can check no second went over the limit
        per_second = self.arrivals.setdefault(api, {})
        per_second[second] = per_second.get(second, 0) + 1
        if len(per_second) > 900:
            del per_second[min(per_second)]
        if count >= self.qps:
            return True
        self.qps_windows[key] = (start, count + 1)
        return False

    # ----------------------------------------------------------------- instances and events
    def find(self, instance_id: str) -> Instance | None:
        return self.store.get(instance_id)

    def create_instance(self, body: dict[str, Any]) -> tuple[Instance, list[lifecycle.EventSpec]]:
        """Start a new instance; ``form`` maps component names (or bizAlias) to values."""
        self.seq += 1
        form = body.get("form") or {}
        if not isinstance(form, dict):
            raise ValueError("form must be an object of component name: value")
        originator = None
        if body.get("originator_userid"):
            originator = (str(body["originator_userid"]), str(body.get("originator_name", "发起人")))
        create_ms = int(body.get("create_time_ms") or self.clock.now_ms())
        return lifecycle.start(
            self.store,
            self.rng,
            process_code=str(body.get("process_code") or self.config.process_code),
            create_ms=create_ms,
            seq=self.seq,
            originator=originator,
            approvers=body.get("approvers"),
            form_overrides=form,
            title=body.get("title"),
        )

    async def emit(self, specs: list[lifecycle.EventSpec]) -> list[Event]:
        """Record events and push them to the registered callback, in order."""
        out: list[Event] = []
        for spec in specs:
            inst = self.store.get(spec.instance_id)
            if inst is None:
                continue
            event = build_event(spec, inst, self.config.corp_id, self.clock.now_ms())
            self.events.append(event)
            self.events_by_id[event.event_id] = event
            await self.deliver(event)
            out.append(event)
        return out

    async def deliver(self, event: Event) -> dict[str, Any] | None:
        """Push one event (again) to the callback, if one is registered."""
        if self.callback is None:
            return None
        record = await push(self.callback, json.dumps(event.payload, ensure_ascii=False), self.clock.now_ms())
        event.deliveries.append(record)
        return record

    async def register_callback(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register the HTTP push URL; like the console, it first sends ``check_url`` and needs ``success``."""
        for key in ("url", "token", "aes_key"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ValueError(f"{key} is required")
        if len(body["aes_key"]) != 43:
            raise ValueError("aes_key must be 43 characters")
        callback = Callback(
            body["url"], body["token"], body["aes_key"], str(body.get("owner_key") or self.config.app_key)
        )
        record = await check_url(callback, self.clock.now_ms())
        if record["ok"] or body.get("skip_check"):
            self.callback = callback
        return {"registered": self.callback is callback, "check_url": record}
