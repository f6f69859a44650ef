"""Credentials obtained at run time (tokens, session ids) are masked in httpx's and httpcore's own log lines.

With DEBUG logging, httpx logs each request's URL (DingTalk's legacy host takes the token in the query)
and httpcore logs each answer's headers (Kingdee's ``Set-Cookie: kdservice-sessionid=...``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings
from ferry.connectors.kingdee import AuthMode, KingdeeAuth, KingdeeClient
from ferry.observe import redact as redaction
from ferry.sandbox.kingdee import KingdeeSandbox, SandboxConfig
from ferry.sandbox.serve import ServerThread


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    redaction.install()
    caplog.set_level(logging.DEBUG)
    yield caplog
    redaction.uninstall()


async def test_the_dingtalk_legacy_token_never_shows_in_library_log_lines(
    sandbox: Any, logged: pytest.LogCaptureFixture
) -> None:
    settings = DingTalkSettings(
        app_key=sandbox.config.app_key,
        app_secret=sandbox.config.app_secret,
        api_style="oapi",
        oapi_base=sandbox.url,
        api_base=sandbox.url,
    )
    async with DingTalkClient(settings) as client:
        token = await client.get_token()
        now = int(time.time() * 1000)
        await client.list_instance_ids(sandbox.config.process_code, now - 86_400_000, now)
    lines = [r.getMessage() for r in logged.records if r.name.startswith(("httpx", "httpcore"))]
    assert any("access_token=***" in line for line in lines), lines  # the line is there, masked
    assert token not in logged.text
    assert sandbox.config.app_secret not in logged.text


async def test_a_kingdee_session_id_never_shows_in_library_log_lines(
    logged: pytest.LogCaptureFixture,
) -> None:
    sandbox = KingdeeSandbox(SandboxConfig(random_seed=3))
    with ServerThread(sandbox) as server:
        auth = KingdeeAuth.create(
            AuthMode.VALIDATE_USER, acct_id="65a0b1c2d3e4f5", username="demo", password="sandbox-password"
        )
        async with KingdeeClient(server.url + "/k3cloud/", auth) as client:
            await client.execute_bill_query("CN_PAYAPPLY", "FBillNo")
            session = client.session_id
    assert session
    header_lines = [
        r.getMessage() for r in logged.records if "receive_response_headers.complete" in r.getMessage()
    ]
    assert header_lines and any("kdservice-sessionid=***" in line for line in header_lines), header_lines
    assert session not in logged.text
    assert "sandbox-password" not in logged.text
