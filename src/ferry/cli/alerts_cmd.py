"""``ferry alerts ls|test|silence|unsilence|check|schema``: see and steer alerts from the command line.

Rules and channels come from ``alerts.yaml`` (``--rules``: the file or the schemes folder holding it; by
default ./alerts.yaml when there is one, else the built-in rules). Secrets resolve as connections' do: the
environment first, then the secrets file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ferry.cli.common import DatabaseOption, fail, open_ledger, out

alerts_app = typer.Typer(help="Alerts: what fires, where it goes, silences.", no_args_is_help=True)

RulesOption = typer.Option(
    "--rules", help="alerts.yaml, or the schemes folder holding it (default: ./alerts.yaml if present)."
)


def secret_lookup() -> Any:
    """``${VAR}`` lookup for alerts.yaml: the environment, then the secrets file (as for connections)."""
    from ferry.connectors.secrets import Resolver, secrets_path

    return Resolver(os.environ, secrets_path(os.environ)).lookup


def load(path: Path | None) -> Any:
    from ferry.observe.alerts import load_rules

    if path is None and Path("alerts.yaml").exists():
        path = Path("alerts.yaml")
    return load_rules(path, lookup=secret_lookup())


def alert_service_for(ledger: Any, folder: Path | None, schemes: Any, connections: Any) -> Any:
    """The :class:`~ferry.observe.alerts.AlertService` ``ferry serve`` runs beside the schedules:
    ``alerts.yaml`` from the schemes folder (or the defaults), each DingTalk connection's ``monthly_quota``
    as its allowance, each scheme's interval for ``scheme_late``. Run it with
    ``asyncio.create_task(service.run(stop, every_s=10))``."""
    from ferry.observe.alerts import AlertService, load_rules, scheme_intervals

    rules = load_rules(folder if folder is not None and folder.is_dir() else None, lookup=secret_lookup())
    rules.use_allowances(
        {
            name: int(c.settings.get("monthly_quota", 5000))
            for name, c in dict(connections).items()
            if c.type == "dingtalk"
        }
    )
    return AlertService(ledger, rules, intervals=scheme_intervals(schemes))


def parse_duration(text: str) -> dt.timedelta:
    from ferry.observe.alerts.rules import seconds

    try:
        return dt.timedelta(seconds=float(seconds(text)))
    except ValueError as e:
        raise fail(f"--for: {e}") from None


@alerts_app.command("ls")
def alerts_ls(
    state: Annotated[
        str, typer.Option("--state", help="firing, resolved, silenced (muted) or all.")
    ] = "firing",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """List alerts (firing by default) and the silences in force."""
    from ferry.observe.alerts import AlertBook

    if state not in ("firing", "resolved", "silenced", "all"):
        raise fail(f"--state must be firing, resolved, silenced or all, not {state!r}")
    ledger = open_ledger(db)
    try:
        book = AlertBook(ledger)
        rows = book.list_alerts(None if state == "all" else state)
        silences = book.silences(dt.datetime.now(dt.UTC))
    finally:
        ledger.close()
    if as_json:
        out.print(
            json.dumps({"alerts": rows, "silences": silences}, ensure_ascii=False, default=str, indent=2),
            markup=False,
        )
        return
    if not rows:
        out.print(f"no {state} alerts" if state != "all" else "no alerts", markup=False)
    for r in rows:
        mark = f" ({r['muted']})" if r["muted"] else ""
        when = r["started_at"].strftime("%Y-%m-%d %H:%M")
        out.print(f"{r['state']}{mark} {r['severity']} {when} {r['rule']}: {r['summary']}", markup=False)
    for s in silences:
        matchers = " ".join(f"{k}={v}" for k, v in s["matchers"].items())
        out.print(
            f"silence {s['id']} until {s['ends_at']:%Y-%m-%d %H:%M} UTC: {matchers} ({s['created_by']})",
            markup=False,
        )


@alerts_app.command("test")
def alerts_test(
    channel: Annotated[str, typer.Argument(help="A channel's name in alerts.yaml.")],
    rules: Annotated[Path | None, RulesOption] = None,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Send a test message to one channel now."""
    from ferry.observe.alerts import AlertService

    decided = load(rules)
    ledger = open_ledger(db)
    try:
        error = asyncio.run(AlertService(ledger, decided).test(channel))
    finally:
        ledger.close()
    if error:
        raise fail(error)
    out.print(f"sent a test message to {channel}", markup=False)


@alerts_app.command("silence")
def alerts_silence(
    matchers: Annotated[
        list[str], typer.Argument(help="label=value pairs, e.g. scheme=pay rule=record_dead.")
    ],
    for_: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d.")] = "2h",
    comment: Annotated[str, typer.Option("--comment", help="Why (shown on the console).")] = "",
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Mute the alerts whose labels hold every matcher, until the time is up."""
    from ferry.observe.alerts import AlertBook

    pairs: dict[str, str] = {}
    for m in matchers:
        key, sep, value = m.partition("=")
        if not sep or not key:
            raise fail(f"{m!r} is not label=value (labels: rule, scheme, connection, record)")
        pairs[key] = value
    now = dt.datetime.now(dt.UTC)
    ends = now + parse_duration(for_)
    ledger = open_ledger(db)
    try:
        silence_id = AlertBook(ledger).silence(
            pairs, ends, by=f"cli:{getpass.getuser()}", comment=comment, now=now
        )
    finally:
        ledger.close()
    out.print(f"silence {silence_id} until {ends:%Y-%m-%d %H:%M} UTC", markup=False)


@alerts_app.command("unsilence")
def alerts_unsilence(
    silence_id: Annotated[int, typer.Argument(help="The silence's id (ferry alerts ls shows it).")],
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """End a silence now."""
    from ferry.observe.alerts import AlertBook

    ledger = open_ledger(db)
    try:
        ended = AlertBook(ledger).unsilence(silence_id, now=dt.datetime.now(dt.UTC))
    finally:
        ledger.close()
    if not ended:
        raise fail(f"no silence {silence_id} in force")
    out.print(f"silence {silence_id} ended", markup=False)


@alerts_app.command("check")
def alerts_check(rules: Annotated[Path | None, RulesOption] = None) -> None:
    """Check alerts.yaml: every problem with file:line, and the rules and channels it decides."""
    decided = load(rules)
    for r in decided.rules:
        out.print(f"rule {r.name} ({r.kind}, {r.severity})", markup=False)
    for c in decided.channels:
        out.print(f"channel {c.name} ({c.type})", markup=False)


@alerts_app.command("schema")
def alerts_schema() -> None:
    """Print alerts.yaml's JSON Schema."""
    from ferry.observe.alerts.schema import alerts_json_schema

    typer.echo(json.dumps(alerts_json_schema(), ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
