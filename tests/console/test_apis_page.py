"""The API 资产 page in a real browser after a demo run: the quota burn-down of the demo's DingTalk app is
drawn with its forecast, the table agrees with the ledger, a drill-down reaches the calls and the records
worked on at the time, and no secret is on the page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ferry.console.app import create_app
from ferry.console.metrics import router as metrics_router
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.demo import FLAGSHIP, DemoOptions, run_demo
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.serve import ServerThread
from ferry.scheme import load_scheme
from ferry.store import Ledger

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SECRETS = [DingTalkConfig().app_secret, KingdeeConfig().app_secret]


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    import asyncio

    db = f"sqlite:///{tmp_path_factory.mktemp('apis') / 'demo.db'}"
    summary = asyncio.run(run_demo(DemoOptions(instances=12, latency_ms=(1, 3), db_url=db, random_seed=2)))
    assert summary.ok
    ledger = Ledger(db)
    ledger.migrate()
    yield ledger
    ledger.close()


def console_app(ledger: Ledger) -> Any:
    scheme = load_scheme(FLAGSHIP)
    state = ConsoleState(ledger, ConsoleSettings.from_env(env={}), schemes={scheme.id: scheme})
    return create_app(state, routers=[metrics_router(ledger)])


def test_the_page_and_its_drill_down_without_a_browser(demo_ledger: Ledger) -> None:
    c = TestClient(console_app(demo_ledger))
    page = c.get("/apis?period=month")
    assert page.status_code == 200
    assert 'data-quota="dingtalk_main"' in page.text and 'data-burn="dingtalk_main"' in page.text
    usage = {(u.connection, u.api): u.calls for u in demo_ledger.api_usage()}
    for (connection, api), calls in usage.items():
        row = page.text.split(f'data-api="{connection} {api}"')[1].split("</tr>")[0]
        assert f'<td class="num">{calls:,}</td>' in row, (connection, api)
    # the DingTalk app's month against its allowance (the connection's default, 5,000)
    assert "/ 5,000" in page.text
    # the advice in the console's language (Chinese by default): a small demo month is on track
    assert "额度充足" in page.text
    c.cookies.set("lang", "en")
    english = c.get("/apis?period=month")
    assert "on track:" in english.text
    c.cookies.clear()
    get_api = next(
        api for (conn, api) in usage if conn == "dingtalk_main" and api.endswith("processInstances")
    )
    drill = c.get("/apis/calls", params={"connection": "dingtalk_main", "api": get_api})
    assert drill.status_code == 200 and "data-call=" in drill.text
    assert "data-record=" in drill.text, "a detail call links to the records worked on at that time"
    for secret in SECRETS:
        assert secret not in page.text and secret not in drill.text


def test_a_browser_sees_the_quota_burn_down_for_the_demo_dingtalk_app(demo_ledger: Ledger) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with ServerThread(console_app(demo_ledger)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            # every script, style and chart library the page needs loads (a browser's own favicon
            # request is no part of the page)
            page.on(
                "response",
                lambda r: (
                    errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(f"{server.url}/apis?period=month")
            burn = page.locator('[data-burn="dingtalk_main"][data-chart-ready="1"]')
            burn.wait_for(timeout=15_000)
            assert burn.locator("canvas").count() >= 1
            forecast = int(burn.get_attribute("data-forecast") or "-1")
            assert forecast >= 0
            for chart in ("chart-calls", "chart-latency", "chart-errors"):
                assert page.locator(f"#{chart}[data-chart-ready='1'] canvas").count() >= 1, chart
            quota = page.locator('[data-quota="dingtalk_main"]').inner_text()
            assert "5,000" in quota
            html = page.content()
            for secret in SECRETS:
                assert secret not in html
            # drill down from an API to its calls
            page.locator("table.apis a", has_text="processInstances").first.click()
            page.wait_for_selector("tr[data-call]", timeout=10_000)
            assert page.locator("a[data-record]").count() >= 1
        finally:
            browser.close()
    assert not errors, errors
