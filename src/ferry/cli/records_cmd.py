"""``ferry records ls|show|retry|skip|replay`` and ``ferry runs ls``: reading and steering the ledger."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from ferry.cli.common import DatabaseOption, fail, open_ledger, out

records_app = typer.Typer(help="Read and steer records in the ledger.", no_args_is_help=True)
runs_app = typer.Typer(help="Collect and dispatch runs.", no_args_is_help=True)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


@records_app.command("ls")
def records_ls(
    scheme: Annotated[str | None, typer.Option("--scheme", "-s")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    number: Annotated[str | None, typer.Option("--number")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """List records, newest first, filtered by scheme, status or business number."""
    ledger = open_ledger(db)
    try:
        rows = ledger.list_records(scheme=scheme, status=status, number=number, limit=limit)
        counts = ledger.counts(scheme)
    finally:
        ledger.close()
    table = Table()
    for col in ("id", "scheme", "source id", "number", "status", "attempts", "target", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.id),
            r.scheme,
            r.source_id,
            r.number or "",
            r.status + (" (draft)" if r.draft else ""),
            str(r.attempts),
            r.target_number or r.target_id or "",
            (r.reason or "")[:80],
        )
    out.print(table)
    out.print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no records")


@records_app.command("show")
def records_show(
    record_id: Annotated[int, typer.Argument(help="The record's ledger id (see `ferry records ls`).")],
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Show a record's source content, rendered request, target response and every event."""
    ledger = open_ledger(db)
    try:
        row = ledger.get_by_id(record_id)
        if row is None:
            raise fail(f"no record with id {record_id}")
        events = ledger.history(record_id)
    finally:
        ledger.close()
    out.print(
        f"[bold]record {row.id}[/bold] scheme={row.scheme} source_id={row.source_id} number={row.number}"
    )
    out.print(
        f"status: {row.status}{' (draft)' if row.draft else ''}  attempts: {row.attempts}  reason: {row.reason or '-'}"
    )
    if row.last_error_type:
        out.print(f"last error: {row.last_error_type} code={row.last_error_code} {row.last_error_message}")
    out.print(f"target: id={row.target_id} number={row.target_number}")
    out.print("[bold]source content[/bold]")
    out.print(_dump(row.content), markup=False)
    out.print("[bold]rendered request[/bold]")
    out.print(_dump(row.request), markup=False)
    out.print("[bold]target response[/bold]")
    out.print(_dump(row.response), markup=False)
    table = Table(title="events")
    for col in ("at", "from", "to", "reason"):
        table.add_column(col)
    for e in events:
        table.add_row(e.at.isoformat(timespec="seconds"), e.from_status or "", e.to_status, e.reason or "")
    out.print(table)


def _steer(ids: list[int], status: str, reason: str, only_from: list[str] | None, db: str | None) -> None:
    ledger = open_ledger(db)
    try:
        n = ledger.set_status(ids, status, reason, only_from=only_from, reset_attempts=status == "pending")
    finally:
        ledger.close()
    out.print(f"{n} record(s) set to {status}")


@records_app.command("retry")
def records_retry(
    ids: Annotated[list[int], typer.Argument(help="Record ids.")],
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Send failed, dead or quarantined records through dispatch again (attempts reset)."""
    _steer(ids, "pending", "retry requested by hand", ["failed", "dead", "quarantined", "skipped"], db)


@records_app.command("skip")
def records_skip(
    ids: Annotated[list[int], typer.Argument(help="Record ids.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (kept in the record's story).")
    ] = "skipped by hand",
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Mark records as skipped so dispatch leaves them alone."""
    _steer(ids, "skipped", reason, ["pending", "failed", "dead", "quarantined", "in_doubt"], db)


@runs_app.command("ls")
def runs_ls(
    scheme: Annotated[str | None, typer.Option("--scheme", "-s")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """List recent collect and dispatch runs."""
    ledger = open_ledger(db)
    try:
        runs = ledger.list_runs(scheme, limit=limit)
    finally:
        ledger.close()
    table = Table()
    for col in ("id", "scheme", "kind", "trigger", "started", "seconds", "status", "counts", "error"):
        table.add_column(col)
    for r in runs:
        secs = f"{(r.ended_at - r.started_at).total_seconds():.2f}" if r.ended_at else ""
        table.add_row(
            str(r.id),
            r.scheme,
            r.kind,
            r.trigger,
            r.started_at.isoformat(timespec="seconds"),
            secs,
            r.status,
            json.dumps(r.counts or {}, ensure_ascii=False),
            (r.error or "")[:60],
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(records_app, name="records")
    app.add_typer(runs_app, name="runs")
