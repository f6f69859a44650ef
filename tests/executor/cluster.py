"""A small Ferry cluster for tests and benchmarks: ``ferry sandbox both``, a fresh PostgreSQL database,
``ferry serve --workers external`` and N ``ferry worker`` processes, all real processes.

The sandboxes' own state is the ground truth: payment bills per source bill number and their status
(``C`` = submitted and audited), and DingTalk's metered-call counter.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from ruamel.yaml import YAML
from sqlalchemy.engine import make_url

from ferry.sandbox import linked
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.serve import free_port
from ferry.store import Ledger
from pg_support import postgres_url

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml"
SCHEME_ID = "dingtalk-payapply-to-paybill"
UNSETTLED = ("pending", "writing", "failed", "in_doubt", "finishing")
_TAKEOVER = re.compile(r"^lease of (?P<owner>\S+) expired; taken over by ")


def admin_url() -> str:
    return postgres_url()


@dataclass
class Outcome:
    expected: int
    missing: list[str]
    duplicates: list[str]
    unexpected: list[str]
    not_audited: list[str]
    unsettled: list[str]
    statuses: dict[str, int]
    metered: int
    takeovers: int
    live_takeovers: list[str]
    faults: dict[str, int]
    #: DingTalk requests per API (rejected ones included)
    calls: dict[str, int]
    kills: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicates or self.unexpected or self.not_audited or self.unsettled)

    def table(self) -> str:
        lines = [f"{name:<34} {n:>5}" for name, n in sorted(self.faults.items())]
        lines += [
            f"SIGKILLs {self.kills}, takeovers {self.takeovers} (of live workers: {len(self.live_takeovers)})",
            f"expected bills {self.expected}; missing {len(self.missing)}, duplicates {len(self.duplicates)}, "
            f"unexpected {len(self.unexpected)}, not audited {len(self.not_audited)}, "
            f"unsettled {len(self.unsettled)}",
            f"ledger: {', '.join(f'{k} {v}' for k, v in sorted(self.statuses.items()))}",
            f"DingTalk metered calls {self.metered} ({', '.join(f'{k} {v}' for k, v in sorted(self.calls.items()))}); "
            f"elapsed {self.elapsed_s:.1f}s",
        ]
        return "\n".join(lines)


@dataclass
class Cluster:
    """Start with :meth:`start`, stop with :meth:`close` (always)."""

    instances: int = 60
    seed: int = 11
    dingtalk_faults: str = ""
    kingdee_faults: str = ""
    latency: str = "1-5"
    #: Kingdee's own latency (MIN-MAX ms), set after start; None keeps ``latency``
    kingdee_latency: str | None = None
    batch_size: int = 4
    concurrency: int = 4
    lease: float = 6.0
    stalled_after: float = 4.0
    collect_every: str = "5s"
    sweep_every: str = "2s"
    serve: bool = True
    verbose: bool = False
    workers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: pid -> monotonic time it was SIGKILLed
    killed: dict[int, float] = field(default_factory=dict)
    started: float = 0.0

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def start(self) -> Cluster:
        self.started = time.monotonic()
        self._tmp = tempfile.TemporaryDirectory(prefix="ferry-cluster-")
        self.work = Path(self._tmp.name)
        self.db_name = f"ferry_wk_{uuid.uuid4().hex[:10]}"
        self._admin = sa.create_engine(admin_url(), poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.db_name}"'))
        self.db_url = make_url(admin_url()).set(database=self.db_name).render_as_string(hide_password=False)
        self.ledger = Ledger(self.db_url)
        self.ledger.migrate()
        args = [
            "--dingtalk-port", "0", "--kingdee-port", "0",
            "--instances", str(self.instances), "--random-seed", str(self.seed),
            "--latency", self.latency, "--approve-late", "--plan-out", str(self.work / "plan.json"),
        ]  # fmt: skip
        if self.dingtalk_faults:
            args += ["--dingtalk-faults", self.dingtalk_faults]
        if self.kingdee_faults:
            args += ["--kingdee-faults", self.kingdee_faults]
        self.sandboxes, self.dt_url, self.kd_url = linked.start_both(args, cwd=str(ROOT))
        if self.kingdee_latency:
            httpx.put(
                f"{self.kd_url}/_sandbox/faults", json={"latency_ms": self.kingdee_latency}
            ).raise_for_status()
        self.folder = self.work / "schemes"
        self.folder.mkdir()
        self._write_scheme()
        self.connections, secrets = self._write_connections()
        self.env = {
            **os.environ,
            **secrets,
            "FERRY_DATABASE_URL": self.db_url,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        if self.serve:
            # a port of its own: another test (or another run on this machine) may hold the default 8600
            port = str(free_port())
            self.server = self._spawn(["serve", str(self.folder), "--workers", "external", "--port", port])
        return self

    def _write_scheme(self) -> None:
        yaml = YAML()
        doc = yaml.load(FLAGSHIP.read_text("utf-8"))
        doc["retry"] = {"max_attempts": 60, "initial_delay": 0.2, "max_delay": 2.0, "jitter": 0.3}
        doc["target"]["batch_size"] = self.batch_size
        doc["source"]["schedule"] = {"interval": self.collect_every}
        doc["target"]["schedule"] = {"interval": self.sweep_every}
        with (self.folder / "scheme.yaml").open("w", encoding="utf-8") as f:
            yaml.dump(doc, f)

    def _write_connections(self) -> tuple[Path, dict[str, str]]:
        dt, kd = DingTalkConfig(), KingdeeConfig()
        path = self.work / "connections.yaml"
        path.write_text(
            f"""
dingtalk_main:
  type: dingtalk
  api_base: "{self.dt_url}"
  oapi_base: "{self.dt_url}"
  app_key: {dt.app_key}
  app_secret: "${{CLUSTER_DT_SECRET}}"
  qps: 19
kingdee_main:
  type: kingdee
  base_url: "{self.kd_url}/k3cloud/"
  auth_mode: sign
  acct_id: "{kd.acct_id}"
  username: {kd.username}
  app_id: {kd.app_id}
  app_secret: "${{CLUSTER_KD_SECRET}}"
""",
            encoding="utf-8",
        )
        return path, {"CLUSTER_DT_SECRET": dt.app_secret, "CLUSTER_KD_SECRET": kd.app_secret}

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.work / f"{args[0]}-{len(list(self.work.glob('*.log')))}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "ferry", *args, "--connections", str(self.connections)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.work,
        )

    def start_worker(self) -> int:
        proc = self._spawn(
            [
                "worker", str(self.folder), "--concurrency", str(self.concurrency),
                "--lease", str(self.lease), "--stalled-after", str(self.stalled_after),
            ]
        )  # fmt: skip
        self.workers[proc.pid] = proc
        return proc.pid

    def kill(self, pid: int) -> None:
        proc = self.workers.pop(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        self.killed[pid] = time.monotonic()

    def holding(self) -> list[int]:
        """The pids of live workers that hold claimed records now (a kill there interrupts a batch)."""
        with self.ledger.engine.connect() as conn:
            owners = conn.execute(
                sa.text(
                    "SELECT DISTINCT lease_owner FROM records WHERE status = 'writing' AND lease_owner IS NOT NULL"
                )
            ).scalars()
            pids = {int(owner.split(":")[1]) for owner in owners}
        return sorted(pids & set(self.workers))

    def wait_holding(self, timeout_s: float) -> list[int]:
        """:meth:`holding`, waiting up to ``timeout_s`` for a worker to hold a batch."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.holding()
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def terminate(self, pid: int, timeout_s: float = 60.0) -> tuple[int | None, int]:
        """SIGTERM one worker: its exit code, and how many records it left ``writing`` under its name."""
        proc = self.workers.pop(pid)
        proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = None
        with self.ledger.engine.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM records WHERE status = 'writing' AND lease_owner LIKE :owner"),
                {"owner": f"%:{pid}:%"},
            ).scalar_one()
        return code, int(left)

    def counts(self) -> dict[str, int]:
        return self.ledger.counts(SCHEME_ID)

    def plan(self) -> list[dict[str, Any]]:
        plan: list[dict[str, Any]] = json.loads((self.work / "plan.json").read_text("utf-8"))
        return plan

    def bills(self) -> list[dict[str, Any]]:
        with httpx.Client(timeout=60) as http:
            answer = http.get(f"{self.kd_url}/_sandbox/bills", params={"form_id": "AP_PAYBILL"}).json()
        return list(answer["bills"])

    @staticmethod
    def drafts(plan: list[dict[str, Any]]) -> set[str]:
        return {p["bill_number"] for p in plan if p["kind"] == "draft"}

    def expected(self, plan: list[dict[str, Any]], bills: list[dict[str, Any]]) -> list[str]:
        """The bill numbers that should have a payment bill. A planted duplicate pair may be settled
        either way round (details are stored as they arrive, so the repeat can be checked and paid
        before its original is in the ledger; the original is then rightly held as its duplicate, see
        tests/chaos/chaos.py): the repeat stands in for its original when it is the one paid and the
        original is held without a bill."""
        paid = Counter(src for b in bills for src in b["sources"])
        rows = {r.source_id: r for r in self.ledger.list_records(scheme=SCHEME_ID, limit=100_000)}
        by_bill = {p["bill_number"]: p for p in plan if p["bill_number"]}
        expected = [p["bill_number"] for p in plan if p["expects_payment_bill"]]
        for repeat in plan:
            original = by_bill.get(repeat.get("duplicate_of") or "")
            if repeat["kind"] != "duplicate" or original is None or original["bill_number"] not in expected:
                continue
            held = rows.get(original["instance_id"])
            if (
                paid[repeat["bill_number"]] == 1
                and paid[original["bill_number"]] == 0
                and held is not None
                and held.status == "held"
                and (held.reason or "").startswith("duplicate:")
            ):
                expected[expected.index(original["bill_number"])] = repeat["bill_number"]
        return expected

    def settled(self) -> bool:
        """Every expected bill exists and is audited, and the ledger holds nothing unsettled."""
        counts = self.counts()
        if any(counts.get(s) for s in UNSETTLED):
            return False
        plan = self.plan()
        bills = self.bills()
        # the plan's one "draft" request is meant to end as a Kingdee draft (a required field missing)
        expected = {n for n in self.expected(plan, bills) if n not in self.drafts(plan)}
        drafts = self.drafts(plan)
        audited = {src for b in bills if b["status"] == "C" for src in b["sources"]}
        return expected <= audited and drafts <= {src for b in bills for src in b["sources"]}

    def wait_settled(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.settled():
                return True
            time.sleep(0.5)
        return False

    def stop_workers(self, timeout_s: float = 60.0) -> list[int | None]:
        """SIGTERM every worker (and serve): the graceful stop; returns their exit codes."""
        procs = list(self.workers.values()) + ([self.server] if self.serve else [])
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for proc in procs:
            try:
                codes.append(proc.wait(timeout_s))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        self.workers.clear()
        self.serve = False
        return codes

    def takeovers(self) -> tuple[int, list[str]]:
        """Takeovers recorded in the ledger, and those of a worker that was alive at the time (its pid
        never killed, or killed only later)."""
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT at, reason FROM events WHERE reason LIKE 'lease of % expired; taken over by %'"
                )
            ).all()
        live: list[str] = []
        now_wall, now_mono = time.time(), time.monotonic()
        for at, reason in rows:
            match = _TAKEOVER.match(reason)
            if match is None:
                continue
            pid = int(match.group("owner").split(":")[1])
            killed_at = self.killed.get(pid)
            at_mono = now_mono - (now_wall - at.timestamp())
            if killed_at is None or killed_at > at_mono + 0.5:
                live.append(reason)
        return len(rows), live

    def outcome(self) -> Outcome:
        plan = self.plan()
        bills = self.bills()
        expected = self.expected(plan, bills)
        drafts = self.drafts(plan)
        per_source: Counter[str] = Counter(src for b in bills for src in b["sources"])
        rows = self.ledger.list_records(scheme=SCHEME_ID, limit=100_000)
        with httpx.Client(timeout=60) as http:
            calls = http.get(f"{self.dt_url}/_sandbox/calls").json()
            kd_stats = http.get(f"{self.kd_url}/_sandbox/stats").json()
        faults: Counter[str] = Counter()
        for api_counts in calls.get("by_api", {}).values():
            for what in ("throttled", "busy", "dropped", "token_expired", "gateway_error"):
                faults[f"dingtalk {what}"] += int(api_counts.get(what, 0))
        for name, n in kd_stats.get("faults_fired", {}).items():
            faults[f"kingdee {name}"] += int(n)
        takeovers, live = self.takeovers()
        return Outcome(
            expected=len(expected),
            missing=[n for n in expected if per_source[n] == 0],
            duplicates=[n for n, c in per_source.items() if c > 1],
            unexpected=[n for n in per_source if n not in set(expected)],
            not_audited=[
                f"{b['number'] or b['id']} ({b['status']})"
                for b in bills
                if b["status"] != "C" and not set(b["sources"]) <= drafts
            ],
            unsettled=[f"{r.source_id} ({r.status}: {r.reason})" for r in rows if r.status in UNSETTLED],
            statuses=self.counts(),
            metered=int(calls["metered_used"]),
            takeovers=takeovers,
            live_takeovers=live,
            faults={k: v for k, v in faults.items() if v},
            calls={api: int(c.get("requests", 0)) for api, c in calls.get("by_api", {}).items()},
            kills=len(self.killed),
            elapsed_s=time.monotonic() - self.started,
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.work.glob("*.log")
        )

    def close(self) -> None:
        for proc in [*self.workers.values(), *([self.server] if self.serve else [])]:
            proc.kill()
            proc.wait(30)
        self.workers.clear()
        if hasattr(self, "sandboxes"):
            self.sandboxes.send_signal(signal.SIGTERM)
            try:
                self.sandboxes.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.sandboxes.kill()
        if hasattr(self, "ledger"):
            self.ledger.close()
        if hasattr(self, "_admin"):
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            self._admin.dispose()
        self._tmp.cleanup()
