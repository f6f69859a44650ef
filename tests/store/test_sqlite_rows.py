"""sqlite_rows: many rows in one SQLite statement, shared values bound once."""

from __future__ import annotations

import sqlite3

from ferry.store.core import sqlite_rows


def test_each_row_numbers_its_own_parameters_after_the_shared_ones() -> None:
    text = sqlite_rows("INSERT INTO t VALUES ", "({}, ?1, {})", 3)
    assert text == "INSERT INTO t VALUES (?2, ?1, ?3), (?4, ?1, ?5), (?6, ?1, ?7)"
    assert (
        sqlite_rows("X ", "(?1, ?2, {})", 2, 3, " RETURNING a") == "X (?1, ?2, ?3), (?1, ?2, ?4) RETURNING a"
    )


def test_sqlite_stores_every_row_with_its_own_values() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, shared TEXT, a TEXT, b INTEGER)")
    rows = [(f"a{i}", i) for i in range(300)]
    values: list[object] = ["same"]
    for a, b in rows:
        values += (a, b)
    inserted = db.execute(
        sqlite_rows(
            "INSERT INTO t (shared, a, b) VALUES ", "(?1, {}, {})", len(rows), tail=" RETURNING id, a"
        ),
        values,
    ).fetchall()
    assert [a for _, a in inserted] == [a for a, _ in rows]
    assert db.execute("SELECT shared, a, b FROM t ORDER BY id").fetchall() == [
        ("same", a, b) for a, b in rows
    ]
