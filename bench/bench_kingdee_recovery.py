"""Kingdee calls per written record when write answers are lost, measured against the sandbox (run by hand).

    .venv/bin/python bench/bench_kingdee_recovery.py [--records 200] [--drop 0.1] [--batch 20] [--seed 1]
        [--faults conflict=0.05,error5xx=0.05]

The flagship target (Push, then Submit and Audit) writes ``--records`` audited payment requests, in
batches of ``--batch``, while the sandbox drops the answer of a share ``--drop`` of the write calls
(``drop_after_commit``: the call is applied, the connection closed), plus any ``--faults`` on every
call of both faulty runs. A small driver stands in for the
engine's dispatch, with the statuses the lead is wiring: a record whose outcome is unknown is
``in_doubt`` and is probed, never pushed blind; a document with follow-ups ``pending`` is ``finishing``
and goes to ``KingdeeTarget.finish``. Three runs:

- ``no faults``: the reference;
- ``batched``: in-doubt records of a batch asked with ``probe_many`` (one query, one Submit, one Audit);
- ``one by one``: each in-doubt record asked with ``probe`` (its own query, Submit and Audit), as before.

Figures come from the sandbox's own counters (``/_sandbox/stats``). Every run must end with exactly one
audited payment bill per source.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
from collections import Counter
from typing import Any

import httpx

from ferry.connectors.base import FinishItem, TargetDoc, WriteItem
from ferry.connectors.errors import ConnectorError, GiveUp, OutcomeUnknown
from ferry.connectors.kingdee.factory import build_target
from ferry.connectors.kingdee.target import KingdeeTarget
from ferry.connectors.settings import connections_from_dict
from ferry.engine.registry import BuildContext
from ferry.observe.calls import NullCallRecorder
from ferry.sandbox.kingdee import (
    DEFAULT_ACCT_ID,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_USERNAME,
    KingdeeSandbox,
    SandboxConfig,
)
from ferry.sandbox.kingdee.faults import parse_faults
from ferry.sandbox.serve import ServerThread
from ferry.scheme import TargetSpec

OPS = ("Push", "Submit", "Audit", "ExecuteBillQuery")


def make_target(url: str, batch: int) -> KingdeeTarget:
    conns = connections_from_dict(
        {
            "kd": {
                "type": "kingdee",
                "base_url": url + "/k3cloud/",
                "auth_mode": "signed_headers",
                "acct_id": DEFAULT_ACCT_ID,
                "username": DEFAULT_USERNAME,
                "app_id": DEFAULT_APP_ID,
                "app_secret": "${KD_SECRET}",
            }
        },
        env={"KD_SECRET": DEFAULT_APP_SECRET},
    )
    spec = TargetSpec.model_validate(
        {
            "connection": "kd",
            "api": "Push",
            "batch_size": batch,
            "follow_up": ["Submit", "Audit"],
            "probe": {"form_id": "AP_PAYBILL", "source_number_field": "FPAYBILLSRCENTRY_FSRCBILLNO"},
            "params": {"follow_up_retry_delay": 0.0},
        }
    )
    return build_target(conns["kd"], spec, BuildContext(NullCallRecorder(), "bench"))


def request(number: str) -> dict[str, Any]:
    return {
        "FormId": "CN_PAYAPPLY",
        "Numbers": [number],
        "IsEnableDefaultRule": "true",
        "TargetFormId": "AP_PAYBILL",
        "IsDraftWhenSaveFail": "true",
    }


class Driver:
    """The engine's dispatch in miniature: pending → written | in_doubt | finishing, until all are written."""

    def __init__(self, target: KingdeeTarget, numbers: list[str], batch: int, batched_probe: bool) -> None:
        self.target = target
        self.batch = batch
        self.batched_probe = batched_probe
        self.items = {i: WriteItem(i, f"APPROVAL-{n}", n, request(n)) for i, n in enumerate(numbers, 1)}
        self.state: dict[int, str] = dict.fromkeys(self.items, "pending")
        self.docs: dict[int, TargetDoc] = {}

    def _settle(self, key: int, answer: TargetDoc | ConnectorError | None, unknown_to: str) -> None:
        if isinstance(answer, TargetDoc):
            self.docs[key] = answer
            self.state[key] = "finishing" if answer.pending else "written"
        elif answer is None:
            self.state[key] = "pending"
        elif isinstance(answer, OutcomeUnknown):
            self.state[key] = unknown_to
        elif isinstance(answer, GiveUp):
            raise SystemExit(f"record {key}: {answer}")

    def _batches(self, status: str) -> list[list[int]]:
        keys = [k for k, s in self.state.items() if s == status]
        return [keys[i : i + self.batch] for i in range(0, len(keys), self.batch)]

    async def run(self) -> int:
        rounds = 0
        while any(s != "written" for s in self.state.values()):
            rounds += 1
            if rounds > 200:
                raise SystemExit(f"not settled: {Counter(self.state.values())}")
            for keys in self._batches("in_doubt"):
                items = [self.items[k] for k in keys]
                if self.batched_probe:
                    answers = list(await self.target.probe_many(items))
                else:
                    answers = []
                    for item in items:
                        try:
                            answers.append(await self.target.probe(item))
                        except ConnectorError as err:
                            answers.append(err)
                for key, answer in zip(keys, answers, strict=True):
                    if not isinstance(answer, ConnectorError):
                        self._settle(key, answer, "in_doubt")
            for keys in self._batches("pending"):
                try:
                    outcomes = await self.target.write([self.items[k] for k in keys])
                except OutcomeUnknown:
                    for key in keys:
                        self.state[key] = "in_doubt"
                    continue
                except ConnectorError:
                    continue
                for o in outcomes:
                    self._settle(o.key, o.doc if o.ok else o.error, "in_doubt")
            for keys in self._batches("finishing"):
                items = [
                    FinishItem(
                        k, self.items[k].source_id, self.items[k].number, self.docs[k], self.items[k].request
                    )
                    for k in keys
                ]
                try:
                    outcomes = await self.target.finish(items)
                except ConnectorError:
                    continue  # finish is safe to repeat: the next round asks again
                for o in outcomes:
                    if o.doc is not None:
                        self._settle(o.key, o.doc, "finishing")
        return rounds


async def measure(
    records: int, faults: dict[str, float], batch: int, seed: int, batched_probe: bool
) -> dict[str, Any]:
    box = KingdeeSandbox(SandboxConfig(random_seed=seed, seed_bills=records))
    with (
        ServerThread(box) as server,
        httpx.Client(
            base_url=server.url + "/_sandbox/", timeout=30, verify=ssl.create_default_context()
        ) as admin,
    ):
        numbers = [b["number"] for b in admin.get("bills", params={"form_id": "CN_PAYAPPLY"}).json()["bills"]]
        if faults:
            admin.put("faults", json={"faults": faults}).raise_for_status()
        target = make_target(server.url, batch)
        try:
            rounds = await Driver(target, numbers, batch, batched_probe).run()
        finally:
            await target.aclose()
        calls = admin.get("stats").json()["calls"]
        dropped = admin.get("faults").json()["fired"].get("drop_after_commit", 0)
        counts = admin.get("paybills/count", params={"source": numbers}).json()["counts"]
        bills = admin.get("bills", params={"form_id": "AP_PAYBILL"}).json()["bills"]
    assert counts == dict.fromkeys(numbers, 1), "a source without exactly one payment bill"
    assert {b["status"] for b in bills} == {"C"}, "a payment bill left unaudited"
    return {"calls": {op: calls.get(op, 0) for op in OPS}, "dropped": dropped, "rounds": rounds}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--drop", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faults", default="", help="more faults, e.g. conflict=0.05,error5xx=0.05")
    args = ap.parse_args()
    faults = {"drop_after_commit": args.drop, **parse_faults(args.faults)}
    runs = [("no faults", {}, True), ("batched", faults, True), ("one by one", faults, False)]
    base = 0.0
    print(f"{args.records} records, batches of {args.batch}, faults {faults}, seed {args.seed}")
    print(f"{'run':<11} {'calls':>6} {'per rec':>8} {'vs clean':>9}  " + " ".join(f"{op:>16}" for op in OPS))
    for name, armed, batched in runs:
        got = await measure(args.records, armed, args.batch, args.seed, batched)
        total = sum(got["calls"].values())
        base = base or total
        ops = " ".join(f"{got['calls'][op]:>16}" for op in OPS)
        print(
            f"{name:<11} {total:>6} {total / args.records:>8.3f} {total / base:>8.2f}x  {ops}"
            f"   ({got['dropped']} answers dropped, {got['rounds']} rounds)"
        )


if __name__ == "__main__":
    asyncio.run(main())
