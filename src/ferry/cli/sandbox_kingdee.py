"""`ferry sandbox kingdee`: run the Kingdee sandbox as a server."""

from __future__ import annotations

import typer

from ferry.cli.sandbox_serve import serve_sandbox
from ferry.sandbox.kingdee import (
    DEFAULT_ACCT_ID,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    FAULT_NAMES,
    KingdeeSandbox,
    SandboxConfig,
    parse_faults,
    parse_latency,
)
from ferry.sandbox.serve import ServerThread


def register(app: typer.Typer) -> None:
    """Add the `kingdee` command to the `ferry sandbox` group."""

    @app.command("kingdee")
    def kingdee(
        port: int = typer.Option(8700, "--port", help="TCP port to listen on (0 = any free port)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
        acct_id: str = typer.Option(DEFAULT_ACCT_ID, "--acct-id", help="Data-centre id (acctID) accepted."),
        username: str = typer.Option(DEFAULT_USERNAME, "--username", help="User name accepted."),
        password: str = typer.Option(DEFAULT_PASSWORD, "--password", help="Password for ValidateUser."),
        app_id: str = typer.Option(
            DEFAULT_APP_ID,
            "--app-id",
            help="Third-party app id, '<clientId>_<32 base64 chars>' as the SDK expects.",
        ),
        app_secret: str = typer.Option(DEFAULT_APP_SECRET, "--app-secret", help="Third-party app secret."),
        seed_bills: int = typer.Option(
            0, "--seed-bills", help="Audited payment requests (CN_PAYAPPLY) to seed."
        ),
        random_seed: int | None = typer.Option(
            None, "--random-seed", help="Seed for data, faults and latency."
        ),
        faults: str = typer.Option(
            "", "--faults", help=f"NAME=RATE,... with NAME in {', '.join(FAULT_NAMES)} and RATE in [0, 1]."
        ),
        latency: str = typer.Option("0-0", "--latency", help="Added latency per call, MIN-MAX milliseconds."),
        session_ttl: float = typer.Option(
            1200.0, "--session-ttl", help="Sliding idle session lifetime, seconds."
        ),
        legacy_envelopes: bool = typer.Option(
            False, "--legacy-envelopes", help="Answer like older servers: no MsgCode, no empty arrays."
        ),
    ) -> None:
        """Run a faithful Kingdee Cloud Galaxy WebAPI sandbox until Ctrl-C or SIGTERM.

        The WebAPI is under /k3cloud/, the admin API under /_sandbox/ (see its index at GET /_sandbox/).
        """
        try:
            fault_rates = parse_faults(faults)
            latency_ms = parse_latency(latency)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        config = SandboxConfig(
            acct_id=acct_id,
            username=username,
            password=password,
            app_id=app_id,
            app_secret=app_secret,
            session_ttl=session_ttl,
            seed_bills=seed_bills,
            random_seed=random_seed,
            faults=fault_rates,
            latency_ms=latency_ms,
            envelope_style="legacy" if legacy_envelopes else "modern",
        )
        server = ServerThread(KingdeeSandbox(config), host=host, port=port, log_level="warning")
        banner = [
            f"Kingdee sandbox: {server.url}/k3cloud/  (admin: {server.url}/_sandbox/)",
            f"  acct id {acct_id}, user {username}, app id {app_id}; session ttl {session_ttl:g}s",
        ]
        if seed_bills:
            banner.append(f"  seeded {seed_bills} audited payment requests (CN_PAYAPPLY)")
        serve_sandbox(server, "Kingdee", banner, fault_rates)
