"""The live stream over plain HTTP (``GET /live``, server-sent events), against the console served by
the real service (build_service, uvicorn on a free port) over a SQLite ledger: a change in the ledger
is pushed as an ``event: ledger`` naming the new signature; a page rendered before a change learns of it
when it connects (``since``); viewers may listen, strangers may not; and stopping the service ends the
open streams instead of waiting for them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from world import OPERATOR, VIEWER, ServiceThread

from ferry.console.serve import build_service
from ferry.console.settings import ConsoleSettings
from ferry.engine import steer
from ferry.sandbox.serve import free_port
from ferry.store import Collected, Ledger
from ferry.store.console_queries import ledger_signature

SID = "live-scheme"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    led.migrate()
    led.collect(SID, [Collected(source_id="a-1", number="SP-1", content={"x": 1})])
    yield led
    led.close()


@pytest.fixture
def service(ledger: Ledger) -> Iterator[ServiceThread]:
    env = {"FERRY_CONSOLE_PASSWORD": OPERATOR, "FERRY_CONSOLE_VIEWER_PASSWORD": VIEWER}
    settings = ConsoleSettings.from_env(port=free_port(), env=env)
    # ferry console's shape: no engine, the pages alone (the stream needs nothing more)
    running = ServiceThread(build_service(ledger, [], settings), None).start()
    yield running
    running.stop()


def _client(url: str, password: str) -> httpx.Client:
    import re

    client = httpx.Client(base_url=url, timeout=10)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    answer = client.post(
        "/login", data={"name": "值班", "password": password, "csrf": token.group(1), "next": "/"}
    )
    assert answer.status_code == 303
    return client


def _next_event(lines: Iterator[str]) -> dict[str, str]:
    """The next event's fields (comment lines, the pings, are passed over)."""
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                return event
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        event[name] = value.strip()
    raise AssertionError("the stream ended without an event")


def test_a_change_in_the_ledger_is_pushed(service: ServiceThread, ledger: Ledger) -> None:
    before = ledger_signature(ledger)
    # viewers may watch too
    with (
        closing(_client(service.url, VIEWER)) as client,
        client.stream("GET", "/live", params={"since": before}) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["x-accel-buffering"] == "no"  # nginx passes it on unbuffered
        row = ledger.get(SID, "a-1")
        assert row is not None
        steer.skip(ledger, [row.id], by="test")  # a transition: an event row
        event = _next_event(stream.iter_lines())
    assert event["event"] == "ledger"
    assert event["data"] == event["id"] == ledger_signature(ledger) != before


def test_a_page_rendered_before_a_change_learns_of_it_when_it_connects(
    service: ServiceThread, ledger: Ledger
) -> None:
    import re

    with closing(_client(service.url, OPERATOR)) as client:
        page = client.get("/records").text
        since = re.search(r'sse-connect="/live\?since=([^"]+)"', page)
        assert since is not None and since.group(1) == ledger_signature(ledger)
        ledger.collect(SID, [Collected(source_id="a-2", number="SP-2", content={"x": 2})])
        with client.stream("GET", "/live", params={"since": since.group(1)}) as stream:
            event = _next_event(stream.iter_lines())
        assert event["data"] == ledger_signature(ledger)
        # the part the page swaps in shows the new record
        assert 'data-source="a-2"' in client.get("/records/live").text


def test_strangers_get_no_stream(service: ServiceThread) -> None:
    answer = httpx.get(service.url + "/live", timeout=10)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_stopping_the_service_ends_open_streams(ledger: Ledger) -> None:
    settings = ConsoleSettings.from_env(port=free_port(), env={})
    running = ServiceThread(build_service(ledger, [], settings), None).start()
    opened, ended = threading.Event(), threading.Event()

    def listen() -> None:
        with httpx.stream("GET", running.url + "/live", timeout=30) as stream:
            opened.set()
            for _ in stream.iter_lines():
                pass
        ended.set()

    listener = threading.Thread(target=listen, daemon=True)
    with httpx.Client(timeout=10) as probe:
        assert probe.get(running.url + "/healthz").status_code == 200
    listener.start()
    assert opened.wait(10)
    running.stop()  # joins the service's thread: it returns only once the HTTP server is down
    listener.join(30)
    assert ended.is_set() and not running.alive
