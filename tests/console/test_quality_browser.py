"""The quality page in a real browser (Chromium): both charts are drawn by the static script under the
console's CSP (no inline script), and an operator releases a held record with the page's own form."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ferry.console.app import create_app
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.quality import Fact
from ferry.sandbox.serve import ServerThread
from ferry.store import Collected, Ledger

CHROMIUM = os.environ.get("FERRY_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _browser_problem() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (set FERRY_TEST_CHROMIUM)"
    return None


@pytest.mark.skipif(_browser_problem() is not None, reason=str(_browser_problem()))
def test_charts_draw_and_an_operator_releases_a_held_record(tmp_path: Path) -> None:
    import datetime as dt

    from playwright.sync_api import sync_playwright

    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    ledger.migrate()
    ledger.collect("pay", [Collected("A", "FKSQ1", {"x": 1}), Collected("B", "FKSQ2", {"x": 2})])
    a, b = sorted(r.id for r in ledger.list_records(scheme="pay"))
    ledger.set_status([b], "held", "duplicate: 甲 was paid 1200.00 7 day(s) apart on record 1")
    day = dt.datetime.now(dt.UTC)
    ledger.note_facts("pay", {a: [Fact("payment", "甲\x1f120000", day, "甲", 120000)]})
    finding = {
        "rule": "duplicate",
        "kind": "duplicate",
        "verdict": "block",
        "severity": "block",
        "message": "duplicate",
        "values": {},
        "matched": [a],
        "payee": "甲",
    }
    ledger.store_findings("pay", {b: [finding]})
    app = create_app(ConsoleState(ledger, ConsoleSettings.from_env(env={})))
    errors: list[str] = []
    try:
        with ServerThread(app) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.on(
                "console",
                lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None,
            )
            # a missing resource other than the favicon (a script, a stylesheet) is an error
            page.on(
                "response",
                lambda r: (
                    errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(server.url + "/quality")
            page.wait_for_selector("[data-chart-ready]", timeout=15_000)
            assert page.locator("[data-chart-ready] canvas").count() == 2
            page.fill(
                f'form[action="/quality/release/{b}"] input[name="reason"]', "checked with the supplier"
            )
            page.click(f'form[action="/quality/release/{b}"] button')
            page.wait_for_selector("[data-held-count]")
            assert page.locator("[data-held-count]").inner_text() == "0"
            browser.close()
        row = ledger.get_by_id(b)
        assert (
            row is not None and row.status == "pending" and "checked with the supplier" in (row.reason or "")
        )
        assert not errors, errors  # a CSP violation or a script error would show here
    finally:
        ledger.close()
