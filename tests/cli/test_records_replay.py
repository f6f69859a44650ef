"""``ferry records replay`` sends dead and quarantined records back through dispatch, singly or by
filter, and never touches in-doubt records or records under a live lease."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ferry.cli.main import app
from ferry.store import Collected, Ledger, Outcome, RecordRow


@dataclass
class Book:
    """A ledger with one record in each interesting status (ids by name)."""

    db: str
    ledger: Ledger
    ids: dict[str, int]

    def row(self, name: str) -> RecordRow:
        row = self.ledger.get_by_id(self.ids[name])
        assert row is not None
        return row

    def replay(self, *args: str) -> Result:
        return CliRunner().invoke(app, ["records", "replay", *args, "--db", self.db])


NAMES = ("dead", "quarantined", "in_doubt", "leased", "written", "failed")


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Book]:
    db = f"sqlite:///{tmp_path / 'ferry.db'}"
    ledger = Ledger(db)
    ledger.migrate()
    items = [Collected(source_id=f"S-{n}", number=f"NO-{n}", content={"n": n}) for n in NAMES]
    ledger.collect("s1", items)
    ledger.collect("s2", [Collected(source_id="S-other", number="NO-other", content={"n": "other"})])
    leased = ledger.claim("s1", owner="w", limit=10, lease_seconds=300)
    claimed = {c.source_id.removeprefix("S-"): c.id for c in leased}
    token = leased[0].lease_token  # one claim, one lease token
    other = ledger.claim("s2", owner="w", limit=10, lease_seconds=300)
    ledger.finish(
        "w",
        [
            Outcome(
                claimed["dead"],
                "dead",
                reason="permanent error",
                error_type="GiveUp",
                error_code="422",
                error_message="amount invalid for S-dead",
                lease_token=token,
            ),
            Outcome(
                claimed["quarantined"],
                "quarantined",
                reason="quality rule 'amount' failed",
                lease_token=token,
            ),
            Outcome(
                claimed["in_doubt"],
                "in_doubt",
                reason="no answer",
                error_type="OutcomeUnknown",
                lease_token=token,
            ),
            Outcome(claimed["written"], "written", target_id="D1", lease_token=token),
            Outcome(
                claimed["failed"],
                "failed",
                reason="busy",
                error_type="RetryLater",
                error_code="503",
                lease_token=token,
            ),
            other[0].outcome("dead", reason="permanent error", error_type="GiveUp"),
        ],
    )
    # "leased" stays claimed: a live worker is writing it
    ids = {**claimed, "other": other[0].id}
    yield Book(db, ledger, ids)
    ledger.close()


def test_replay_one_record_by_id(book: Book) -> None:
    result = book.replay(str(book.ids["dead"]))
    assert result.exit_code == 0, result.output
    assert "1 record(s) replayed" in result.output
    assert "S-dead" in result.output and "dead" in result.output
    row = book.row("dead")
    assert (row.status, row.attempts, row.reason) == ("pending", 0, "replayed by hand")
    # the record's story shows the replay
    last = book.ledger.history(row.id)[-1]
    assert (last.from_status, last.to_status, last.reason) == ("dead", "pending", "replayed by hand")
    assert last.detail == {"manual": True, "reset_attempts": True}
    # nothing else moved
    assert book.row("quarantined").status == "quarantined"
    assert book.ledger.get("s2", "S-other") is not None and book.row("other").status == "dead"


def test_replay_by_filter_takes_dead_and_quarantined_of_one_scheme(book: Book) -> None:
    result = book.replay("--scheme", "s1", "--yes")
    assert result.exit_code == 0, result.output
    assert "2 record(s) replayed" in result.output
    assert book.row("dead").status == book.row("quarantined").status == "pending"
    # failed waits for its own retry, in_doubt for its probe, the leased one for its writer
    assert book.row("failed").status == "failed"
    assert book.row("in_doubt").status == "in_doubt"
    assert book.row("leased").status == "writing"
    assert book.row("written").status == "written"
    assert book.row("other").status == "dead"


def test_replay_filters_by_status_number_and_since(book: Book) -> None:
    assert book.replay("--status", "failed", "--scheme", "s1").exit_code == 0
    assert book.row("failed").status == "pending"
    assert book.row("dead").status == "dead"

    result = book.replay("--number", "NO-other")
    assert result.exit_code == 0 and "1 record(s) replayed" in result.output
    assert book.row("other").status == "pending"

    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    result = book.replay("--scheme", "s1", "--since", tomorrow)
    assert result.exit_code == 0 and "0 record(s) replayed" in result.output
    assert book.row("dead").status == "dead"

    result = book.replay("--status", "dead,quarantined", "--limit", "1")
    assert result.exit_code == 0 and "1 record(s) replayed" in result.output
    assert "more records match" in result.output


def test_a_replay_of_several_records_asks_first_and_a_script_must_say_yes(book: Book) -> None:
    result = book.replay("--scheme", "s1")
    assert result.exit_code == 2, result.output
    assert "would move 2 records; pass --yes" in result.output
    assert book.row("dead").status == "dead" and book.row("quarantined").status == "quarantined"


def test_a_record_skipped_at_the_source_is_not_replayed_from_the_ledger(book: Book) -> None:
    book.ledger.collect(
        "s1",
        [
            Collected(
                source_id="S-refused",
                number="NO-r",
                content={"n": "r"},
                status="skipped",
                reason="approval refused",
            )
        ],
    )
    refused = book.ledger.get("s1", "S-refused")
    assert refused is not None
    result = book.replay(str(refused.id), "--status", "skipped")
    assert result.exit_code == 0, result.output
    assert "skipped because of its state at the source (approval refused)" in result.output
    assert "--scheme-file" in result.output
    assert book.ledger.get_by_id(refused.id).status == "skipped"  # type: ignore[union-attr]


def test_dry_run_lists_and_changes_nothing(book: Book) -> None:
    result = book.replay("--scheme", "s1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 record(s) would be replayed" in result.output
    assert "S-dead" in result.output and "S-quarantined" in result.output
    assert book.row("dead").status == "dead" and book.row("quarantined").status == "quarantined"
    assert book.ledger.history(book.ids["dead"])[-1].to_status == "dead"


def test_in_doubt_records_are_refused_and_left_to_the_probe(book: Book) -> None:
    result = book.replay("--status", "in_doubt")
    assert result.exit_code == 2
    assert "probe" in result.output and "in_doubt" in result.output
    named = book.replay(str(book.ids["in_doubt"]), str(book.ids["dead"]))
    assert named.exit_code == 0, named.output
    assert "1 record(s) replayed" in named.output and "settled by the probe" in named.output
    assert book.row("in_doubt").status == "in_doubt"
    assert book.row("dead").status == "pending"


def test_records_under_a_live_lease_are_untouched(book: Book) -> None:
    result = book.replay(str(book.ids["leased"]))
    assert result.exit_code == 0, result.output
    assert "0 record(s) replayed" in result.output and "under a lease" in result.output
    row = book.row("leased")
    assert row.status == "writing" and row.lease_owner == "w"
    assert book.replay("--status", "writing").exit_code == 2
    assert book.replay("--status", "written").exit_code == 2


def test_replay_needs_ids_or_a_filter(book: Book) -> None:
    result = book.replay()
    assert result.exit_code == 2 and "filter" in result.output


def test_show_prints_every_attempt_error(book: Book) -> None:
    result = CliRunner().invoke(app, ["records", "show", str(book.ids["dead"]), "--db", book.db])
    assert result.exit_code == 0, result.output
    assert "GiveUp code=422 amount invalid for S-dead" in result.output.replace("\n", " ").replace("│", " ")
