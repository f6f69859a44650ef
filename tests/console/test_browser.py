"""A user's journey through the console in headless Chromium (Debian's, driven by Playwright), against
the console served as ``ferry serve`` serves it (build_service: a real Engine, hourly schedules, the
DingTalk event intake from the connection's settings) over the DingTalk and Kingdee sandboxes.

Log in; see the flagship scheme on the overview; find the quarantined amount-mismatch record by its
Kingdee bill number; read its reason on its trace; fix the amount in Kingdee and replay it; see it
written; bulk-retry what a Kingdee outage left failed and see each written once (the sandbox's own
count); watch the records page and the overview while an approval is decided in DingTalk, and see its
record arrive written and the counts move, pushed over the live stream with no reload and no poll;
a viewer sees no action and is refused when it posts one anyway; no secret in any page source.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")

from world import OPERATOR, VIEWER, World, build, fix_amount  # noqa: E402

from ferry.sandbox import linked  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build(tmp_path_factory.mktemp("console"), instances=24)
    yield w
    w.close()


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    # after the world: its first pass runs an event loop of its own, before Playwright's
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _login(browser: Any, world: World, password: str, name: str) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(world.url + "/")
    assert "/login" in page.url
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', password)
    page.click('section.login button[type="submit"]')
    page.wait_for_url(world.url + "/")
    return page


def _wait(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _in_thread(coro: Any) -> None:
    # Playwright's sync API owns this thread's event loop
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result(timeout=60)


def test_an_operator_finds_fixes_replays_and_bulk_retries(browser: Any, world: World) -> None:
    page = _login(browser, world, OPERATOR, "王会计")
    sid = world.scheme.id
    card = page.locator(f'section.scheme[data-scheme="{sid}"]')
    assert card.is_visible() and "钉钉付款申请审批通过" in card.inner_text()
    page.wait_for_selector("[data-chart-ready]")  # the chart drew: the static script ran under the CSP
    assert page.locator('nav a[data-nav="records"]').inner_text() == "数据记录"

    # the quarantined amount mismatch, found by its Kingdee bill number
    mismatch = world.plan.by_kind("mismatch")[0]
    assert mismatch.bill_number is not None
    page.click('nav a[data-nav="records"]')
    page.fill('input[name="q"]', mismatch.bill_number)
    page.press('input[name="q"]', "Enter")
    page.wait_for_url(re.compile(r"q="))
    rows = page.locator("tr[data-record]")
    assert rows.count() == 1 and rows.first.get_attribute("data-status") == "quarantined"
    record_id = int(rows.first.get_attribute("data-record") or 0)
    rows.first.locator(f'a[href="/records/{record_id}"]').first.click()
    reason = page.locator("[data-trace-reason]").inner_text()
    assert "amount-matches" in reason and str(mismatch.form_amount) in reason

    # a person corrects the amount in Kingdee, then replays the record from the console
    _in_thread(fix_amount(world, mismatch.bill_number, str(mismatch.form_amount)))
    page.go_back()
    page.check(f'input[name="id"][value="{record_id}"]')
    page.click('button[data-action="replay"]')
    assert page.locator("[data-confirm-count]").get_attribute("data-confirm-count") == "1"
    page.click("button[data-action-confirm]")
    page.wait_for_selector("[data-flash]")

    def shown_written() -> bool:
        page.reload()
        return page.locator(f'tr[data-record="{record_id}"]').get_attribute("data-status") == "written"

    _wait(shown_written)
    assert world.paybills([mismatch.bill_number]) == {mismatch.bill_number: 1}
    events = world.ledger.history(record_id)
    assert any((e.detail or {}).get("by") == "王会计 (console)" for e in events)

    # what the outage left failed: all matches, retried at once, each written exactly once
    failed = world.ledger.list_records(scheme=sid, status="failed", limit=100)
    assert len(failed) >= 2, "the outage leaves several records failed"
    numbers = [str(r.content["金蝶单据编号"]) for r in failed]
    assert all(n == 0 for n in world.paybills(numbers).values())
    page.goto(world.url + "/records?status=failed")
    page.select_option('select[name="scope"]', "all")
    page.click('button[data-action="retry"]')
    assert page.locator("[data-confirm-count]").get_attribute("data-confirm-count") == str(len(failed))
    page.click("button[data-action-confirm]")
    _wait(lambda: {world.ledger.get_by_id(r.id).status for r in failed} == {"written"})  # type: ignore[union-attr]
    assert world.paybills(numbers) == {n: 1 for n in numbers}
    page.goto(world.url + "/records?status=failed")
    assert page.locator("tr[data-record]").count() == 0

    # the run the retry started is on the runs page, with its calls on the timeline
    page.click('nav a[data-nav="runs"]')
    page.locator("tr[data-run] a").first.click()
    assert page.locator(".timeline span").count() >= 1


def test_a_dingtalk_approval_arrives_by_its_event_and_the_open_pages_show_it_live(
    browser: Any, world: World
) -> None:
    sid = world.scheme.id
    late = world.plan.by_kind("late")[0]
    assert late.instance_id is not None and late.bill_number is not None
    # still running in DingTalk: watched at the source, nothing sent
    assert getattr(world.ledger.get(sid, late.instance_id), "status", None) == "watching"
    assert world.paybills([late.bill_number]) == {late.bill_number: 0}
    records = _login(browser, world, OPERATOR, "王会计")
    records.goto(world.url + "/records")
    overview = records.context.new_page()
    overview.goto(world.url + "/")
    for page in (records, overview):
        page.wait_for_selector('[sse-connect][data-live="open"]')  # the live stream is open
        page.evaluate("window.ferryNoReload = true")  # gone if the page were reloaded
    written = overview.locator(f'section.scheme[data-scheme="{sid}"] [data-count="written"]')
    written_before = int(written.inner_text())
    seen_before = overview.locator("#live").get_attribute("data-live-seen")

    # the approver approves in DingTalk; the sandbox posts the finish event to ferry serve's callback
    linked.approve(world.dingtalk.url, late.instance_id)
    row = records.locator(f'tr[data-source="{late.instance_id}"][data-status="written"]')
    row.wait_for()
    assert row.locator("td").nth(5).inner_text() not in ("", "—")  # the payment bill's number
    # the card is swapped in anew: look it up each time
    overview.wait_for_function(
        "([css, n]) => parseInt(document.querySelector(css).textContent, 10) === n",
        arg=[f'section.scheme[data-scheme="{sid}"] [data-count="written"]', written_before + 1],
    )
    for page in (records, overview):
        assert page.evaluate("window.ferryNoReload") is True
        # pushed: the stream stayed open (so the fallback never polled) and delivered the change
        assert page.locator('[sse-connect][data-live="open"]').count() == 1
        assert page.locator("[data-live-seen]").get_attribute("data-live-seen") not in (None, seen_before)
    # exactly one payment bill in Kingdee, brought by the event: no scheduled collect since the start
    assert world.paybills([late.bill_number]) == {late.bill_number: 1}
    runs = world.ledger.list_runs(sid, limit=100)
    assert any(r.kind == "collect" and r.trigger == "event" for r in runs)
    assert [r.trigger for r in runs if r.kind == "collect" and r.trigger == "schedule"] == ["schedule"]
    overview.close()


def test_a_viewer_sees_no_action_and_is_refused(browser: Any, world: World) -> None:
    page = _login(browser, world, VIEWER, "只读者")
    page.goto(world.url + "/records?status=unresolved")
    assert page.locator("button[data-action]").count() == 0 and page.locator('input[name="id"]').count() == 0
    some = world.ledger.list_records(scheme=world.scheme.id, status="quarantined", limit=1)
    assert some
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(
        world.url + "/records/actions",
        form={"csrf": token or "", "action": "skip", "confirm": "yes", "id": str(some[0].id)},
    )
    assert answer.status == 403
    assert world.ledger.get_by_id(some[0].id).status == "quarantined"  # type: ignore[union-attr]


def test_no_secret_in_any_page_source(browser: Any, world: World) -> None:
    from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig

    secrets = [world.kd_config.app_secret, DingTalkConfig().app_secret, OPERATOR, VIEWER]
    import sqlalchemy as sa

    from ferry.store.schema import records

    page = _login(browser, world, OPERATOR, "审计")
    rid = world.ledger.list_records(scheme=world.scheme.id, limit=1)[0].id
    # planted where a careless client could leave it: the stored request (the redactor knows the secret
    # because resolving the connection registered it)
    with world.ledger.engine.begin() as conn:
        planted = {"app_secret": world.kd_config.app_secret, "note": f"sign={world.kd_config.app_secret}"}
        conn.execute(sa.update(records).where(records.c.id == rid).values(request=planted))
    assert world.kd_config.app_secret in str(world.ledger.get_by_id(rid).request)  # type: ignore[union-attr]
    for path in ("/", "/runs", "/records", "/records?status=unresolved", f"/records/{rid}", "/dead-letters"):
        page.goto(world.url + path)
        source = page.content()
        assert all(s not in source for s in secrets), path
    with page.expect_download() as download:
        page.goto(world.url + f"/records/{rid}")
        page.click(f'a[href="/records/{rid}/trace.json"]')
    text = Path(download.value.path()).read_text("utf-8")
    assert f'"id": {rid}' in text and all(s not in text for s in secrets)


def test_replaying_a_refused_approval_reads_it_again_and_it_stays_skipped(browser: Any, world: World) -> None:
    skipped = [
        r
        for r in world.ledger.list_records(scheme=world.scheme.id, status="skipped", limit=50)
        if "refused" in (r.reason or "")
    ]
    assert skipped, "the linked plan has a refused approval"
    row = skipped[0]
    page = _login(browser, world, OPERATOR, "王会计")
    page.goto(world.url + "/records?status=skipped")
    page.check(f'input[name="id"][value="{row.id}"]')
    page.click('button[data-action="replay"]')
    # the source's own verdict: read again from DingTalk rather than replayed from the ledger
    assert page.locator("[data-confirm-count]").get_attribute("data-confirm-count") == "1"
    assert (
        "先从来源重新读取" in page.locator("section.confirm").inner_text()
    )  # "read again from the source first"
    page.click("button[data-action-confirm]")
    assert "已处理 0 条记录" in page.locator("[data-flash]").inner_text()  # "0 record(s) moved"
    assert world.ledger.get_by_id(row.id).status == "skipped"  # type: ignore[union-attr]
    bill = row.content.get("金蝶单据编号")
    if bill:
        assert world.paybills([str(bill)]) == {str(bill): 0}


def test_without_the_live_stream_the_records_list_falls_back_to_polling(browser: Any, world: World) -> None:
    from ferry.store import Collected

    page = _login(browser, world, VIEWER, "只读者")
    # as behind a proxy that will not pass the stream on
    page.route(re.compile(r"^http://[^/]+/live\?"), lambda route: route.abort())  # not /records/live
    page.goto(world.url + "/records")
    page.wait_for_selector('[sse-connect][data-live="down"]')
    page.evaluate("window.ferryNoReload = true")
    world.ledger.collect("fallback-probe", [Collected(source_id="probe-1", number="P-1", content={"x": 1})])
    page.locator('tr[data-source="probe-1"]').wait_for(timeout=30_000)  # the next poll (every 10 s)
    assert page.evaluate("window.ferryNoReload") is True
    assert page.locator("[data-live-seen]").count() == 0  # no event came: it was the poll


def test_a_live_refresh_waits_while_records_are_ticked(browser: Any, world: World) -> None:
    from ferry.store import Collected

    page = _login(browser, world, OPERATOR, "王会计")
    page.goto(world.url + "/records")
    page.wait_for_selector('[sse-connect][data-live="open"]')
    first = page.locator('input[name="id"]').first
    first.check()
    world.ledger.collect("fallback-probe", [Collected(source_id="probe-2", number="P-2", content={"x": 2})])
    page.locator("[data-live-stale]").wait_for()  # the change is announced, not swapped in
    assert first.is_checked() and page.locator('tr[data-source="probe-2"]').count() == 0
    first.uncheck()  # nothing ticked: the held refresh happens
    page.locator('tr[data-source="probe-2"]').wait_for()
    assert page.locator("[data-live-stale]").is_hidden()
