"""``ferry quality report``: findings by rule, records held for review, top payees, Benford per scheme."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from ferry.cli.common import DatabaseOption, open_ledger, out
from ferry.cli.output import emit_json

quality_app = typer.Typer(help="Data quality: findings, holds and reports.", no_args_is_help=True)


@quality_app.command("report")
def quality_report(
    scheme: Annotated[str | None, typer.Option("--scheme", "-s", help="Only this scheme.")] = None,
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: this month).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Findings by rule, records waiting for review (待复核) and their age, top payees by findings, and
    Benford's first-digit test of the month's amounts per scheme."""
    from ferry.quality.report import report_of

    now = dt.datetime.now(dt.UTC)
    ledger = open_ledger(db)
    try:
        report = report_of(ledger, scheme, month, now)
    finally:
        ledger.close()
    if as_json:
        emit_json(report)
        return
    f = report["findings"]
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(f["by_verdict"].items())) or "none"
    out.print(f"[bold]quality report {report['month']}[/bold]  findings: {f['total']} ({verdicts})")
    if f["by_rule"]:
        table = Table(title="findings by rule", pad_edge=False)
        table.add_column("rule", overflow="fold")
        table.add_column("findings", justify="right")
        table.add_column("days", overflow="fold", ratio=1)
        for rule, counts in f["by_rule"].items():
            spread = ", ".join(f"{d[5:]}:{n}" for d, n in zip(f["days"], counts, strict=True) if n)
            table.add_row(rule, str(sum(counts)), spread)
        out.print(table)
    held = report["held"]
    out.print(f"[bold]held for review[/bold]: {len(held)}")
    for h in held:
        matched = f" (matches record {', '.join(map(str, h['matched']))})" if h.get("matched") else ""
        out.print(
            f"  {h['id']}  {h['scheme']}  {h['number'] or h['source_id']}  {h['age_hours']}h  "
            f"{h['reason'] or ''}{matched}",
            markup=False,
        )
    if report["top_payees"]:
        out.print("[bold]top payees by findings[/bold]")
        for p in report["top_payees"]:
            out.print(f"  {p['findings']:>5}  {p['payee']}", markup=False)
    for name, b in report["benford"].items():
        observed = " ".join(f"{o:.2f}" for o in b["observed"])
        out.print(
            f"Benford {name}: n={b['n']} MAD={b['mad']:.4f} ({b['conformity']}); "
            f"first digits 1-9: {observed}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(quality_app, name="quality")
