"""A small world for the console's browser tests and screenshots: both sandboxes seeded with linked
payment requests, a ledger after a first pass (most written, the amount mismatch quarantined, refused
approvals skipped, and a Kingdee outage that left some records failed), and the console served over
real HTTP with a real Engine.

Not a test module: tests/console/test_browser.py and scripts/screenshots.py build it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ferry.connectors.settings import connections_from_dict
from ferry.console.app import create_app
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.engine.runner import Engine
from ferry.sandbox import linked
from ferry.sandbox.dingtalk.app import create_app as create_dingtalk
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import KingdeeSandbox
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.serve import ServerThread
from ferry.scheme import Scheme, load_scheme

ROOT = Path(__file__).parents[2]
FLAGSHIP = ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml"
OPERATOR = "operator-password-1"
VIEWER = "viewer-password-22"
#: Push calls the outage refuses (each carries one batch)
OUTAGE_PUSHES = 2


@dataclass
class World:
    scheme: Scheme
    plan: linked.LinkedPlan
    dingtalk: ServerThread
    kingdee: ServerThread
    console: ServerThread
    ledger: Any
    connections: Any
    kd_config: KingdeeConfig
    servers: list[ServerThread] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.console.url

    def paybills(self, numbers: list[str]) -> dict[str, int]:
        """Payment bills Kingdee holds per payment-request number (the sandbox's own state)."""
        return linked.paybill_counts(self.kingdee.url, numbers)

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.ledger.close()


def _connections(dt_url: str, kd_url: str, dt: DingTalkConfig, kd: KingdeeConfig) -> Any:
    env = {"FERRY_T_DINGTALK_SECRET": dt.app_secret, "FERRY_T_KINGDEE_SECRET": kd.app_secret}
    return connections_from_dict(
        {
            "dingtalk_main": {
                "type": "dingtalk",
                "api_style": "v1",
                "api_base": dt_url,
                "oapi_base": dt_url,
                "app_key": dt.app_key,
                "app_secret": "${FERRY_T_DINGTALK_SECRET}",
            },
            "kingdee_main": {
                "type": "kingdee",
                "base_url": f"{kd_url}/k3cloud/",
                "auth_mode": "sign",
                "acct_id": kd.acct_id,
                "username": kd.username,
                "app_id": kd.app_id,
                "app_secret": "${FERRY_T_KINGDEE_SECRET}",
            },
        },
        env=env,
    )


def flagship(batch_size: int = 2) -> Scheme:
    """The flagship scheme with small batches (so an outage hits some records, not all) and a retry an
    hour away (so what the outage left failed waits for a person)."""
    scheme = load_scheme(FLAGSHIP)
    return scheme.model_copy(
        update={
            "target": scheme.target.model_copy(update={"batch_size": batch_size}),
            "retry": scheme.retry.model_copy(update={"initial_delay": 3600.0, "max_delay": 3600.0}),
        }
    )


async def _first_pass(engine: Engine, scheme: Scheme, kd_url: str) -> None:
    await engine.collect(scheme)
    async with httpx.AsyncClient(timeout=10) as http:
        faults = {"response_error": {"rate": 1.0, "ops": ["push"], "count": OUTAGE_PUSHES}}
        (
            await http.put(f"{kd_url}/_sandbox/faults", json={"faults": faults, "replace": True})
        ).raise_for_status()
        await engine.dispatch(scheme)
        (await http.delete(f"{kd_url}/_sandbox/faults")).raise_for_status()


def build(tmp: Path, *, instances: int = 14, seed: int = 7, env: dict[str, str] | None = None) -> World:
    """Sandboxes, a ledger after the first pass, and the console (with an Engine) on free ports."""
    from ferry.store import Ledger

    dt_config = DingTalkConfig(seed_instances=0, random_seed=seed, latency_ms=(1, 3))
    kd_config = KingdeeConfig(random_seed=seed, latency_ms=(1, 3))
    scheme = flagship()
    code = scheme.source.params.get("process_code")
    dt_config = dataclasses.replace(dt_config, process_code=str(code[0] if isinstance(code, list) else code))
    dingtalk = ServerThread(create_dingtalk(dt_config)).start()
    kingdee = ServerThread(KingdeeSandbox(kd_config)).start()
    plan = linked.plan(instances, seed=seed)
    linked.seed(dingtalk.url, kingdee.url, plan)
    ledger = Ledger(f"sqlite:///{tmp / 'ferry.db'}")
    ledger.migrate()
    connections = _connections(dingtalk.url, kingdee.url, dt_config, kd_config)

    async def first() -> None:
        engine = Engine(ledger, connections)
        try:
            await _first_pass(engine, scheme, kingdee.url)
        finally:
            await engine.aclose()

    asyncio.run(first())
    ledger.flush()
    settings = ConsoleSettings.from_env(
        env=env
        if env is not None
        else {"FERRY_CONSOLE_PASSWORD": OPERATOR, "FERRY_CONSOLE_VIEWER_PASSWORD": VIEWER}
    )
    # the console's own Engine: made here, used only on the console server's event loop
    state = ConsoleState(ledger, settings, {scheme.id: scheme}, engine=Engine(ledger, connections))
    console = ServerThread(create_app(state)).start()
    return World(
        scheme, plan, dingtalk, kingdee, console, ledger, connections, kd_config, [dingtalk, kingdee, console]
    )


async def fix_amount(world: World, number: str, amount: str) -> None:
    """Do what a person does in Kingdee to correct an audited payment request: un-audit, change the
    amount, submit and audit again (over the real WebAPI)."""
    from ferry.connectors.kingdee.factory import build_client, parse_settings

    conn = world.connections["kingdee_main"]
    client = build_client(parse_settings(conn.settings, conn.name))
    try:
        await client.unaudit("CN_PAYAPPLY", numbers=[number])
        # the bill as the person sees it in Kingdee's form (the sandbox's stored model)
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(f"{world.kingdee.url}/_sandbox/bills/CN_PAYAPPLY/{number}")
            stored = answer.raise_for_status().json()["model"]
        value = float(amount)
        row = {**stored["FPAYAPPLYENTRY"][0], "FAPPLYAMOUNTFOR": value, "FPAYAMOUNTFOR": value}
        model = {
            "FID": stored["FID"],
            "FAPPLYAMOUNTFOR_H": value,
            "FPAYAMOUNTFOR_H": value,
            "FPAYAPPLYENTRY": [row],
        }
        await client.save("CN_PAYAPPLY", model, options={"IsDeleteEntry": False})
        await client.submit("CN_PAYAPPLY", numbers=[number])
        await client.audit("CN_PAYAPPLY", numbers=[number])
    finally:
        await client.aclose()
