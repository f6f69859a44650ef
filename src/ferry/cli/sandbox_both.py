"""`ferry sandbox both`: the DingTalk and Kingdee sandboxes together, seeded with linked payment requests."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from ferry.sandbox import linked
from ferry.sandbox.dingtalk.app import create_app as create_dingtalk
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.dingtalk.config import parse_faults as parse_dingtalk_faults
from ferry.sandbox.dingtalk.config import parse_latency as parse_dingtalk_latency
from ferry.sandbox.kingdee import KingdeeSandbox
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.kingdee import parse_faults as parse_kingdee_faults
from ferry.sandbox.kingdee import parse_latency as parse_kingdee_latency
from ferry.sandbox.serve import ServerThread


def sandbox_connections(
    dingtalk_url: str, kingdee_url: str, dt: DingTalkConfig, kd: KingdeeConfig
) -> tuple[str, list[str]]:
    """A ready ``connections.yaml`` for the flagship against these sandboxes, and the ``export`` lines
    for its secrets (the file holds only ``${ENV}`` references, as a real one must)."""
    text = f"""dingtalk_main:
  type: dingtalk
  api_base: {dingtalk_url}
  oapi_base: {dingtalk_url}
  app_key: {dt.app_key}
  app_secret: ${{FERRY_SANDBOX_DINGTALK_SECRET}}
  qps: {max(1, dt.qps - 1)}
kingdee_main:
  type: kingdee
  base_url: {kingdee_url}/k3cloud/
  auth_mode: sign
  acct_id: "{kd.acct_id}"
  username: {kd.username}
  app_id: {kd.app_id}
  app_secret: ${{FERRY_SANDBOX_KINGDEE_SECRET}}
"""
    exports = [
        f"export FERRY_SANDBOX_DINGTALK_SECRET={dt.app_secret}",
        f"export FERRY_SANDBOX_KINGDEE_SECRET={kd.app_secret}",
    ]
    return text, exports


def register(app: typer.Typer) -> None:
    """Add the `both` command to the `ferry sandbox` group."""

    @app.command("both")
    def both(
        dingtalk_port: int = typer.Option(8710, "--dingtalk-port", help="DingTalk sandbox port (0 = any)."),
        kingdee_port: int = typer.Option(8700, "--kingdee-port", help="Kingdee sandbox port (0 = any)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
        instances: int = typer.Option(200, "--instances", help="Linked payment requests to seed (>= 10)."),
        random_seed: int = typer.Option(7, "--random-seed", help="Seed of the data, faults and latency."),
        dingtalk_faults: str = typer.Option(
            "", "--dingtalk-faults", help="NAME=RATE,... (throttle, busy, drop, token_expire, ...)."
        ),
        kingdee_faults: str = typer.Option(
            "",
            "--kingdee-faults",
            help="NAME=RATE,... (session_loss, conflict, limit, error5xx, response_error, drop_after_commit).",
        ),
        latency: str = typer.Option("30-80", "--latency", help="Latency MIN-MAX ms on both sandboxes."),
        qps: int = typer.Option(20, "--qps", help="DingTalk calls per second per app per API."),
        process_code: str = typer.Option(
            "PROC-FERRY7PAYREQ01", "--process-code", help="The payment template's code."
        ),
        monthly_quota: Annotated[
            int, typer.Option("--monthly-quota", help="DingTalk metered calls allowed per month.")
        ] = 5000,
        no_push_control: Annotated[
            bool,
            typer.Option(
                "--kingdee-no-push-control",
                help="Kingdee's conversion rule without over-push control: a repeated Push makes a second bill.",
            ),
        ] = False,
        approve_late: Annotated[
            bool,
            typer.Option("--approve-late", help="Approve the 'late' request at start (no event needed)."),
        ] = False,
        plan_out: Annotated[
            Path | None, typer.Option("--plan-out", help="Write the seeded plan (JSON) here, for checks.")
        ] = None,
        connections_out: Annotated[
            Path | None,
            typer.Option("--connections-out", help="Write a connections.yaml for the sandboxes here."),
        ] = None,
    ) -> None:
        """Run both sandboxes as one long-lived process, seeded with audited Kingdee payment requests and the
        DingTalk approvals that name them, until Ctrl-C or SIGTERM."""
        try:
            dt_config = DingTalkConfig(
                seed_instances=0,
                random_seed=random_seed,
                faults=parse_dingtalk_faults(dingtalk_faults) if dingtalk_faults else {},
                latency_ms=parse_dingtalk_latency(latency),
                qps=qps,
                monthly_quota=monthly_quota,
                process_code=process_code,
            )
            kd_config = KingdeeConfig(
                random_seed=random_seed,
                faults=parse_kingdee_faults(kingdee_faults) if kingdee_faults else {},
                latency_ms=parse_kingdee_latency(latency),
                push_control=not no_push_control,
            )
            plan = linked.plan(instances, seed=random_seed)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        dingtalk = ServerThread(create_dingtalk(dt_config), host=host, port=dingtalk_port)
        kingdee = ServerThread(KingdeeSandbox(kd_config), host=host, port=kingdee_port)
        stop = threading.Event()

        def _on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        dingtalk.start()
        kingdee.start()
        try:
            linked.seed(dingtalk.url, kingdee.url, plan)
            if approve_late:
                for p in plan.by_kind("late"):
                    assert p.instance_id is not None
                    linked.approve(dingtalk.url, p.instance_id)
            if plan_out is not None:
                plan_out.write_text(
                    json.dumps(
                        [
                            {
                                "kind": p.kind,
                                "bill_number": p.bill_number,
                                "instance_id": p.instance_id,
                                "expects_payment_bill": p.expects_payment_bill,
                                "duplicate_of": p.duplicate_of,
                            }
                            for p in plan.items
                        ],
                        ensure_ascii=False,
                    ),
                    encoding="utf-8",
                )
            typer.echo(f"DingTalk sandbox: {dingtalk.url}  (admin: {dingtalk.url}/_sandbox/)")
            typer.echo(f"Kingdee sandbox:  {kingdee.url}/k3cloud/  (admin: {kingdee.url}/_sandbox/)")
            typer.echo("seeded: " + ", ".join(f"{k} {v}" for k, v in sorted(plan.count().items())), nl=True)
            yaml_text, exports = sandbox_connections(dingtalk.url, kingdee.url, dt_config, kd_config)
            if connections_out is not None:
                connections_out.write_text(yaml_text, encoding="utf-8")
                typer.echo(f"connections written to {connections_out}; before `ferry run`, export:")
            else:
                typer.echo("connections.yaml for these sandboxes (the secrets as ${ENV} references):")
                typer.echo(yaml_text)
                typer.echo("and in the shell that runs ferry:")
            for line in exports:
                typer.echo(f"  {line}")
            typer.echo("ready", nl=True)
            while not stop.wait(0.5):
                pass
        finally:
            dingtalk.stop()
            kingdee.stop()
            typer.echo("sandboxes stopped.")
