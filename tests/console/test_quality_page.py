"""The quality page: held records with their age, release and reject for operators with CSRF, findings by
rule, top payees and Benford's test as ECharts options in data attributes (no inline script)."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ferry.console.app import create_app
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.store import Collected, Ledger

OPERATOR = "operator-password-1"
VIEWER = "viewer-password-22"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """Two records; the second held for a duplicate of the first, with a stored finding and a fact."""
    from ferry.quality import Fact

    led = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    led.migrate()
    led.collect("pay", [Collected("A", "FKSQ1", {"x": 1}), Collected("B", "FKSQ2", {"x": 2})])
    a, b = (row.id for row in sorted(led.list_records(scheme="pay"), key=lambda r: r.id))
    led.set_status([b], "held", "duplicate: 甲 was paid 1200.00 7 day(s) apart on record 1")
    day = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    facts = {
        a: [Fact("payment", "甲\x1f120000", day, "甲", 120000)],
        b: [Fact("payment", "甲\x1f120000", day, "甲", 120000)],
    }
    led.note_facts("pay", facts)
    finding = {
        "rule": "duplicate",
        "kind": "duplicate",
        "verdict": "block",
        "severity": "block",
        "message": "甲 was paid 1200.00 7 day(s) apart",
        "values": {},
        "matched": [a],
        "payee": "甲",
    }
    led.store_findings("pay", {b: [finding]})
    yield led
    led.close()


def client(ledger: Ledger, **env: str) -> TestClient:
    return TestClient(
        create_app(ConsoleState(ledger, ConsoleSettings.from_env(env=env))), follow_redirects=False
    )


def login(c: TestClient, password: str) -> None:
    token = c.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
    assert (
        c.post("/login", data={"name": "张三", "password": password, "csrf": token, "next": "/"}).status_code
        == 303
    )


def csrf_of(page: str) -> str:
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def test_the_page_shows_held_records_findings_and_charts(ledger: Ledger) -> None:
    c = client(ledger)
    page = c.get("/quality")
    assert page.status_code == 200
    assert 'data-held="2"' in page.text and "duplicate: 甲 was paid" in page.text
    assert 'data-matched="1"' in page.text and 'href="/records/1"' in page.text  # the earlier payment
    assert "<script>" not in page.text.split("</head>")[1]  # charts are data, not inline script
    charts = [json.loads(html.unescape(part.split('"')[0])) for part in page.text.split('data-chart="')[1:]]
    findings, benford = charts
    assert findings["series"] == [{"name": "duplicate", "type": "bar", "stack": "all", "data": [1]}]
    assert benford["series"][0]["data"][0] == 1.0 and len(benford["series"][1]["data"]) == 9
    assert c.get("/quality?month=13/2026").status_code == 400


def test_release_needs_csrf_and_an_operator_and_records_who(ledger: Ledger) -> None:
    c = client(
        ledger,
        FERRY_CONSOLE_PASSWORD=OPERATOR,
        FERRY_CONSOLE_VIEWER_PASSWORD=VIEWER,
        FERRY_CONSOLE_HOST="0.0.0.0",
    )
    login(c, OPERATOR)
    token = csrf_of(c.get("/quality").text)
    assert c.post("/quality/release/2", data={"reason": "agreed"}).status_code == 403  # no CSRF token
    assert c.post("/quality/release/2", data={"reason": " ", "csrf": token}).status_code == 400
    answer = c.post("/quality/release/2", data={"reason": "second instalment", "csrf": token})
    assert answer.status_code == 303
    row = ledger.get_by_id(2)
    assert row is not None and row.status == "pending" and row.reason == "released by 张三: second instalment"
    assert ledger.findings_of(2)[0].resolution == "released"
    assert (
        c.post("/quality/reject/2", data={"reason": "late", "csrf": token}).status_code == 409
    )  # not held now

    viewer = client(
        ledger,
        FERRY_CONSOLE_PASSWORD=OPERATOR,
        FERRY_CONSOLE_VIEWER_PASSWORD=VIEWER,
        FERRY_CONSOLE_HOST="0.0.0.0",
    )
    login(viewer, VIEWER)
    ledger.set_status([2], "held", "again")
    page = viewer.get("/quality").text
    assert 'data-held="2"' in page and "/quality/reject/2" not in page  # viewers see no buttons
    assert viewer.post("/quality/reject/2", data={"reason": "x", "csrf": csrf_of(page)}).status_code == 403
