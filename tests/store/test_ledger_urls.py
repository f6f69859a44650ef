"""Bad database URLs fail with one StoreError a person can act on, never a traceback or a password."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ferry.errors import StoreError
from ferry.store import Ledger, make_engine
from pg_support import postgres_url, require_postgres


def open_and_migrate(url: str) -> None:
    ledger = Ledger(url)
    try:
        ledger.migrate()
    finally:
        ledger.close()


@pytest.mark.parametrize("url", ["postgres://u:s3cret@db/ferry", "postgresql://u:s3cret@db/ferry"])
def test_a_postgres_url_without_the_psycopg_driver_says_what_to_write(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        make_engine(url)
    text = " ".join(caught.value.lines())
    assert "postgresql+psycopg://" in text and "s3cret" not in text


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(StoreError, match="SQLite or PostgreSQL"):
        make_engine("mysql://u:s3cret@db/ferry")


def test_a_sqlite_path_in_a_missing_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(StoreError) as caught:
        Ledger(f"sqlite:///{missing}/ferry.db")
    assert str(missing) in caught.value.message and caught.value.hint and "mkdir -p" in caught.value.hint


def test_an_unreachable_postgres_host_is_named_with_its_port() -> None:
    # a port nothing listens on
    with pytest.raises(StoreError) as caught:
        open_and_migrate("postgresql+psycopg://u:s3cret@127.0.0.1:1/ferry?connect_timeout=2")
    assert "127.0.0.1:1" in caught.value.message and "s3cret" not in " ".join(caught.value.lines())


def test_a_missing_postgres_database_says_createdb() -> None:
    require_postgres()
    url = make_url(postgres_url()).set(database="ferry_no_such_db_xyz").render_as_string(hide_password=False)
    with pytest.raises(StoreError) as caught:
        open_and_migrate(url)
    assert "ferry_no_such_db_xyz" in caught.value.message
    assert caught.value.hint is not None and "createdb" in caught.value.hint


def test_a_ledger_newer_than_this_ferry_is_refused(db_url: str) -> None:
    open_and_migrate(db_url)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this Ferry knows") as caught:
        open_and_migrate(db_url)
    assert caught.value.hint is not None and "upgrade Ferry" in caught.value.hint
