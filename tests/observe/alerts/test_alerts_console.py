"""The console's alerts page: what fires, silences set and ended by operators only with CSRF, the delivery
log with the robot's words, and no secret on the page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alerts_peers import ROBOT_TOKEN, add_records, dispatch, robot_spec
from fastapi.testclient import TestClient

from ferry.console.app import create_app
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.observe.alerts import AlertBook, AlertService, Rules, build_channel
from ferry.observe.alerts.rules import AlertsFile
from ferry.store import Ledger

OPERATOR, VIEWER = "operator-password-1", "viewer-password-22"


def login(c: TestClient, password: str) -> str:
    token = c.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
    c.post("/login", data={"name": "李四", "password": password, "csrf": token, "next": "/"})
    page = c.get("/alerts")
    return page.text.split('name="csrf-token" content="')[1].split('"')[0]


async def test_the_page_shows_alerts_and_deliveries_and_operators_silence_them(
    ledger: Ledger, robot: Any
) -> None:
    now = dt.datetime.now(dt.UTC)
    rules = Rules(AlertsFile.model_validate({"defaults": {"group_wait": "0s"}}))
    bad = build_channel(robot_spec(robot, secret="SECwrongwrongwrong"))
    add_records(ledger, "pay", 2, now)
    dispatch(ledger, "pay", now, "dead", error_type="give_up", error_message="金蝶: 供应商不存在")
    await AlertService(ledger, rules, [bad]).tick(now)

    settings = ConsoleSettings.from_env(
        env={"FERRY_CONSOLE_PASSWORD": OPERATOR, "FERRY_CONSOLE_VIEWER_PASSWORD": VIEWER}
    )
    with TestClient(create_app(ConsoleState(ledger, settings)), follow_redirects=False) as c:
        assert c.get("/alerts").status_code == 303  # a login first
        csrf = login(c, OPERATOR)
        page = c.get("/alerts").text
        assert "record_dead" in page and "R0000" in page and "供应商不存在" in page
        assert "errcode 310000: sign not match" in page  # the robot's own words in the delivery log
        assert ROBOT_TOKEN not in page and "SECwrong" not in page
        assert 'href="/alerts"' in page
        assert (
            'name="matchers" value="record=R0000 rule=record_dead scheme=pay "' in page
        )  # one-click silence

        refused = c.post("/alerts/silences", data={"matchers": "scheme=pay", "duration": "1h"})
        assert refused.status_code == 403
        made = c.post("/alerts/silences", data={"matchers": "scheme=pay", "duration": "1h", "csrf": csrf})
        assert made.status_code == 303
        [silence] = AlertBook(ledger).silences(dt.datetime.now(dt.UTC))
        assert silence["matchers"] == {"scheme": "pay"} and silence["created_by"] == "console:李四"
        wrong = c.post("/alerts/silences", data={"matchers": "pay", "csrf": csrf})
        assert wrong.status_code == 400
        assert c.post(f"/alerts/silences/{silence['id']}/end", data={"csrf": csrf}).status_code == 303
        assert AlertBook(ledger).silences(dt.datetime.now(dt.UTC)) == []

    with TestClient(create_app(ConsoleState(ledger, settings)), follow_redirects=False) as viewer:
        csrf = login(viewer, VIEWER)
        assert "silence-form" not in viewer.get("/alerts").text
        denied = viewer.post("/alerts/silences", data={"matchers": "scheme=pay", "csrf": csrf})
        assert denied.status_code == 403
