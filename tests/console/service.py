"""A ``ferry serve`` (or ``ferry console``) subprocess over the two sandboxes, for the service tests."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from ferry.sandbox import linked
from ferry.sandbox.dingtalk.app import create_app as create_dingtalk
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import KingdeeSandbox
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.serve import ServerThread, free_port

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml"
SCHEME_ID = "dingtalk-payapply-to-paybill"
#: the callback's token and AES key, as the app's 事件订阅 page would show them
EVENT_TOKEN = "serve-test-event-token"
EVENT_AES_KEY = "Ferry7ServeTestKey0123456789abcdefghijklmnA"


@dataclass
class World:
    tmp: Path
    dingtalk: str
    kingdee: str
    dt: DingTalkConfig
    kd: KingdeeConfig
    plan: linked.LinkedPlan
    #: the ledger ``ferry serve`` uses (a SQLite file unless a test gives a PostgreSQL schema)
    db_url: str = ""

    def __post_init__(self) -> None:
        self.db_url = self.db_url or f"sqlite:///{self.tmp / 'ferry.db'}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        env.update(
            FERRY_DATABASE_URL=self.db_url,
            FERRY_T_DINGTALK_SECRET=self.dt.app_secret,
            FERRY_T_KINGDEE_SECRET=self.kd.app_secret,
            FERRY_T_EVENT_TOKEN=EVENT_TOKEN,
            FERRY_T_EVENT_AES_KEY=EVENT_AES_KEY,
            PYTHONPATH=str(ROOT / "src"),
        )
        env.update(extra)
        return env

    def connections(self, *, events: str = "", kingdee: bool = True) -> Path:
        """A connections.yaml for the sandboxes; ``events`` is ``callback``, ``stream`` or ``""``."""
        lines = [
            "dingtalk_main:",
            "  type: dingtalk",
            f"  api_base: {self.dingtalk}",
            f"  oapi_base: {self.dingtalk}",
            f"  app_key: {self.dt.app_key}",
            "  app_secret: ${FERRY_T_DINGTALK_SECRET}",
            "  qps: 15",
        ]
        if events == "callback":
            lines += ["  event_token: ${FERRY_T_EVENT_TOKEN}", "  event_aes_key: ${FERRY_T_EVENT_AES_KEY}"]
        elif events == "stream":
            lines += ["  stream: true"]
        if kingdee:
            lines += [
                "kingdee_main:",
                "  type: kingdee",
                f"  base_url: {self.kingdee}/k3cloud/",
                "  auth_mode: sign",
                f'  acct_id: "{self.kd.acct_id}"',
                f"  username: {self.kd.username}",
                f"  app_id: {self.kd.app_id}",
                "  app_secret: ${FERRY_T_KINGDEE_SECRET}",
            ]
        path = self.tmp / "connections.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def schemes(self, *, poll: str = "1h") -> Path:
        """The flagship scheme in its own folder, polled only every ``poll`` (so only an event explains
        a bill that appears sooner)."""
        folder = self.tmp / "schemes"
        folder.mkdir(exist_ok=True)
        text = FLAGSHIP.read_text(encoding="utf-8")
        text = text.replace("schedule: {interval: 5m}", f"schedule: {{interval: {poll}}}")
        text = text.replace("schedule: {interval: 1m}", f"schedule: {{interval: {poll}}}")
        assert text.count(f"interval: {poll}") == 2
        (folder / "flagship.yaml").write_text(text, encoding="utf-8")
        return folder


@contextmanager
def sandboxes(tmp: Path, instances: int = 12, db_url: str = "") -> Iterator[World]:
    """Both sandboxes on loopback ports, seeded with linked payment requests (one left ``late``)."""
    dt = dataclasses.replace(
        DingTalkConfig(seed_instances=0, random_seed=7, latency_ms=(1, 5)), process_code="PROC-FERRY7PAYREQ01"
    )
    kd = KingdeeConfig(random_seed=7, latency_ms=(1, 5))
    plan = linked.plan(instances, seed=7)
    with ServerThread(create_dingtalk(dt)) as dingtalk, ServerThread(KingdeeSandbox(kd)) as kingdee:
        linked.seed(dingtalk.url, kingdee.url, plan)
        yield World(tmp, dingtalk.url, kingdee.url, dt, kd, plan, db_url)


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    _log: IO[bytes]

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._log.close()
        return code


def start(args: list[str], env: dict[str, str], cwd: Path, *, wait_for: str = "/healthz") -> Running:
    """``ferry ARGS --port FREE`` as a subprocess; returns once ``wait_for`` answers (any status)."""
    port = free_port()
    log_path = cwd / f"ferry-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferry", *args, "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    running = Running(proc, f"http://127.0.0.1:{port}", log_path, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ferry {args[0]} exited {proc.returncode}:\n{running.log()}")
        try:
            httpx.get(running.url + wait_for, timeout=2)
            return running
        except httpx.TransportError:
            time.sleep(0.1)
    running.stop()
    raise AssertionError(f"ferry {args[0]} did not answer in 60 s:\n{running.log()}")


def wait_until(what: str, check: Any, timeout: float = 60.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL (``$FERRY_TEST_POSTGRES_URL``), as a URL whose search_path
    points at it; skips the test with the reason when PostgreSQL cannot be reached."""
    import uuid

    import pytest
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    base = os.environ.get("FERRY_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    admin = sa.create_engine(base, poolclass=sa.NullPool, connect_args={"connect_timeout": 3})
    schema = f"t_serve_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        shown = make_url(base).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL not reachable at {shown}: {type(exc).__name__}")
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
