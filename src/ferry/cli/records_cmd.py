"""``ferry records ls|show|retry|skip|replay`` and ``ferry runs ls``: reading and steering the ledger.

Steering goes through :meth:`Ledger.set_status`, which never touches a record under a live lease and
records every move as an event with its reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ferry.cli.common import DatabaseOption, fail, open_ledger, out

if TYPE_CHECKING:
    from ferry.store import EventRow, Ledger, RecordRow

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
    for col in ("at", "from", "to", "reason", "error"):
        table.add_column(col)
    for e in events:
        table.add_row(
            e.at.isoformat(timespec="seconds"), e.from_status or "", e.to_status, e.reason or "", _error(e)
        )
    out.print(table)


def _error(event: EventRow) -> str:
    """The error an attempt ended with, from the event's detail: ``type code=... message``."""
    detail = event.detail or {}
    parts = [
        str(detail["error_type"]) if detail.get("error_type") else "",
        f"code={detail['error_code']}" if detail.get("error_code") else "",
        str(detail["error_message"]) if detail.get("error_message") else "",
    ]
    return " ".join(p for p in parts if p)


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


#: statuses a replay may send back to ``pending`` (``records replay``)
REPLAYABLE = ("dead", "quarantined", "skipped", "failed")
#: what ``records replay`` takes when no ``--status`` is given
REPLAY_DEFAULT = ("dead", "quarantined")
REPLAY_REASON = "replayed by hand"
_NOT_REPLAYABLE = {
    "in_doubt": "in doubt: settled by the probe automatically (found -> written, not found -> resent)",
    "writing": "being written under a lease",
    "written": "already written",
    "pending": "already pending",
    "watching": "still watched at the source",
}


def _statuses(values: Sequence[str] | None) -> tuple[str, ...]:
    """``--status dead --status failed`` or ``--status dead,failed``; refuse what must not be replayed."""
    if not values:
        return REPLAY_DEFAULT
    wanted = tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))
    if "in_doubt" in wanted:
        raise fail(
            "in_doubt records are not replayed: the target may already hold them. The next dispatch "
            "settles each one with the probe automatically (found -> written, not found -> sent "
            "again); without a probe they stay in doubt until a person checks the target "
            "(`ferry records show ID`)",
            2,
        )
    wrong = [v for v in wanted if v not in REPLAYABLE]
    if wrong:
        raise fail(f"cannot replay status {', '.join(wrong)}: replayable are {', '.join(REPLAYABLE)}", 2)
    return wanted


def _since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            f"--since must be an ISO 8601 time such as 2024-05-01T08:00:00+08:00, got {value!r}", 2
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _replay_candidates(
    ledger: Ledger,
    ids: Sequence[int],
    *,
    scheme: str | None,
    statuses: tuple[str, ...],
    number: str | None,
    since: dt.datetime | None,
    limit: int,
) -> tuple[list[RecordRow], list[tuple[int, str]], bool]:
    """The records a replay would move (at most ``limit``), the named ids it leaves out with the
    reason why, and whether more records matched than ``limit``."""

    def matches(row: RecordRow) -> bool:
        return (
            (scheme is None or row.scheme == scheme)
            and (number is None or row.number == number)
            and (since is None or _aware(row.updated_at) >= since)
        )

    chosen: list[RecordRow] = []
    left_out: list[tuple[int, str]] = []
    if ids:
        for record_id in dict.fromkeys(ids):
            row = ledger.get_by_id(record_id)
            if row is None:
                left_out.append((record_id, "no such record"))
            elif row.status not in statuses:
                why = _NOT_REPLAYABLE.get(row.status, f"status {row.status} not asked for")
                left_out.append((record_id, why))
            elif not matches(row):
                left_out.append((record_id, "does not match the filter"))
            else:
                chosen.append(row)
        return chosen[:limit], left_out, len(chosen) > limit
    # a filter: page through newest first; nothing moves until the whole list is known
    offset, page = 0, 500
    while len(chosen) <= limit:
        rows = ledger.list_records(
            scheme=scheme, status=list(statuses), number=number, limit=page, offset=offset
        )
        chosen.extend(r for r in rows if matches(r))
        if len(rows) < page:
            break
        offset += page
    return chosen[:limit], left_out, len(chosen) > limit


@records_app.command("replay")
def records_replay(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Record ids; leave out to replay by filter.")
    ] = None,
    scheme: Annotated[str | None, typer.Option("--scheme", "-s", help="Only this scheme.")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Statuses to replay (repeatable or comma-separated): dead, quarantined, skipped, failed. "
            "Default: dead and quarantined.",
        ),
    ] = None,
    number: Annotated[str | None, typer.Option("--number", help="Only this business number.")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only records that last changed at or after this ISO time (UTC if no offset)."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Replay at most this many (newest first).")
    ] = 1000,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be replayed.")] = False,
    db: Annotated[str | None, DatabaseOption] = None,
) -> None:
    """Send dead or quarantined records (or skipped, failed) back through dispatch, singly or by filter.

    A replayed record is pending again with its attempts reset; the next dispatch writes it through the
    same idempotent path, and its story shows "replayed by hand". In-doubt records are never replayed:
    the probe settles them. Records being written under a lease are left alone.
    """
    statuses = _statuses(status) if status or not ids else REPLAYABLE
    if not ids and scheme is None and status is None and number is None and since is None:
        raise fail("name record ids or a filter (--scheme, --status, --number, --since)", 2)
    since_at = _since(since)
    ledger = open_ledger(db)
    try:
        chosen, left_out, more = _replay_candidates(
            ledger, ids or [], scheme=scheme, statuses=statuses, number=number, since=since_at, limit=limit
        )
        moved: set[int] = set()
        if chosen and not dry_run:
            n = ledger.set_status(
                [r.id for r in chosen],
                "pending",
                REPLAY_REASON,
                only_from=list(statuses),
                reset_attempts=True,
            )
            if n == len(chosen):
                moved = {r.id for r in chosen}
            else:
                # something changed a record between the listing and the move (a claim took a
                # failed record): report only what really moved
                for r in chosen:
                    now_row = ledger.get_by_id(r.id)
                    if (
                        now_row is not None
                        and now_row.status == "pending"
                        and now_row.reason == REPLAY_REASON
                    ):
                        moved.add(r.id)
                    else:
                        left_out.append(
                            (r.id, f"changed meanwhile (now {now_row.status if now_row else 'gone'})")
                        )
    finally:
        ledger.close()
    shown = chosen if dry_run else [r for r in chosen if r.id in moved]
    table = Table(title="would be replayed (dry run)" if dry_run else "replayed")
    for col in ("id", "scheme", "source id", "number", "old status"):
        table.add_column(col, overflow="fold")
    for r in shown:
        table.add_row(str(r.id), r.scheme, r.source_id, r.number or "", r.status)
    if shown:
        out.print(table)
    for record_id, why in left_out:
        out.print(f"left out {record_id}: {why}")
    if dry_run:
        out.print(f"{len(shown)} record(s) would be replayed (dry run: nothing changed)")
    else:
        out.print(f"{len(shown)} record(s) replayed: pending, attempts reset")
    if more:
        out.print(f"more records match: stopped at --limit {limit}")


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
