"""``ferry apis``: how each API of each connection was used over a period, and where each quota stands.

Per (connection, API): calls, metered calls, errors by code, throttles (each a one-second pause of the
limiter), p50/p95/p99 latency; per connection: DingTalk's monthly quota (used, left, forecast and
advice), Kingdee's logins, lost sessions and concurrency step-downs, a REST connection's declared limits.
Rolls up finished hours first, so the figures last past the raw calls' retention.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ferry.cli.common import ConnectionsOption, DatabaseOption, connections_path, open_ledger, out
from ferry.cli.output import emit_json, since
from ferry.errors import UsageError

if TYPE_CHECKING:
    from ferry.observe.usage import ApiReport

_PERIOD = re.compile(r"^(\d+)\s*([hdw])$")
_UNIT = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}


def period_start(period: str, now: dt.datetime) -> dt.datetime:
    """The start of ``--period`` (``24h``, ``7d``, ``2w`` or ``month``) before ``now``."""
    from ferry.observe.usage import month_bounds

    if period.strip().lower() == "month":
        return month_bounds(now)[0]
    found = _PERIOD.match(period.strip().lower())
    if not found or int(found.group(1)) == 0:
        raise UsageError(f"--period must look like 24h, 7d, 2w or month, got {period!r}")
    return now - int(found.group(1)) * _UNIT[found.group(2)]


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _print(report: ApiReport) -> None:
    data = report.as_dict()
    by_connection: dict[str, list[dict[str, Any]]] = {}
    for a in data["apis"]:
        by_connection.setdefault(a["connection"], []).append(a)
    for connection, rows in by_connection.items():
        # one table per connection, so the API name gets the width in 80 columns
        table = Table(title=connection, title_justify="left", pad_edge=False, caption_justify="left")
        table.add_column("api", overflow="fold", ratio=1)
        for name in ("calls", "metered", "errors", "thr.", "p50", "p95", "p99"):
            table.add_column(name, justify="right", no_wrap=True)
        for a in rows:
            codes = ", ".join(f"{c} ×{n}" for c, n in a["errors_by_code"].items())
            lat = a["latency_ms"]
            table.add_row(
                a["api"] + (f"\n[dim]{escape(codes)}[/dim]" if codes else ""),
                f"{a['calls']:,}",
                f"{a['metered']:,}",
                f"{a['errors']:,}",
                f"{a['throttles']:,}",
                _ms(lat["p50"]),
                _ms(lat["p95"]),
                _ms(lat["p99"]),
            )
        out.print(table)
    if data["apis"]:
        out.print("latency in ms; thr. = throttled (each cost the limiter a one-second pause)", style="dim")
    else:
        out.print("no API calls in this period")
    for q in data["quotas"]:
        out.print(_quota_line(q), markup=False)
        for line in q.get("advice", []):
            out.print(f"  - {line}", markup=False)


def _quota_line(q: dict[str, Any]) -> str:
    if q["type"] == "dingtalk":
        end = f", runs out on {q['runs_out_on']}" if q["runs_out_on"] else ""
        return (
            f"{q['connection']}: {q['used']:,} of {q['allowance']:,} metered calls used in {q['month']}, "
            f"{q['left']:,} left; {q['rate_per_day']:,} a day, forecast {q['forecast']:,}{end}"
        )
    if q["type"] == "kingdee":
        logins = sum(q["logins_per_day"].values())
        days = len(q["logins_per_day"])
        return (
            f"{q['connection']}: {logins} logins ({days} day{'' if days == 1 else 's'}), "
            f"{q['sessions_lost']} sessions lost, {q['concurrency_step_downs']} concurrency step-downs"
        )
    shown = ", ".join(f"{k} {q['peak'].get(k, 0):g} of {v:g}" for k, v in q["declared"].items())
    return f"{q['connection']}: busiest use against its limits: {shown}"


def register(app: typer.Typer) -> None:
    @app.command("apis")
    def apis(
        since_at: Annotated[
            str | None, typer.Option("--since", help="From this ISO time (instead of --period).")
        ] = None,
        period: Annotated[
            str, typer.Option("--period", help="How far back: 24h, 7d, 2w or month (this quota month).")
        ] = "24h",
        connection: Annotated[
            str | None, typer.Option("--connection", "-c", help="Only this connection.")
        ] = None,
        scheme_paths: Annotated[
            list[Path] | None,
            typer.Option("--scheme", help="Schemes whose schedules the advice weighs (repeatable)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        db: Annotated[str | None, DatabaseOption] = None,
        connections: Annotated[Path | None, ConnectionsOption] = None,
    ) -> None:
        """Calls, errors, throttles and latency per API, and each connection's quota."""
        from ferry.connectors.settings import read_connections
        from ferry.observe.usage import api_report, connection_infos
        from ferry.scheme import load_scheme

        now = dt.datetime.now(dt.UTC)
        start = since(since_at) if since_at else period_start(period, now)
        assert start is not None
        # read for their quotas and limits only: a secret that is not set here does not matter
        path = connections_path(connections)
        if path is not None and not path.is_file():
            raise UsageError(f"connections file {path} does not exist")
        path = path or Path("connections.yaml")
        conns = read_connections(path).entries if path.is_file() else {}
        schemes = [load_scheme(p) for p in scheme_paths or []]
        infos = connection_infos(conns, schemes)
        ledger = open_ledger(db)
        try:
            ledger.rollup_api_calls()
            report = api_report(ledger, infos, since=start, now=now, connection=connection)
        finally:
            ledger.close()
        if as_json:
            emit_json(report.as_dict())
            return
        _print(report)
