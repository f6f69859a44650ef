"""``ferry records replay``: send dead, quarantined or failed records through dispatch again, safely.

Safe replay, because a replayed record can become a payment:
- in-doubt records are never replayed (the probe settles them), nor records under a live lease;
- a record skipped because of its state at the source (a refused, revoked or cancelled approval, one
  that ran too long) is not replayed from the ledger: it is read again from the source and acted on
  in its fresh state (a refused approval stays skipped), which needs the scheme (``--scheme-file``);
  without it, such records are left out with the reason;
- a replay that moves more than one record says what it will do and asks first on a terminal
  (``--yes`` for scripts; without a terminal and without ``--yes`` it refuses).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ferry.cli.common import ConnectionsOption, DatabaseOption, connections_path, open_ledger, out
from ferry.cli.output import since as parse_since
from ferry.cli.output import statuses as parse_statuses
from ferry.errors import UsageError

if TYPE_CHECKING:
    from ferry.store import Ledger, RecordRow


def _steer() -> Any:
    """The replay rules, the engine's and shared with the console (imported when a command runs, so
    that `ferry --help` stays light)."""
    from ferry.engine import steer

    return steer


def _statuses(values: Sequence[str] | None) -> tuple[str, ...]:
    if not values:
        return tuple(_steer().REPLAY_DEFAULT)
    wanted = tuple(parse_statuses(values) or ())
    if "in_doubt" in wanted:
        raise UsageError(
            "in_doubt records are not replayed: the target may already hold them",
            hint="the next dispatch settles each one with the probe (found -> written, not found -> sent "
            "again); without a probe a person checks the target (`ferry records show ID`)",
        )
    wrong = [v for v in wanted if v not in _steer().REPLAYABLE]
    if wrong:
        raise UsageError(
            f"cannot replay status {', '.join(wrong)}: replayable are {', '.join(_steer().REPLAYABLE)}"
        )
    return wanted


def _candidates(
    ledger: Ledger,
    ids: Sequence[int],
    *,
    scheme: str | None,
    statuses: tuple[str, ...],
    number: str | None,
    since: Any,
    limit: int,
) -> tuple[list[RecordRow], list[tuple[int, str]], bool]:
    """The records a replay would move (at most ``limit``), the named ids it leaves out with the
    reason why, and whether more records matched than ``limit``."""

    def matches(row: RecordRow) -> bool:
        return (
            (scheme is None or row.scheme == scheme)
            and (number is None or row.number == number)
            and (since is None or row.updated_at >= since)
        )

    chosen: list[RecordRow] = []
    left_out: list[tuple[int, str]] = []
    if ids:
        for record_id in dict.fromkeys(ids):
            row = ledger.get_by_id(record_id)
            if row is None:
                left_out.append((record_id, "no such record"))
            elif row.status not in statuses:
                left_out.append(
                    (record_id, _steer().NOT_REPLAYABLE.get(row.status, f"status {row.status} not asked for"))
                )
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


def _confirm(count: int, yes: bool) -> None:
    if yes or count <= 1:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"this replay would move {count} records; pass --yes to confirm")
    if not typer.confirm(f"replay these {count} records?", default=False):
        raise typer.Exit(1)


def _reread(scheme_file: Path, connections: Path | None, db: str | None, rows: list[RecordRow]) -> list[str]:
    """Read source-skipped records again from their source and apply their fresh state; returns one
    line per record saying what happened."""
    from ferry.connectors.settings import load_connections
    from ferry.engine.runner import Engine
    from ferry.scheme import load_scheme

    scheme = load_scheme(scheme_file)
    wrong = sorted({r.scheme for r in rows} - {scheme.id})
    if wrong:
        raise UsageError(f"--scheme-file is scheme {scheme.id!r}; these records belong to {', '.join(wrong)}")
    ledger = open_ledger(db)
    engine = Engine(ledger, load_connections(connections_path(connections)))

    async def go() -> list[str]:
        async with engine:
            return await engine.reread(scheme, rows)

    try:
        return asyncio.run(go())
    finally:
        ledger.close()


def register(records_app: typer.Typer) -> None:
    @records_app.command("replay")
    def records_replay(
        ids: Annotated[
            list[int] | None, typer.Argument(help="Record ids; leave out to replay by filter.")
        ] = None,
        scheme: Annotated[
            str | None, typer.Option("--scheme", "-s", help="Only this scheme (its id).")
        ] = None,
        status: Annotated[
            list[str] | None,
            typer.Option(
                "--status",
                help="Statuses to replay (repeatable or comma-separated): dead, quarantined, skipped, "
                "failed. Default: dead and quarantined.",
            ),
        ] = None,
        number: Annotated[str | None, typer.Option("--number", help="Only this business number.")] = None,
        since: Annotated[
            str | None,
            typer.Option("--since", help="Only records that last changed at or after this ISO time."),
        ] = None,
        limit: Annotated[
            int, typer.Option("--limit", min=1, help="Replay at most this many (newest first).")
        ] = 1000,
        scheme_file: Annotated[
            Path | None,
            typer.Option(
                "--scheme-file",
                help="The scheme file, to read records skipped because of their state at the source "
                "again from the source (a refused approval stays skipped).",
            ),
        ] = None,
        connections: Annotated[Path | None, ConnectionsOption] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be replayed.")] = False,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask before replaying several records.")
        ] = False,
        db: Annotated[str | None, DatabaseOption] = None,
    ) -> None:
        """Send dead or quarantined records (or skipped, failed) back through dispatch, singly or by filter.

        A replayed record is pending again with its attempts reset; the next dispatch writes it through
        the same idempotent path, and its story shows "replayed by hand". In-doubt records are never
        replayed: the probe settles them. A record skipped because of its state at the source is read
        again from the source instead (``--scheme-file``).
        """
        statuses = _statuses(status) if status or not ids else _steer().REPLAYABLE
        if not ids and scheme is None and status is None and number is None and since is None:
            raise UsageError("name record ids or a filter (--scheme, --status, --number, --since)")
        since_at = parse_since(since)
        ledger = open_ledger(db)
        try:
            chosen, left_out, more = _candidates(
                ledger,
                ids or [],
                scheme=scheme,
                statuses=statuses,
                number=number,
                since=since_at,
                limit=limit,
            )
        finally:
            ledger.close()
        from_ledger = [r for r in chosen if r.status != "skipped" or _steer().skipped_by_the_scheme(r)]
        from_source = [r for r in chosen if r not in from_ledger]
        if from_source and scheme_file is None:
            for r in from_source:
                left_out.append(
                    (
                        r.id,
                        f"skipped because of its state at the source ({r.reason}); pass --scheme-file to "
                        "read it again from the source",
                    )
                )
            from_source = []
        table = Table(title="would be replayed (dry run)" if dry_run else "to replay", pad_edge=False)
        for col in ("id", "scheme", "source id", "number", "status", "how"):
            table.add_column(col, overflow="fold")
        for r in from_ledger + from_source:
            how = "from the ledger" if r in from_ledger else "re-read from the source"
            table.add_row(str(r.id), r.scheme, r.source_id, r.number or "", r.status, how)
        if from_ledger or from_source:
            out.print(table)
        for record_id, why in left_out:
            out.print(f"left out {record_id}: {why}", markup=False)
        if more:
            out.print(f"more records match: stopped at --limit {limit}")
        if dry_run:
            out.print(
                f"{len(from_ledger) + len(from_source)} record(s) would be replayed (dry run: nothing changed)"
            )
            return
        _confirm(len(from_ledger) + len(from_source), yes)
        moved = _move(db, from_ledger, statuses)
        for r in from_ledger:
            if r.id not in moved:
                out.print(f"left out {r.id}: changed meanwhile", markup=False)
        out.print(f"{len(moved)} record(s) replayed: pending, attempts reset")
        if from_source:
            assert scheme_file is not None
            for line in _reread(scheme_file, connections, db, from_source):
                out.print(line, markup=False)


def _move(db: str | None, rows: list[RecordRow], statuses: tuple[str, ...]) -> set[int]:
    """Move ``rows`` back to pending; the ids that really moved (a claim may have taken one meanwhile)."""
    if not rows:
        return set()
    ledger = open_ledger(db)
    try:
        moved: set[int] = _steer().replay_from_ledger(ledger, rows, statuses)
        return moved
    finally:
        ledger.close()
