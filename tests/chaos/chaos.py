"""The chaos run: the flagship scheme against faulty sandboxes, its engine killed again and again.

``ferry sandbox both`` runs as its own process with faults on both systems. The engine runs as
``ferry run`` processes, each killed with SIGKILL at a random moment, at least ``kills`` times; then
it runs to completion. The sandboxes' own state is the ground truth: every approved request with a
valid bill has exactly one payment bill (``missing`` 0, ``duplicates`` 0), no other request has one,
the ledger says ``written`` for exactly those, and every record not written says why.

The one planted request whose fate depends on order is the ``duplicate``: the flagship holds whichever
of it and the request it repeats is checked second. Records are stored as their detail calls come
back, not in list order, and a record whose call was in flight at a SIGKILL is stored by the next
process, after later ones; so the repeat may be stored, checked and paid before its original exists
in the ledger, and then the original is the one held. The check accepts that outcome only as it is:
the repeat has exactly one payment bill and the original none, held as a duplicate of the repeat's
record. A failed run keeps its directory (ledger, plan, each engine process's output) and says which
records are wrong, with their events.

    .venv/bin/python tests/chaos/chaos.py --instances 2000 --kills 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from ferry.sandbox import linked
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.store import Ledger, RecordRow
from ferry.store.console_queries import record_events

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml"
SCHEME_ID = "dingtalk-payapply-to-paybill"

DINGTALK_FAULTS = "throttle=0.03,busy=0.03,drop=0.03,token_expire=0.02"
KINGDEE_FAULTS = (
    "session_loss=0.03,conflict=0.03,limit=0.03,error5xx=0.03,response_error=0.03,drop_after_commit=0.1"
)
#: not done yet: ``finishing`` holds a document whose follow-ups are still retried, so a pass that stops
#: with one is not the end, and its record would be counted as not written
UNSETTLED = ("pending", "writing", "finishing", "failed", "in_doubt")


@dataclass
class ChaosResult:
    instances: int
    kills: int
    engine_runs: int
    expected: int
    missing: list[str]
    duplicates: list[str]
    unexpected: list[str]
    ledger_disagrees: list[str]
    without_reason: list[str]
    #: records left pending, writing, failed or in doubt when the run ended
    unsettled: list[str]
    statuses: dict[str, int]
    faults: dict[str, int]
    elapsed_s: float
    log: list[str] = field(default_factory=list)
    #: duplicate pairs the engine settled the other way round: the repeat paid, its original held
    swapped: list[str] = field(default_factory=list)
    #: each wrong record: plan kind, ledger row, payment bills and its latest events
    diagnosis: list[str] = field(default_factory=list)
    #: the kept work directory of a failed run (None: removed, or the caller's own)
    kept: str | None = None

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.duplicates or self.unexpected or self.ledger_disagrees or self.without_reason
        )

    def table(self) -> str:
        lines = ["fault / event                      count"]
        for name, n in sorted(self.faults.items()):
            lines.append(f"{name:<34} {n:>5}")
        lines += [
            f"{'SIGKILLs survived':<34} {self.kills:>5}",
            f"{'engine runs':<34} {self.engine_runs:>5}",
            "",
            f"instances {self.instances}, expected payment bills {self.expected}, elapsed {self.elapsed_s:.0f}s",
            f"ledger: {', '.join(f'{k} {v}' for k, v in sorted(self.statuses.items()))}",
            f"missing {len(self.missing)}, duplicates {len(self.duplicates)}, unexpected {len(self.unexpected)}, "
            f"ledger disagrees {len(self.ledger_disagrees)}, not written without a reason {len(self.without_reason)}, "
            f"unsettled {len(self.unsettled)}",
        ]
        lines += [f"duplicate settled the other way round: {s}" for s in self.swapped]
        return "\n".join(lines)

    def report(self) -> str:
        """The table, then what a failure needs: the wrong records and where the run's files are."""
        parts = [self.table()]
        for name in (
            "missing",
            "duplicates",
            "unexpected",
            "ledger_disagrees",
            "without_reason",
            "unsettled",
        ):
            if values := getattr(self, name):
                parts.append(f"{name}: {values}")
        parts += self.diagnosis
        if self.kept:
            parts.append(f"work directory kept: {self.kept}")
        if self.diagnosis:
            parts += ["engine runs:", *self.log]
        return "\n".join(parts)


def _scheme(workdir: Path) -> Path:
    """The flagship scheme with retries fit for a run measured in minutes, not hours."""
    yaml = YAML()
    doc = yaml.load(FLAGSHIP.read_text("utf-8"))
    doc["retry"] = {"max_attempts": 60, "initial_delay": 0.2, "max_delay": 2.0, "jitter": 0.3}
    # small batches: more Kingdee calls, so more faults land on writes
    doc["target"]["batch_size"] = 4
    path = workdir / "scheme.yaml"
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(doc, f)
    return path


def _start_sandboxes(
    workdir: Path, instances: int, seed: int, dingtalk_faults: str, kingdee_faults: str, push_control: bool
) -> tuple[subprocess.Popen[str], str, str]:
    args = [
        "--dingtalk-port",
        "0",
        "--kingdee-port",
        "0",
        "--instances",
        str(instances),
        "--random-seed",
        str(seed),
        "--latency",
        "1-5",
        "--approve-late",
        "--plan-out",
        str(workdir / "plan.json"),
    ]
    if dingtalk_faults:
        args += ["--dingtalk-faults", dingtalk_faults]
    if kingdee_faults:
        args += ["--kingdee-faults", kingdee_faults]
    if not push_control:
        args.append("--kingdee-no-push-control")
    proc, dingtalk, kingdee = linked.start_both(args, cwd=str(ROOT))
    return proc, dingtalk, kingdee


def _connections(workdir: Path, dt_url: str, kd_url: str) -> tuple[Path, dict[str, str]]:
    dt, kd = DingTalkConfig(), KingdeeConfig()
    path = workdir / "connections.yaml"
    path.write_text(
        f"""
dingtalk_main:
  type: dingtalk
  api_base: "{dt_url}"
  oapi_base: "{dt_url}"
  app_key: {dt.app_key}
  app_secret: "${{CHAOS_DT_SECRET}}"
  qps: 19
kingdee_main:
  type: kingdee
  base_url: "{kd_url}/k3cloud/"
  auth_mode: sign
  acct_id: "{kd.acct_id}"
  username: {kd.username}
  app_id: {kd.app_id}
  app_secret: "${{CHAOS_KD_SECRET}}"
""",
        encoding="utf-8",
    )
    return path, {"CHAOS_DT_SECRET": dt.app_secret, "CHAOS_KD_SECRET": kd.app_secret}


def run_chaos(
    *,
    instances: int = 60,
    kills: int = 10,
    seed: int = 11,
    reconcile: bool = True,
    push_control: bool = True,
    dingtalk_faults: str = DINGTALK_FAULTS,
    kingdee_faults: str = KINGDEE_FAULTS,
    #: seconds from start to SIGKILL; a process needs about one second to start working
    kill_after: tuple[float, float] = (1.0, 4.0),
    settle_timeout_s: float = 600.0,
    workdir: Path | None = None,
    verbose: bool = False,
    #: keep the directory of a run that found wrong records (off for a control that expects them)
    keep_failed: bool = True,
) -> ChaosResult:
    started = time.monotonic()
    rng = random.Random(seed)
    # not a TemporaryDirectory: a failed run's directory is kept for diagnosis
    work = Path(tempfile.mkdtemp(prefix="ferry-chaos-")) if workdir is None else workdir
    remove = False
    log: list[str] = []

    def say(text: str) -> None:
        log.append(text)
        if verbose:
            print(text, flush=True)

    scheme = _scheme(work)
    db_url = f"sqlite:///{work / 'ferry.db'}"
    sandboxes, dt_url, kd_url = _start_sandboxes(
        work, instances, seed, dingtalk_faults, kingdee_faults, push_control
    )
    try:
        conns, secrets = _connections(work, dt_url, kd_url)
        env = {**os.environ, **secrets, "FERRY_DATABASE_URL": db_url}
        if not reconcile:
            env["FERRY_UNSAFE_NO_RECONCILE"] = "1"
        command = [
            sys.executable,
            "-m",
            "ferry.cli.main",
            "run",
            str(scheme),
            "--connections",
            str(conns),
            "--lease",
            "2",
            "--json",
        ]
        ledger = Ledger(db_url)
        ledger.migrate()

        killed = runs = 0
        moments: Counter[str] = Counter()
        while killed < kills:
            runs += 1
            # kill at a random moment of a random phase: mid-collect (records are landing), mid-dispatch
            # (documents are being written), or just at a random time
            mode = rng.choice(("collect", "dispatch", "time"))
            before = ledger.counts(SCHEME_ID)
            total_before, written_before = sum(before.values()), before.get("written", 0)
            # to a file, not an unread pipe (a full one would stall the process); kept for diagnosis
            with (work / f"engine-{runs:03d}.log").open("w") as out:
                proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
            began = time.monotonic()
            deadline = began + (rng.uniform(*kill_after) if mode == "time" else 20.0)
            while proc.poll() is None and time.monotonic() < deadline:
                now = ledger.counts(SCHEME_ID)
                if mode == "collect" and sum(now.values()) > total_before:
                    time.sleep(rng.uniform(0.0, 0.3))
                    break
                if mode == "dispatch" and now.get("written", 0) > written_before:
                    time.sleep(rng.uniform(0.0, 0.3))
                    break
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                killed += 1
                moments[mode] += 1
                say(
                    f"run {runs}: killed ({mode}, after {time.monotonic() - began:.1f}s) {ledger.counts(SCHEME_ID)}"
                )
            else:
                proc.wait()
                say(f"run {runs}: finished by itself with status {proc.returncode}")

        # let it finish: passes until nothing is left to do (failed records wait for their back-off,
        # records held by killed processes for their leases)
        deadline = time.monotonic() + settle_timeout_s
        quiet = stuck = 0
        last: dict[str, int] = {}
        while time.monotonic() < deadline:
            runs += 1
            with (work / f"engine-{runs:03d}.log").open("w") as out:
                done = subprocess.run(
                    command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, timeout=600
                )
            counts = ledger.counts(SCHEME_ID)
            say(f"run {runs}: status {done.returncode} {counts}")
            if done.returncode == 0 and not any(counts.get(s) for s in UNSETTLED):
                quiet += 1
                if quiet >= 2:  # a pass with nothing to do after a clean one: collect has seen it all
                    break
            else:
                quiet = 0
                # nothing moves any more (e.g. records no probe can settle): stop and report them
                stuck = stuck + 1 if counts == last else 0
                if stuck >= 15:
                    say("no progress in 15 passes; stopping")
                    break
                time.sleep(0.5)
            last = counts

        with httpx.Client(timeout=60) as http:
            calls = http.get(f"{dt_url}/_sandbox/calls").json()
            kd_stats = http.get(f"{kd_url}/_sandbox/stats").json()
        faults: Counter[str] = Counter()
        for api_counts in calls.get("by_api", {}).values():
            for what in ("throttled", "busy", "dropped", "token_expired", "token_invalid", "gateway_error"):
                if api_counts.get(what):
                    faults[f"dingtalk {what}"] += int(api_counts[what])
        for name, n in kd_stats.get("faults_fired", {}).items():
            faults[f"kingdee {name}"] += int(n)
        for mode, n in moments.items():
            faults[f"SIGKILL during {mode}"] = n

        truth = ground_truth(work, ledger, kd_url)
        ledger.close()
        remove = workdir is None and not (keep_failed and truth.diagnosis)
        return ChaosResult(
            instances=instances,
            kills=killed,
            engine_runs=runs,
            expected=truth.expected,
            missing=truth.missing,
            duplicates=truth.duplicates,
            unexpected=truth.unexpected,
            ledger_disagrees=truth.ledger_disagrees,
            without_reason=truth.without_reason,
            unsettled=truth.unsettled,
            statuses=truth.statuses,
            faults=dict(faults),
            elapsed_s=time.monotonic() - started,
            log=log,
            swapped=truth.swapped,
            diagnosis=truth.diagnosis,
            kept=None if remove or workdir is not None else str(work),
        )
    finally:
        sandboxes.send_signal(signal.SIGTERM)
        try:
            sandboxes.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            sandboxes.kill()
        if remove:
            shutil.rmtree(work, ignore_errors=True)


@dataclass
class GroundTruth:
    """The sandboxes' state against the plan, and the ledger's against both (see :class:`ChaosResult`)."""

    expected: int
    missing: list[str]
    duplicates: list[str]
    unexpected: list[str]
    ledger_disagrees: list[str]
    without_reason: list[str]
    unsettled: list[str]
    statuses: dict[str, int]
    swapped: list[str]
    diagnosis: list[str]


def ground_truth(work: Path, ledger: Ledger, kd_url: str) -> GroundTruth:
    """Check a finished run: the plan ``work/plan.json``, the Kingdee sandbox's payment bills, the ledger."""
    plan = json.loads((work / "plan.json").read_text("utf-8"))
    statuses = ledger.counts(SCHEME_ID)
    rows = {r.source_id: r for r in ledger.list_records(scheme=SCHEME_ID, limit=100_000)}
    counts_by_bill = linked.paybill_counts(kd_url, [p["bill_number"] for p in plan if p["bill_number"]])
    expects = {p["instance_id"]: bool(p["expects_payment_bill"]) for p in plan}
    swapped = _swapped_duplicates(plan, rows, counts_by_bill)
    for original, repeat in swapped:
        expects[original["instance_id"]], expects[repeat["instance_id"]] = False, True
    expected = [p for p in plan if expects[p["instance_id"]]]
    missing = [p["bill_number"] for p in expected if counts_by_bill.get(p["bill_number"], 0) == 0]
    duplicates = [n for n, c in counts_by_bill.items() if c > 1]
    unexpected = [
        p["bill_number"]
        for p in plan
        if p["bill_number"] and not expects[p["instance_id"]] and counts_by_bill.get(p["bill_number"], 0) > 0
    ]
    ledger_disagrees = [
        p["instance_id"]
        for p in expected
        if (row := rows.get(p["instance_id"])) is None or row.status != "written" or not row.target_id
    ]
    without_reason = [sid for sid, r in rows.items() if r.status != "written" and not r.reason]
    unsettled = [f"{sid} ({r.status}: {r.reason})" for sid, r in rows.items() if r.status in UNSETTLED]
    wrong_bills = set(missing) | set(duplicates) | set(unexpected)
    wrong = [
        p
        for p in plan
        if (p["bill_number"] and p["bill_number"] in wrong_bills)
        or p["instance_id"] in ledger_disagrees
        or p["instance_id"] in without_reason
        or ((row := rows.get(p["instance_id"])) is not None and row.status in UNSETTLED)
    ]
    diagnosis = [_diagnose(ledger, p, rows.get(p["instance_id"]), counts_by_bill) for p in wrong]
    return GroundTruth(
        expected=len(expected),
        missing=missing,
        duplicates=duplicates,
        unexpected=unexpected,
        ledger_disagrees=ledger_disagrees,
        without_reason=without_reason,
        unsettled=unsettled,
        statuses=statuses,
        swapped=[
            f"{o['bill_number']} held as a duplicate of {d['bill_number']}, which was paid"
            for o, d in swapped
        ],
        diagnosis=diagnosis,
    )


def _swapped_duplicates(
    plan: list[dict[str, Any]], rows: dict[str, RecordRow], counts_by_bill: dict[str, int]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(original, repeat) of each planted duplicate the engine settled the other way round: the repeat
    written with exactly one payment bill, the original without any and held by the duplicate check as
    a repeat of the repeat's record. Only that: both paid, neither, or any other hold stay failures."""
    by_bill = {p["bill_number"]: p for p in plan if p["bill_number"]}
    out = []
    for repeat in plan:
        original = by_bill.get(repeat.get("duplicate_of") or "")
        if repeat["kind"] != "duplicate" or original is None:
            continue
        o, d = rows.get(original["instance_id"]), rows.get(repeat["instance_id"])
        if o is None or d is None or d.status != "written" or o.status != "held":
            continue
        names = re.search(r"\bon record (\d+)\b", o.reason or "")
        if (
            (o.reason or "").startswith("duplicate:")
            and names is not None
            and int(names.group(1)) == d.id
            and counts_by_bill.get(repeat["bill_number"], 0) == 1
            and counts_by_bill.get(original["bill_number"], 0) == 0
        ):
            out.append((original, repeat))
    return out


def _diagnose(
    ledger: Ledger, p: dict[str, Any], row: RecordRow | None, counts_by_bill: dict[str, int]
) -> str:
    """One wrong record as a failure report shows it: what the plan meant, the ledger row, its events."""
    head = (
        f"{p['kind']} {p['bill_number']} (instance {p['instance_id']}, "
        f"payment bills {counts_by_bill.get(p['bill_number'] or '', 0)}): "
    )
    if row is None:
        return head + "no ledger record"
    lines = [
        head + f"ledger id {row.id} {row.status}, target {row.target_id}, attempts {row.attempts}, "
        f"reason {row.reason!r}, last error {row.last_error_type} {row.last_error_message!r}"
    ]
    for e in record_events(ledger, row.id, limit=15):
        lines.append(f"    {e.at:%H:%M:%S.%f} {e.from_status} -> {e.to_status}: {e.reason}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--no-reconcile", action="store_true", help="the negative control: duplicates expected")
    ap.add_argument("--no-push-control", action="store_true", help="Kingdee does not stop a second Push")
    args = ap.parse_args()
    result = run_chaos(
        instances=args.instances,
        kills=args.kills,
        seed=args.seed,
        reconcile=not args.no_reconcile,
        push_control=not args.no_push_control,
        verbose=True,
    )
    print(result.report())
    sys.exit(0 if result.ok and not result.unsettled else 1)


if __name__ == "__main__":
    main()
