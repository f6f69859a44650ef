"""The review's findings end to end: engine, ledger and the REST connector against a hostile server.

A page that says it failed must not move the watermark; a 2xx that says "rejected" must not be recorded
as written; an echoed API key must not reach the ledger (what ``ferry records show`` prints).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import Hostile, Reply

from ferry.connectors.errors import ConnectorError
from ferry.connectors.settings import load_connections
from ferry.engine.runner import Engine
from ferry.scheme import load_scheme
from ferry.store import Ledger

API_KEY = "e2e-Api-K3y-31337"

SCHEME = """
id: hostile
source:
  connection: api
  api: /orders
  method: GET
  id: id
  records_path: items
  initial_days: 1
target:
  connection: api
  api: /pay
  method: POST
  params: {id_path: id}
  request:
    - {field: ref, value: "{{id}}"}
retry: {max_attempts: 2, initial_delay: 0.01, max_delay: 0.02, jitter: 0}
"""


@pytest.fixture
def world(
    tmp_path: Path, hostile: Hostile, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, Ledger, Hostile]]:
    monkeypatch.setenv("E2E_API_KEY", API_KEY)
    (tmp_path / "scheme.yaml").write_text(SCHEME, encoding="utf-8")
    (tmp_path / "connections.yaml").write_text(
        f"api:\n  type: http\n  base_url: {hostile.url}\n"
        '  auth: {type: header, name: X-Api-Key, key: "${E2E_API_KEY}"}\n',
        encoding="utf-8",
    )
    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    ledger.migrate()
    engine = Engine(ledger, load_connections(tmp_path / "connections.yaml"))
    yield engine, ledger, hostile
    ledger.close()


async def test_a_page_that_says_it_failed_leaves_the_watermark_where_it_was(
    world: tuple[Engine, Ledger, Hostile], tmp_path: Path
) -> None:
    engine, ledger, hostile = world
    s = load_scheme(tmp_path / "scheme.yaml")
    hostile.state.on("/orders", Reply(200, {"success": False, "items": None, "message": "db offline"}))
    with pytest.raises(ConnectorError, match="db offline"):
        await engine.collect(s)
    assert ledger.get_watermark("hostile") is None
    assert ledger.counts("hostile") == {}
    # the same API, answering properly: now the window is taken and the watermark moves
    hostile.state.on("/orders", Reply(200, {"items": [{"id": "O1"}]}))
    report = await engine.collect(s)
    assert report.records == 1 and ledger.get_watermark("hostile") is not None
    await engine.aclose()


async def test_a_rejected_write_is_not_written_and_an_echoed_key_is_not_stored(
    world: tuple[Engine, Ledger, Hostile], tmp_path: Path
) -> None:
    engine, ledger, hostile = world
    s = load_scheme(tmp_path / "scheme.yaml")
    hostile.state.on("/orders", Reply(200, {"items": [{"id": "O1"}, {"id": "O2"}]}))
    await engine.collect(s)
    echo = {"id": "P2", "echo": {"headers": {"x-api-key": API_KEY}}, "note": f"key {API_KEY}"}

    def answer_for(ref: str) -> Reply:
        return Reply(200, {"success": False, "message": "payee blocked"}) if ref == "O1" else Reply(200, echo)

    # the target answers per record: O1 is refused with a 200, O2 is accepted and echoes the key
    hostile.state.on("/pay", answer_for("O1"), answer_for("O2"))
    await engine.dispatch(s)
    refused, accepted = ledger.get("hostile", "O1"), ledger.get("hostile", "O2")
    assert refused is not None and refused.status != "written"
    assert "payee blocked" in (refused.last_error_message or "")
    assert accepted is not None and accepted.status == "written" and accepted.target_id == "P2"
    stored = json.dumps(accepted.response)
    assert API_KEY not in stored and "***" in stored
    sent = {json.loads(r.body)["ref"] for r in hostile.state.requests_to("/pay")}
    assert sent == {"O1", "O2"}
    await engine.aclose()
