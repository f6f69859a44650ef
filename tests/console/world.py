"""A small world for the console's browser tests and screenshots: both sandboxes seeded with linked
payment requests, a ledger after a first pass (most written, the amount mismatch quarantined, refused
approvals skipped, and a Kingdee outage that left some records failed), and the console served as
``ferry serve`` serves it: :func:`ferry.console.serve.build_service` with a real Engine, the schemes on
hourly schedules (their start-up passes find nothing to do, and the next is an hour away) and the
DingTalk event intake wired from the connection's settings, its HTTP callback registered with the
DingTalk sandbox. So an approval decided during a test reaches Kingdee through its event alone.

Not a test module: tests/console/test_browser.py and scripts/screenshots.py build it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ferry.connectors.settings import connections_from_dict
from ferry.console.serve import Service, build_service
from ferry.console.settings import ConsoleSettings
from ferry.engine.runner import Engine
from ferry.sandbox import linked
from ferry.sandbox.dingtalk.app import create_app as create_dingtalk
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import KingdeeSandbox
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.serve import ServerThread, free_port
from ferry.scheme import Schedule, Scheme, load_scheme

ROOT = Path(__file__).parents[2]
FLAGSHIP = ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml"
OPERATOR = "operator-password-1"
VIEWER = "viewer-password-22"
#: Push calls the outage refuses (each carries one batch)
OUTAGE_PUSHES = 2
#: the callback's token and AES key, as the app's 事件订阅 page would show them
EVENT_TOKEN = "console-test-event-token"
EVENT_AES_KEY = "Ferry7ConsoleTestKey123456789abcdefghijklmn"
#: the schemes' schedules: the start-up passes run, the next is well after any test
HOURLY = Schedule(interval=3600)


class ServiceThread:
    """:class:`~ferry.console.serve.Service` run on its own thread and event loop, as ``ferry serve``
    runs it in its process; ``stop()`` sets its stop event (a SIGTERM's path) and waits."""

    def __init__(self, service: Service, engine: Engine | None) -> None:
        self.service, self.engine = service, engine
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ferry-serve", daemon=True)

    @property
    def url(self) -> str:
        return self.service.url

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            task = asyncio.create_task(self.service.run(self._stop))
            started = asyncio.create_task(self.service.started.wait())
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
            self._ready.set()
            try:
                await task
            finally:
                if self.engine is not None:
                    await self.engine.aclose()  # its HTTP clients belong to this loop

        try:
            asyncio.run(main())
        except BaseException as e:  # told by start() or seen by the test
            self.error = e
        finally:
            self._ready.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> ServiceThread:
        self._thread.start()
        if not self._ready.wait(60) or self.error is not None or not self.service.started.is_set():
            raise RuntimeError(f"ferry serve did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


@dataclass
class World:
    scheme: Scheme
    plan: linked.LinkedPlan
    dingtalk: ServerThread
    kingdee: ServerThread
    console: ServiceThread
    ledger: Any
    connections: Any
    kd_config: KingdeeConfig
    servers: list[ServerThread | ServiceThread] = field(default_factory=list)

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
    env = {
        "FERRY_T_DINGTALK_SECRET": dt.app_secret,
        "FERRY_T_KINGDEE_SECRET": kd.app_secret,
        "FERRY_T_EVENT_TOKEN": EVENT_TOKEN,
        "FERRY_T_EVENT_AES_KEY": EVENT_AES_KEY,
    }
    return connections_from_dict(
        {
            "dingtalk_main": {
                "type": "dingtalk",
                "api_style": "v1",
                "api_base": dt_url,
                "oapi_base": dt_url,
                "app_key": dt.app_key,
                "app_secret": "${FERRY_T_DINGTALK_SECRET}",
                # HTTP-push events: ferry serve mounts the callback from these
                "event_token": "${FERRY_T_EVENT_TOKEN}",
                "event_aes_key": "${FERRY_T_EVENT_AES_KEY}",
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
    """The flagship scheme with small batches (so an outage hits some records, not all), a retry an
    hour away (so what the outage left failed waits for a person), and hourly schedules (so no poll
    explains what happens during a test)."""
    scheme = load_scheme(FLAGSHIP)
    return scheme.model_copy(
        update={
            "source": scheme.source.model_copy(update={"schedule": HOURLY}),
            "target": scheme.target.model_copy(update={"batch_size": batch_size, "schedule": HOURLY}),
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
        port=free_port(),
        env=env
        if env is not None
        else {"FERRY_CONSOLE_PASSWORD": OPERATOR, "FERRY_CONSOLE_VIEWER_PASSWORD": VIEWER},
    )
    # ferry serve's own assembly: the schedules, the event intake from the connections, the console
    engine = Engine(ledger, connections)
    console = ServiceThread(build_service(ledger, [scheme], settings, engine=engine), engine).start()
    servers: list[ServerThread | ServiceThread] = [dingtalk, kingdee, console]
    try:
        _settle(ledger, scheme.id)
        with httpx.Client(timeout=30) as http:
            # DingTalk checks the URL (check_url) before it sends events there
            answer = http.put(
                f"{dingtalk.url}/_sandbox/callback",
                json={
                    "url": console.url + "/dingtalk/events",
                    "token": EVENT_TOKEN,
                    "aes_key": EVENT_AES_KEY,
                },
            )
            assert answer.status_code == 200 and answer.json()["registered"], answer.text
    except BaseException:
        for server in reversed(servers):
            server.stop()
        raise
    return World(scheme, plan, dingtalk, kingdee, console, ledger, connections, kd_config, servers)


def _settle(ledger: Any, scheme_id: str, timeout: float = 60.0) -> None:
    """Wait for the service's start-up collect and dispatch (they find nothing new to do)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [r for r in ledger.list_runs(scheme_id, limit=50) if r.trigger == "schedule"]
        started = {r.kind for r in runs} >= {"collect", "dispatch"}
        if started and all(r.status != "running" for r in runs):
            return
        assert time.monotonic() < deadline, "the service's start-up passes did not finish"
        time.sleep(0.1)


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
