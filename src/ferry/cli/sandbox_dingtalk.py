"""`ferry sandbox dingtalk`: run the DingTalk sandbox as a server."""

from __future__ import annotations

import typer

from ferry.cli.sandbox_serve import serve_sandbox
from ferry.sandbox.dingtalk import SandboxConfig, create_app, parse_faults, parse_latency
from ferry.sandbox.dingtalk.config import (
    DEFAULT_APP_KEY,
    DEFAULT_APP_SECRET,
    DEFAULT_PROCESS_CODE,
    DEFAULT_ROBOT_SECRET,
    DEFAULT_ROBOT_TOKEN,
    FAULT_NAMES,
)
from ferry.sandbox.serve import ServerThread


def register(app: typer.Typer) -> None:
    """Add the `dingtalk` command to the `ferry sandbox` group."""

    @app.command("dingtalk")
    def dingtalk(
        port: int = typer.Option(8710, "--port", help="TCP port to listen on (0 = any free port)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
        app_key: str = typer.Option(DEFAULT_APP_KEY, "--app-key", help="The app's key (Client ID) accepted."),
        app_secret: str = typer.Option(
            DEFAULT_APP_SECRET, "--app-secret", help="The app's secret (Client Secret) accepted."
        ),
        process_code: str = typer.Option(
            DEFAULT_PROCESS_CODE, "--process-code", help="Process code of the payment-request template."
        ),
        seed_instances: int = typer.Option(60, "--seed-instances", help="Payment-request instances to seed."),
        random_seed: int = typer.Option(7, "--random-seed", help="Seed for data and fault rolls."),
        faults: str = typer.Option(
            "", "--faults", help=f"NAME=RATE,... with NAME in {', '.join(FAULT_NAMES)} and RATE in [0, 1]."
        ),
        latency: str = typer.Option(
            "0-0", "--latency", help="Added latency per API call, MIN-MAX milliseconds."
        ),
        qps: int = typer.Option(20, "--qps", help="Calls per second per app per API before throttling."),
        monthly_quota: int = typer.Option(5000, "--monthly-quota", help="Metered calls allowed per month."),
        token_ttl: int = typer.Option(7200, "--token-ttl", help="Access-token lifetime, seconds."),
        robot_token: str = typer.Option(
            DEFAULT_ROBOT_TOKEN, "--robot-token", help="Group robot access_token."
        ),
        robot_secret: str = typer.Option(
            DEFAULT_ROBOT_SECRET, "--robot-secret", help="Group robot signing secret (starts with SEC)."
        ),
    ) -> None:
        """Run a faithful DingTalk sandbox (both API hosts, robot webhook) until Ctrl-C or SIGTERM.

        Legacy host paths: /gettoken, /topapi/...; new host paths: /v1.0/...; robot: /robot/send;
        admin API under /_sandbox/ (see the sandbox README).
        """
        try:
            config = SandboxConfig(
                app_key=app_key,
                app_secret=app_secret,
                process_code=process_code,
                seed_instances=seed_instances,
                random_seed=random_seed,
                faults=parse_faults(faults),
                latency_ms=parse_latency(latency),
                qps=qps,
                monthly_quota=monthly_quota,
                token_ttl_s=token_ttl,
                robot_token=robot_token,
                robot_secret=robot_secret,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        server = ServerThread(create_app(config), host=host, port=port, log_level="warning")
        banner = [
            f"DingTalk sandbox: {server.url}  (oapi and v1.0 paths; admin: {server.url}/_sandbox/)",
            f"  app key {app_key}, process code {process_code}; {seed_instances} seeded instances",
            f"  {qps} calls/s per API, {monthly_quota} metered calls/month, token ttl {token_ttl}s",
            f"  robot: {server.url}/robot/send?access_token={robot_token}",
        ]
        serve_sandbox(server, "DingTalk", banner, config.faults)
