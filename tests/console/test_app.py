"""The console app: health and readiness, login with two roles, CSRF, throttling, safe redirects,
security headers, and no password on any page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ferry.console.app import create_app
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.errors import ConfigError
from ferry.store import Collected, Ledger

OPERATOR = "operator-password-1"
VIEWER = "viewer-password-22"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    led.migrate()
    led.collect("s1", [Collected(source_id="A", number="N-A", content={"x": 1})])
    yield led
    led.close()


def client(ledger: Ledger, **env: str) -> TestClient:
    settings = ConsoleSettings.from_env(env=env)
    return TestClient(create_app(ConsoleState(ledger, settings)), follow_redirects=False)


def login(c: TestClient, password: str, name: str = "张三") -> int:
    page = c.get("/login")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    return c.post("/login", data={"name": name, "password": password, "csrf": token, "next": "/"}).status_code


def test_health_and_readiness(ledger: Ledger) -> None:
    c = client(ledger)
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").json() == {"status": "ready"}

    async def not_ready() -> list[str]:
        return ["connection kingdee_main: not defined"]

    app = create_app(ConsoleState(ledger, ConsoleSettings.from_env(env={})), readiness=not_ready)
    answer = TestClient(app).get("/readyz")
    assert answer.status_code == 503 and answer.json()["problems"] == ["connection kingdee_main: not defined"]


def test_without_a_password_the_loopback_console_is_open_and_other_addresses_are_refused(
    ledger: Ledger,
) -> None:
    page = client(ledger).get("/")
    assert page.status_code == 200 and 'data-role="operator"' in page.text
    with pytest.raises(ConfigError, match="without a password"):
        ConsoleSettings.from_env(host="0.0.0.0", env={})
    with pytest.raises(ConfigError, match="shorter than"):
        ConsoleSettings.from_env(env={"FERRY_CONSOLE_PASSWORD": "short"})


def test_the_password_decides_the_role(ledger: Ledger) -> None:
    env = {"FERRY_CONSOLE_PASSWORD": OPERATOR, "FERRY_CONSOLE_VIEWER_PASSWORD": VIEWER}
    c = client(ledger, **env)
    first = c.get("/")
    assert first.status_code == 303 and first.headers["location"].startswith("/login")
    assert login(c, "not-the-password") == 401
    assert login(c, OPERATOR) == 303
    page = c.get("/")
    assert page.status_code == 200 and 'data-role="operator"' in page.text and "张三" in page.text
    viewer = client(ledger, **env)
    assert login(viewer, VIEWER, name="李四") == 303
    assert 'data-role="viewer"' in viewer.get("/").text
    # no password ever reaches a page or a header
    for c_ in (c, viewer):
        for path in ("/", "/login"):
            answer = c_.get(path)
            assert OPERATOR not in answer.text and VIEWER not in answer.text
            assert all(OPERATOR not in v and VIEWER not in v for v in answer.headers.values())


def test_a_login_without_the_csrf_token_is_refused_and_failures_are_throttled(ledger: Ledger) -> None:
    c = client(ledger, FERRY_CONSOLE_PASSWORD=OPERATOR)
    c.get("/login")
    assert c.post("/login", data={"name": "x", "password": OPERATOR}).status_code == 403
    for _ in range(5):
        assert login(c, "wrong-password-x") == 401
    # even the right password waits once an address has failed too often
    assert login(c, OPERATOR) == 429


def test_logins_redirect_only_within_the_console_and_pages_carry_security_headers(ledger: Ledger) -> None:
    c = client(ledger, FERRY_CONSOLE_PASSWORD=OPERATOR)
    page = c.get("/login")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    answer = c.post(
        "/login", data={"name": "x", "password": OPERATOR, "csrf": token, "next": "//evil.example/"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    headers = c.get("/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_an_htmx_request_without_a_session_is_told_to_reload_at_the_login(ledger: Ledger) -> None:
    c = client(ledger, FERRY_CONSOLE_PASSWORD=OPERATOR)
    answer = c.get("/", headers={"HX-Request": "true"})
    assert answer.status_code == 204 and answer.headers["hx-redirect"].startswith("/login")
