"""The console's pages over a real ledger (SQLite, and PostgreSQL from $FERRY_TEST_POSTGRES_URL or the
local test database, in a throwaway schema; skipped with the reason when unreachable): overview health and totals, runs and a run's timeline, records with search and the unresolved
view, confirmed bulk actions by operators only, a record's trace and its download, dead letters by kind,
the English switch, and no secret anywhere."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from ferry.console.app import create_app
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.observe.calls import ApiCall
from ferry.observe.redact import register_secret
from ferry.scheme import load_scheme
from ferry.store import Collected, Ledger

ROOT = Path(__file__).parents[2]
FLAGSHIP = load_scheme(ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml")
SID = FLAGSHIP.id
OPERATOR, VIEWER = "operator-password-1", "viewer-password-22"
#: planted in a record's request the way a leaked token would be; registered like a connection's secret
SECRET = "kd-app-secret-Zq81xW0pLm"


def _content(i: int) -> dict[str, object]:
    return {"金蝶单据编号": f"FKSQ{i:05d}", "付款金额": 100.5 + i, "title": f"付款申请 {i}"}


PG_URL = os.environ.get("FERRY_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ferry.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, poolclass=sa.NullPool, connect_args={"connect_timeout": 3})
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # unreachable: say why
        pytest.skip(
            f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string()}: {type(exc).__name__}"
        )
    try:
        yield (
            make_url(PG_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    register_secret(SECRET)
    led = Ledger(db_url)
    led.migrate()
    led.collect(
        SID, [Collected(source_id=f"inst-{i}", number=f"SP{i:04d}", content=_content(i)) for i in range(8)]
    )
    run = led.start_run(SID, "dispatch", "schedule", owner="w1")
    claimed = {c.source_id: c for c in led.claim(SID, owner="w1", limit=10, lease_seconds=60)}
    outcomes = [
        claimed[f"inst-{i}"].outcome("written", target_id=f"10{i}", target_number=f"FKD{i:05d}")
        for i in range(4)
    ]
    outcomes += [
        claimed["inst-4"].outcome(
            "failed",
            reason="Kingdee answered HTTP 500",
            error_type="retry",
            error_code="500",
            request={"token": SECRET, "Numbers": ["FKSQ00004"]},
            next_attempt_at=dt.datetime.now(dt.UTC),
        ),
        claimed["inst-5"].outcome(
            "dead", reason="Kingdee refused the bill", error_type="give_up", error_code="MsgCode 11"
        ),
        claimed["inst-6"].outcome(
            "quarantined", reason="amount-matches: the approved amount 106.5 differs", error_type="quality"
        ),
        claimed["inst-7"].outcome("skipped", reason="refused in DingTalk", error_type="source_state"),
    ]
    assert led.finish("w1", outcomes) == []
    # within the run's span: it started before the claim and ends after these
    now = led.list_runs(SID)[0].started_at
    for k, status in enumerate(["ok", "ok", "slow_down", "ok"]):
        led.record(
            ApiCall(
                "kingdee_main",
                "Push",
                status,
                80.0,
                http_status=200,
                at=now + dt.timedelta(microseconds=k + 1),
            )
        )
    led.finish_run(
        run, status="failed", counts={"written": 4, "failed": 1}, error="Kingdee answered HTTP 500 once"
    )
    led.flush()
    yield led
    led.close()


def _client(ledger: Ledger, password: str | None = OPERATOR, name: str = "张三") -> TestClient:
    env = {"FERRY_CONSOLE_PASSWORD": OPERATOR, "FERRY_CONSOLE_VIEWER_PASSWORD": VIEWER}
    c = TestClient(
        create_app(ConsoleState(ledger, ConsoleSettings.from_env(env=env), {SID: FLAGSHIP})),
        follow_redirects=False,
    )
    if password is not None:
        token = _csrf(c.get("/login").text)
        assert c.post("/login", data={"name": name, "password": password, "csrf": token}).status_code == 303
    return c


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _id(ledger: Ledger, source_id: str) -> int:
    row = ledger.get(SID, source_id)
    assert row is not None
    return row.id


def test_the_overview_shows_health_counts_today_and_the_chart(ledger: Ledger) -> None:
    page = _client(ledger).get("/")
    assert page.status_code == 200
    html = page.text
    assert f'data-scheme="{SID}"' in html and 'data-health="failing"' in html  # the latest run failed
    assert re.search(r'data-count="written"><a [^>]+>4<', html) and re.search(
        r'data-count="dead"><a [^>]+>1<', html
    )
    assert re.search(r'data-total="written">4<', html)
    # 付款金额 100.5 + 101.5 + 102.5 + 103.5 over the four written today
    assert re.search(r'data-total="amount">408\.00<', html)
    chart = json.loads(re.search(r"data-chart='([^']+)'", html).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert len(chart["series"][0]["data"]) == 168 and chart["series"][0]["data"][-1] == 4
    live = _client(ledger).get("/overview/live")
    assert live.status_code == 200 and "<html" not in live.text and 'data-health="failing"' in live.text


def test_the_runs_list_and_a_runs_timeline(ledger: Ledger) -> None:
    c = _client(ledger)
    runs = c.get("/runs", params={"scheme": SID, "status": "failed"}).text
    assert "Kingdee answered HTTP 500 once" in runs and 'data-run="' in runs
    assert 'data-run="' not in c.get("/runs", params={"status": "ok"}).text
    run_id = re.search(r'data-run="(\d+)"', runs).group(1)  # type: ignore[union-attr]
    detail = c.get(f"/runs/{run_id}").text
    assert 'data-waits="1"' in detail and detail.count('data-call-status="ok"') == 3
    assert "kingdee_main · Push" in detail
    assert c.get("/runs/99999").status_code == 404


def test_records_are_found_by_any_key_and_the_unresolved_view_lists_what_needs_a_person(
    ledger: Ledger,
) -> None:
    c = _client(ledger)
    # the Kingdee bill number a payment became, and the number on the approval form (in the content)
    found = c.get("/records", params={"q": "FKD00002"}).text
    assert f'data-record="{_id(ledger, "inst-2")}"' in found and 'data-total="1"' in found
    assert f'data-record="{_id(ledger, "inst-6")}"' in c.get("/records", params={"q": "FKSQ00006"}).text
    unresolved = c.get("/records", params={"status": "unresolved"}).text
    shown = set(re.findall(r'data-status="(\w+)"', unresolved))
    assert shown == {"failed", "dead", "quarantined"} and "amount-matches: the approved amount" in unresolved
    assert c.get("/records", params={"status": "nonsense"}).status_code == 400
    later = (dt.datetime.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert 'data-total="0"' in c.get("/records", params={"since": later}).text


def test_a_bulk_retry_says_how_many_it_touches_then_acts_and_names_who_asked(ledger: Ledger) -> None:
    c = _client(ledger)
    token = _csrf(c.get("/records").text)
    ids = [str(_id(ledger, s)) for s in ("inst-4", "inst-5", "inst-0")]
    preview = c.post("/records/actions", data={"csrf": token, "action": "retry", "id": ids})
    assert preview.status_code == 200 and 'data-confirm-count="2"' in preview.text
    assert "already written" in preview.text  # inst-0 is left out, with the reason
    assert ledger.get(SID, "inst-4").status == "failed"  # type: ignore[union-attr]  # nothing moved yet
    done = c.post(
        "/records/actions", data={"csrf": token, "action": "retry", "confirm": "yes", "id": ids[:2]}
    )
    assert done.status_code == 303
    assert {ledger.get(SID, s).status for s in ("inst-4", "inst-5")} == {"pending"}  # type: ignore[union-attr]
    last = ledger.history(int(ids[0]))[-1]
    assert last.to_status == "pending" and last.detail and last.detail["by"] == "张三 (console)"
    assert "data-flash" in c.get("/records").text


def test_all_matches_acts_on_the_filter_and_a_replay_leaves_source_skips_to_the_engine(
    ledger: Ledger,
) -> None:
    c = _client(ledger)
    token = _csrf(c.get("/records").text)
    form = {"csrf": token, "action": "replay", "scope": "all", "status": "dead,quarantined,skipped"}
    preview = c.post("/records/actions", data=form).text
    # without an engine (ferry console) the refused approval cannot be read again: refused, saying why
    assert 'data-confirm-count="2"' in preview and "此控制台无法执行（无引擎：ferry console）" in preview
    assert "data-no-engine" in preview  # and it says who will write the others
    ids = re.findall(r'<input type="hidden" name="id" value="(\d+)">', preview)
    assert c.post("/records/actions", data={**form, "confirm": "yes", "id": ids}).status_code == 303
    assert ledger.get(SID, "inst-6").status == "pending" and ledger.get(SID, "inst-7").status == "skipped"  # type: ignore[union-attr]
    c.get("/lang/en", headers={"referer": "/records"})
    flash = c.get("/records").text
    assert "Replay: 2 record(s) moved" in flash
    assert "a running ferry serve (or the next scheduled pass) picks these records up" in flash


def test_without_an_engine_a_retry_or_skip_says_who_picks_the_records_up(ledger: Ledger) -> None:
    c = _client(ledger)
    c.get("/lang/en", headers={"referer": "/records"})
    rid = str(_id(ledger, "inst-7"))
    token = _csrf(c.get("/records").text)
    form = {"csrf": token, "action": "replay", "id": [rid]}
    refused = c.post("/records/actions", data=form).text
    assert "Nothing to do" in refused and "this console cannot do (no engine: ferry console)" in refused
    assert "data-action-confirm" not in refused  # nothing to confirm: the replay is refused
    for action, source_id in (("retry", "inst-5"), ("skip", "inst-6")):
        done = c.post(
            "/records/actions",
            data={"csrf": token, "action": action, "confirm": "yes", "id": [str(_id(ledger, source_id))]},
        )
        assert done.status_code == 303
        page = c.get("/records").text
        assert f"{action.capitalize()}: 1 record(s) moved" in page, action
        assert "This console runs no passes (ferry console)" in page, action
    assert ledger.get(SID, "inst-5").status == "pending" and ledger.get(SID, "inst-6").status == "skipped"  # type: ignore[union-attr]


def test_a_viewer_sees_no_action_and_is_refused_and_every_post_needs_the_csrf_token(ledger: Ledger) -> None:
    viewer = _client(ledger, VIEWER, name="李四")
    page = viewer.get("/records", params={"status": "unresolved"}).text
    assert "data-action=" not in page and 'name="id"' not in page
    token = _csrf(page)
    rid = str(_id(ledger, "inst-5"))
    refused = viewer.post(
        "/records/actions", data={"csrf": token, "action": "retry", "confirm": "yes", "id": [rid]}
    )
    assert refused.status_code == 403 and ledger.get(SID, "inst-5").status == "dead"  # type: ignore[union-attr]
    op = _client(ledger)
    assert (
        op.post("/records/actions", data={"action": "retry", "confirm": "yes", "id": [rid]}).status_code
        == 403
    )
    assert (
        op.post("/records/actions", data={"csrf": "forged", "action": "retry", "id": [rid]}).status_code
        == 403
    )
    assert ledger.get(SID, "inst-5").status == "dead"  # type: ignore[union-attr]


def test_a_trace_puts_status_and_reason_first_and_downloads_as_json(ledger: Ledger) -> None:
    c = _client(ledger)
    rid = _id(ledger, "inst-6")
    html = c.get(f"/records/{rid}").text
    assert html.index("data-trace-reason") < html.index("data-source-payload")
    assert "amount-matches: the approved amount 106.5 differs" in html and 'data-attempt="1"' in html
    written = c.get(f"/records/{_id(ledger, 'inst-1')}").text
    assert re.search(r"data-target-number>FKD00001<", written)
    download = c.get(f"/records/{rid}/trace.json")
    assert "attachment" in download.headers["content-disposition"]
    story = download.json()
    assert story["status"] == "quarantined" and story["events"][-1]["to"] == "quarantined"
    assert c.get("/records/424242").status_code == 404


def test_dead_letters_group_the_reasons_by_kind(ledger: Ledger) -> None:
    html = _client(ledger).get("/dead-letters").text
    assert 'data-group="dead:give_up"' in html and 'data-group="quarantined:quality"' in html
    assert "/records?status=dead" in html and "Kingdee refused the bill" in html


def test_pages_are_chinese_first_with_an_english_switch(ledger: Ledger) -> None:
    c = _client(ledger)
    assert "数据记录" in c.get("/records").text and "未解决" in c.get("/records").text
    c.get("/lang/en", headers={"referer": "/records"})
    english = c.get("/records").text
    assert "Unresolved" in english and "未解决" not in english


def test_no_secret_on_any_page_download_or_page_source(ledger: Ledger) -> None:
    c = _client(ledger)
    rid = _id(ledger, "inst-4")
    run_id = re.search(r'data-run="(\d+)"', c.get("/runs").text).group(1)  # type: ignore[union-attr]
    paths = [
        "/",
        "/overview/live",
        "/runs",
        f"/runs/{run_id}",
        "/records",
        "/records?status=unresolved",
        f"/records?q={rid}",
        f"/records/{rid}",
        f"/records/{rid}/trace.json",
        "/dead-letters",
        "/login",
    ]
    for path in paths:
        answer = c.get(path)
        assert answer.status_code == 200, path
        for text in (answer.text, *answer.headers.values()):
            assert SECRET not in text and OPERATOR not in text and VIEWER not in text, path
    # the planted value is really in the ledger, so the check above could have failed
    assert SECRET in json.dumps(ledger.get_by_id(rid).request)  # type: ignore[union-attr]


def test_every_word_the_templates_show_has_its_chinese() -> None:
    from ferry.console.i18n import missing
    from ferry.console.pages import discover

    discover()  # each page brings its own words
    words: set[str] = set()
    for template in (ROOT / "src" / "ferry" / "console" / "templates").glob("*.html"):
        words |= set(re.findall(r"""\bt\(["']([^"']+)["']""", template.read_text("utf-8")))
    assert words and missing("zh", words) == set()


def test_health_is_on_time_late_failing_or_never_run() -> None:
    from ferry.console.pages.overview import health_of
    from ferry.store import RunRow

    now = dt.datetime.now(dt.UTC)

    def run(status: str, minutes_ago: float) -> RunRow:
        at = now - dt.timedelta(minutes=minutes_ago)
        return RunRow(1, SID, "collect", "schedule", at, at, status, None, None, None, None)

    ok, old, bad = run("ok", 3), run("ok", 30), run("failed", 1)
    assert health_of(None, None, None, 300.0, now) == "never run"
    assert health_of(ok, ok, ok, 300.0, now) == "on time"
    assert health_of(old, old, old, 300.0, now) == "late"  # 30 min > two 5-minute periods
    assert health_of(bad, bad, old, 300.0, now) == "failing"
    assert health_of(old, old, old, None, now) == "on time"  # no schedule: never late
