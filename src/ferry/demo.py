"""``ferry demo``: the flagship scheme end to end against both sandboxes, then checked against them.

1. Starts the DingTalk and Kingdee sandboxes in-process on free loopback ports.
2. Seeds N linked payment requests (audited ``CN_PAYAPPLY`` bills and the approvals that name them)
   with a realistic mix (:mod:`ferry.sandbox.linked`).
3. Runs the scheme: collect and dispatch side by side until everything finished is written, with
   DingTalk events arriving through a real callback endpoint, wired from the connection's settings
   as ``ferry serve`` wires it.
4. Approves one more request after that first pass; its event alone brings it in.
5. Reconciles against the sandboxes' own state: every approved request with a valid bill has exactly
   one payment bill (``missing`` and ``duplicates``, both expected 0), and the planted anomalies (a
   duplicate request a week after the first, an outlier amount, lines that do not add up) have none:
   the quality checks held them for review (待复核).

Uses everything, like the command line; nothing else imports it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import string
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from ferry.connectors.settings import connections_from_dict
from ferry.console.dingtalk_callback import CALLBACK_PATH
from ferry.console.dingtalk_intake import wire_dingtalk
from ferry.engine.runner import Engine, Progress
from ferry.observe.alerts.demo import alert_the_robot
from ferry.sandbox import linked
from ferry.sandbox.dingtalk.app import create_app as create_dingtalk
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import KingdeeSandbox
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.serve import ServerThread, serve_here
from ferry.scheme import Scheme, load_scheme
from ferry.store import Ledger

#: where the flagship scheme lives in a checkout (the README's commands install Ferry editable)
FLAGSHIP = Path(__file__).resolve().parents[2] / "examples" / "dingtalk-payapply-to-paybill.yaml"


@dataclass
class DemoOptions:
    instances: int = 200
    scheme_path: Path = FLAGSHIP
    latency_ms: tuple[int, int] = (30, 80)
    random_seed: int = 7
    db_url: str | None = None
    #: DingTalk calls per second per app per API that the sandbox allows (a standard org's limit)
    qps: float = 20.0
    #: the pace the client keeps: the limit itself, since the client paces by the calendar second with
    #: a margin for latency (each throttling answer would cost a one-second pause)
    client_qps: float = 20.0
    #: how long to wait for the late approval's event to be written
    event_timeout_s: float = 60.0


@dataclass
class DemoSummary:
    instances: int
    approved: int
    payment_bills: int
    drafts: int
    skipped: int
    quarantined: int
    dead: int
    watching: int
    written: int
    missing: int
    duplicates: int
    unexpected: int
    api_calls: dict[str, int]
    elapsed_s: float
    records_per_s: float
    event_delivered: bool
    statuses: dict[str, int] = field(default_factory=dict)
    #: held for review (待复核) by the quality checks, and how many of them each rule stopped
    held: int = 0
    held_by_rule: dict[str, int] = field(default_factory=dict)
    missing_numbers: list[str] = field(default_factory=list)
    duplicate_numbers: list[str] = field(default_factory=list)
    #: titles of the alerts the sandbox's group robot accepted
    alerts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicates == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "approved": self.approved,
            "payment_bills": self.payment_bills,
            "drafts": self.drafts,
            "written": self.written,
            "skipped": self.skipped,
            "quarantined": self.quarantined,
            "dead": self.dead,
            "watching": self.watching,
            "held": self.held,
            "held_by_rule": self.held_by_rule,
            "missing": self.missing,
            "duplicates": self.duplicates,
            "unexpected": self.unexpected,
            "event_delivered": self.event_delivered,
            "alerts": self.alerts,
            "api_calls": self.api_calls,
            "elapsed_s": round(self.elapsed_s, 2),
            "records_per_s": round(self.records_per_s, 1),
            "statuses": self.statuses,
        }


@dataclass
class DemoProgress:
    """Callbacks a display may set: totals are known once seeding is done."""

    on_start: Callable[[int, int], None] | None = None  # (instances, approvals to settle)
    on_collected: Callable[[int], None] | None = None
    on_outcome: Callable[[str], None] | None = None
    on_phase: Callable[[str], None] | None = None


def _secret(n: int = 32) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _connections(
    dingtalk_url: str,
    kingdee_url: str,
    dt: DingTalkConfig,
    kd: KingdeeConfig,
    qps: float,
    events: tuple[str, str] | None = None,
) -> Any:
    """The demo's connections to the two sandboxes; ``events`` (token, AES key) sign the callback."""
    events = events or (_secret(16), _secret(43))
    # the sandboxes' credentials travel like real ones: ${ENV} references resolved from an environment
    env = {
        "FERRY_DEMO_DINGTALK_SECRET": dt.app_secret,
        "FERRY_DEMO_KINGDEE_SECRET": kd.app_secret,
        "FERRY_DEMO_EVENT_TOKEN": events[0],
        "FERRY_DEMO_EVENT_AES_KEY": events[1],
    }
    return connections_from_dict(
        {
            "dingtalk_main": {
                "type": "dingtalk",
                "api_style": "v1",
                "api_base": dingtalk_url,
                "oapi_base": dingtalk_url,
                "app_key": dt.app_key,
                "app_secret": "${FERRY_DEMO_DINGTALK_SECRET}",
                "qps": qps,
                # HTTP-push events, wired by ferry serve's own code from these two keys
                "event_token": "${FERRY_DEMO_EVENT_TOKEN}",
                "event_aes_key": "${FERRY_DEMO_EVENT_AES_KEY}",
            },
            "kingdee_main": {
                "type": "kingdee",
                "base_url": f"{kingdee_url}/k3cloud/",
                "auth_mode": "sign",
                "acct_id": kd.acct_id,
                "username": kd.username,
                "app_id": kd.app_id,
                "app_secret": "${FERRY_DEMO_KINGDEE_SECRET}",
            },
        },
        env=env,
    )


#: what ``ferry demo --serve`` runs after the summary, while the sandboxes and the ledger are still up
AfterDemo = Callable[[DemoSummary, Ledger, Engine, Scheme], Awaitable[None]]


async def run_demo(
    options: DemoOptions,
    progress: DemoProgress | None = None,
    calls_view: dict[str, Any] | None = None,
    *,
    after: AfterDemo | None = None,
) -> DemoSummary:
    """Run the demo; see the module docstring. ``after`` is awaited with the summary before anything
    is torn down (``ferry demo --serve`` serves the console there until Ctrl-C)."""
    progress = progress or DemoProgress()
    phase = progress.on_phase or (lambda _: None)
    scheme = load_scheme(options.scheme_path)
    process_code = scheme.source.params.get("process_code")
    process_code = process_code[0] if isinstance(process_code, list) else process_code
    dt_config = DingTalkConfig(
        seed_instances=0,
        random_seed=options.random_seed,
        latency_ms=options.latency_ms,
        qps=int(options.qps),
    )
    if process_code:
        # the sandbox's payment template takes the code the scheme reads
        dt_config = dataclasses.replace(dt_config, process_code=str(process_code))
    kd_config = KingdeeConfig(random_seed=options.random_seed, latency_ms=options.latency_ms)
    plan = linked.plan(options.instances, seed=options.random_seed)
    tmp = tempfile.TemporaryDirectory(prefix="ferry-demo-")
    db_url = options.db_url or f"sqlite:///{Path(tmp.name) / 'ferry-demo.db'}"
    with (
        ServerThread(create_dingtalk(dt_config)) as dingtalk,
        ServerThread(KingdeeSandbox(kd_config)) as kingdee,
    ):
        phase("seeding the sandboxes")
        await asyncio.to_thread(linked.seed, dingtalk.url, kingdee.url, plan)
        if progress.on_start:
            progress.on_start(options.instances, sum(1 for p in plan.items if p.approved))
        ledger = Ledger(db_url)
        ledger.migrate()
        token, aes_key = _secret(16), _secret(43)
        conns = _connections(
            dingtalk.url, kingdee.url, dt_config, kd_config, options.client_qps, (token, aes_key)
        )
        engine = Engine(ledger, conns)
        # the callback route as `ferry serve` mounts it: from the connection's settings
        callback = FastAPI(title="Ferry demo events", docs_url=None, redoc_url=None, openapi_url=None)
        for router in wire_dingtalk(engine, [scheme], conns).routers:
            callback.include_router(router)
        try:
            # on this loop, as `ferry serve` mounts it: an event's pass uses the scheme's connectors
            async with serve_here(callback) as events_url:
                async with httpx.AsyncClient(timeout=30) as http:
                    r = await http.put(
                        f"{dingtalk.url}/_sandbox/callback",
                        json={"url": events_url + CALLBACK_PATH, "token": token, "aes_key": aes_key},
                    )
                    r.raise_for_status()
                started = time.perf_counter()
                wake = asyncio.Event()

                def on_page(n: int) -> None:
                    wake.set()
                    if progress.on_collected is not None:
                        progress.on_collected(n)

                engine_progress = Progress(on_page=on_page, on_outcome=progress.on_outcome)
                phase("collecting approvals and pushing payment bills")
                collect = asyncio.create_task(engine.collect(scheme, progress=engine_progress))
                try:
                    # dispatch side by side: one pass that ends once collect is done and nothing is due
                    await engine.dispatch(scheme, progress=engine_progress, follow=collect, wake=wake)
                except BaseException:
                    collect.cancel()
                    await asyncio.wait([collect])
                    if not collect.cancelled():
                        collect.exception()  # seen: dispatch's error is the one the demo reports
                    raise
                await collect  # raise what collect raised

                phase("approving one more request; its event brings it in")
                late = plan.by_kind("late")[0]
                assert late.instance_id is not None
                await asyncio.to_thread(linked.approve, dingtalk.url, late.instance_id)
                delivered = await _wait_written(ledger, scheme.id, late.instance_id, options.event_timeout_s)
                elapsed = time.perf_counter() - started
        finally:
            await engine.aclose()
            await asyncio.to_thread(ledger.flush)
        phase("reconciling against the sandboxes")
        rec = await asyncio.to_thread(linked.reconcile, kingdee.url, plan)
        async with httpx.AsyncClient(timeout=30) as http:
            instances = (await http.get(f"{dingtalk.url}/_sandbox/instances")).json()["instances"]
            if calls_view is not None:
                # the sandbox's own counters, for benchmarks
                calls_view.update((await http.get(f"{dingtalk.url}/_sandbox/calls")).json())
        phase("alerting the sandbox's DingTalk group robot")
        robot = f"{dingtalk.url}/robot/send?access_token={dt_config.robot_token}"
        alerts = await alert_the_robot(ledger, robot, dt_config.robot_secret)
        statuses = await asyncio.to_thread(ledger.counts, scheme.id)
        usage = await asyncio.to_thread(ledger.api_usage)
        held_by_rule = await asyncio.to_thread(_held_by_rule, ledger, scheme.id)
        approved = sum(1 for i in instances if i["status"] == "COMPLETED" and i.get("result") == "agree")
        summary = DemoSummary(
            instances=len(instances),
            approved=approved,
            payment_bills=rec.payment_bills,
            drafts=rec.drafts,
            written=statuses.get("written", 0),
            skipped=statuses.get("skipped", 0),
            quarantined=statuses.get("quarantined", 0),
            dead=statuses.get("dead", 0),
            watching=statuses.get("watching", 0),
            missing=len(rec.missing),
            duplicates=len(rec.duplicates),
            unexpected=len(rec.unexpected),
            api_calls={
                f"{u.connection} {u.api}": u.calls for u in sorted(usage, key=lambda u: (u.connection, u.api))
            },
            elapsed_s=elapsed,
            records_per_s=len(instances) / elapsed if elapsed else 0.0,
            event_delivered=delivered,
            alerts=alerts,
            statuses=statuses,
            missing_numbers=rec.missing,
            duplicate_numbers=rec.duplicates,
            held=statuses.get("held", 0),
            held_by_rule=held_by_rule,
        )
        try:
            if after is not None:
                await after(summary, ledger, engine, scheme)
        finally:
            await engine.aclose()
            ledger.close()
    tmp.cleanup()
    return summary


def _held_by_rule(ledger: Ledger, scheme_id: str) -> dict[str, int]:
    """How many held records each blocking rule stopped."""
    counts: dict[str, int] = {}
    for row in ledger.held(scheme_id):
        for rule in {f.rule for f in ledger.findings_of(row.id) if f.verdict != "warn" and not f.resolution}:
            counts[rule] = counts.get(rule, 0) + 1
    return dict(sorted(counts.items()))


async def _wait_written(ledger: Ledger, scheme_id: str, instance_id: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = await asyncio.to_thread(ledger.get, scheme_id, instance_id)
        if row is not None and row.status in ("written", "quarantined", "dead"):
            return row.status == "written"
        await asyncio.sleep(0.02)  # a cheap read; the demo's elapsed time ends when it sees the bill
    return False
