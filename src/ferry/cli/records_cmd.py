"""``ferry records ls|show|retry|skip|hold|release|reject`` and ``ferry runs ls``: reading and steering
the ledger.

Steering goes through :meth:`Ledger.set_status`, which never touches a record under a live lease and
records every move as an event with its reason. ``records replay`` lives in :mod:`.replay_cmd`.
Every list and show takes ``--json``; text output fits 80 columns and never cuts a reason. Review of
held records (待复核) goes through the ledger's ``hold_records``/``release_held``/``reject_held``,
which record who, when and why.
"""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ferry.cli.common import DatabaseOption, fail, open_ledger, out
from ferry.cli.output import (
    emit_json,
    event_dict,
    event_error,
    record_dict,
    run_dict,
    since,
    statuses,
    when,
)

if TYPE_CHECKING:
    from ferry.store import RecordRow

records_app = typer.Typer(help="Read and steer records in the ledger.", no_args_is_help=True)
runs_app = typer.Typer(help="Collect and dispatch runs.", no_args_is_help=True)

StatusOption = typer.Option(
    "--status", help="Only these statuses (repeatable or comma-separated), e.g. dead,quarantined."
)


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _status(row: RecordRow) -> str:
    return row.status + (" (draft)" if row.draft else "")


@records_app.command("ls")
def records_ls(
    scheme: Annotated[str | None, typer.Option("--scheme", "-s", help="Only this scheme.")] = None,
    status: Annotated[list[str] | None, StatusOption] = None,
    find: Annotated[
        str | None,
        typer.Option(
            "--find",
            "-f",
            help="Find by any business key: source id, approval number, target id or number "
            "(a Kingdee bill number), or text in the content.",
        ),
    ] = None,
    number: Annotated[
        str | None, typer.Option("--number", help="Only this business number, exactly.")
    ] = None,
    since_at: Annotated[
        str | None, typer.Option("--since", help="Only records changed at or after this ISO time.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as a JSON list.")] = False,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """List records, newest first: filter by scheme, status and time, or find one by any key."""
    wanted = statuses(status)
    moment = since(since_at)
    ledger = open_ledger(db)
    try:
        if find:
            rows = ledger.search(find, scheme=scheme, statuses=wanted, since=moment, limit=limit)
            if number:
                rows = [r for r in rows if r.number == number]
        else:
            rows = ledger.list_records(scheme=scheme, status=wanted, number=number, since=moment, limit=limit)
        counts = ledger.counts(scheme)
    finally:
        ledger.close()
    if as_json:
        emit_json([record_dict(r) for r in rows])
        return
    table = Table(show_lines=False, pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    if scheme is None:
        table.add_column("scheme", overflow="fold")
    table.add_column("source / number", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("target", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    for r in rows:
        key = r.source_id if not r.number or r.number == r.source_id else f"{r.source_id}\n{r.number}"
        cells = [str(r.id), *([r.scheme] if scheme is None else []), key]
        tries = f" ×{r.attempts}" if r.attempts > 1 else ""
        cells += [_status(r) + tries, r.target_number or r.target_id or "", r.reason or ""]
        table.add_row(*cells)
    if rows:
        out.print(table)
    elif find:
        out.print(f"no record matches {find!r}", markup=False)
    out.print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no records")


@records_app.command("show")
def records_show(
    record_id: Annotated[int, typer.Argument(help="The record's ledger id (see `ferry records ls`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the record and its events as JSON.")] = False,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Show a record's story: status and reason, errors, request, response and every event, then the
    source payload."""
    ledger = open_ledger(db)
    try:
        row = ledger.get_by_id(record_id)
        if row is None:
            raise fail(f"no record with id {record_id}")
        events = ledger.history(record_id)
        found = ledger.findings_of(record_id)
    finally:
        ledger.close()
    if as_json:
        emit_json(
            {
                "record": record_dict(row),
                "events": [event_dict(e) for e in events],
                "findings": [f.as_dict() for f in found],
            }
        )
        return
    out.print(
        f"[bold]record {row.id}[/bold]  {row.scheme}  source {row.source_id}  number {row.number or '-'}"
    )
    out.print(f"status: {_status(row)}   attempts: {row.attempts}")
    out.print(f"reason: {row.reason or '-'}", markup=False)
    if row.last_error_type:
        out.print(
            f"last error: {row.last_error_type} code={row.last_error_code} {row.last_error_message}",
            markup=False,
        )
    if row.next_attempt_at:
        out.print(f"next attempt: {when(row.next_attempt_at)}")
    out.print(f"target: id {row.target_id or '-'}  number {row.target_number or '-'}")
    errors = [(e, event_error(e)) for e in events if event_error(e)]
    if errors:
        out.print("[bold]errors, one per attempt[/bold]")
        for e, text in errors:
            out.print(f"  {when(e.at)}  {text}", markup=False)
    if found:
        out.print("[bold]findings[/bold]")
        for f in found:
            settled = f" [{f.resolution} by {f.resolved_by}: {f.resolved_reason}]" if f.resolution else ""
            matched = f" (matches record {', '.join(map(str, f.matched))})" if f.matched else ""
            out.print(f"  {when(f.at)}  {f.verdict} {f.rule}: {f.message}{matched}{settled}", markup=False)
    out.print("[bold]rendered request[/bold]")
    out.print(_dump(row.request), markup=False)
    out.print("[bold]target response[/bold]")
    out.print(_dump(row.response), markup=False)
    table = Table(title="events", pad_edge=False)
    table.add_column("at", no_wrap=True)
    table.add_column("from → to", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    for e in events:
        table.add_row(when(e.at), f"{e.from_status or '·'} → {e.to_status}", e.reason or "")
    out.print(table)
    out.print("[bold]source content[/bold]")
    out.print(_dump(row.content), markup=False)


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
    from ferry.engine.steer import RETRY_REASON, RETRYABLE

    _steer(ids, "pending", RETRY_REASON, list(RETRYABLE), db)


@records_app.command("skip")
def records_skip(
    ids: Annotated[list[int], typer.Argument(help="Record ids.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (kept in the record's story).")
    ] = "skipped by hand",
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Mark records as skipped so dispatch leaves them alone."""
    from ferry.engine.steer import SKIPPABLE

    _steer(ids, "skipped", reason, list(SKIPPABLE), db)


ByOption = typer.Option("--by", help="Who decides (kept in the record's story; default: your user name).")


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container)
        return "cli"


def _review(ids: list[int], action: str, reason: str, by: str | None, db: str | None) -> None:
    ledger = open_ledger(db)
    try:
        move = {"hold": ledger.hold_records, "release": ledger.release_held, "reject": ledger.reject_held}
        n = move[action](ids, _who(by), reason)
    finally:
        ledger.close()
    past = {"hold": "held", "release": "released", "reject": "rejected"}[action]
    out.print(f"{n} record(s) {past}")
    if n < len(set(ids)):
        what = "pending, failed, quarantined or dead" if action == "hold" else "held"
        out.print(f"{len(set(ids)) - n} left as they were (not {what}, or being dispatched)")


@records_app.command("hold")
def records_hold(
    ids: Annotated[list[int], typer.Argument(help="Record ids.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (kept in the record's story).")
    ] = "held by hand",
    by: Annotated[str | None, ByOption] = None,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Hold records for review (待复核): dispatch leaves them alone until released or rejected."""
    _review(ids, "hold", reason, by, db)


@records_app.command("release")
def records_release(
    ids: Annotated[list[int], typer.Argument(help="Record ids.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it may be paid (required).")],
    by: Annotated[str | None, ByOption] = None,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Release held records: dispatched again; the findings released only warn from then on."""
    _review(ids, "release", reason, by, db)


@records_app.command("reject")
def records_reject(
    ids: Annotated[list[int], typer.Argument(help="Record ids.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it must not be paid (required).")],
    by: Annotated[str | None, ByOption] = None,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Reject held records: skipped, never sent."""
    _review(ids, "reject", reason, by, db)


@runs_app.command("ls")
def runs_ls(
    scheme: Annotated[str | None, typer.Option("--scheme", "-s")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as a JSON list.")] = False,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """List recent collect and dispatch runs, newest first."""
    ledger = open_ledger(db)
    try:
        runs = ledger.list_runs(scheme, limit=limit)
    finally:
        ledger.close()
    if as_json:
        emit_json([run_dict(r) for r in runs])
        return
    table = Table(pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    if scheme is None:
        table.add_column("scheme", overflow="fold")
    table.add_column("run", overflow="fold")
    table.add_column("started", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("figures / error", overflow="fold", ratio=1)
    for r in runs:
        d = run_dict(r)
        took = f"\n{d['seconds']:.1f}s" if d["seconds"] is not None else ""
        figures = ", ".join(f"{k} {v}" for k, v in d["counts"].items() if v)
        cells = [str(r.id), *([r.scheme] if scheme is None else [])]
        cells += [f"{r.kind}\n{r.trigger}", when(r.started_at) + took, r.status, r.error or figures]
        table.add_row(*cells)
    out.print(table)


def register(app: typer.Typer) -> None:
    from ferry.cli import replay_cmd

    replay_cmd.register(records_app)
    app.add_typer(records_app, name="records")
    app.add_typer(runs_app, name="runs")
