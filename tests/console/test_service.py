"""``ferry serve`` as a real service (a subprocess on a free port, over both sandboxes): health and
readiness, DingTalk events through the HTTP callback and through Stream mode bringing a finished
approval's payment bill without a poll, the refusal of an exposed console without a password, a clean
stop on SIGTERM; and ``ferry console`` serving the pages alone."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest
from service import (
    EVENT_AES_KEY,
    EVENT_TOKEN,
    SCHEME_ID,
    World,
    postgres_schema,
    sandboxes,
    start,
    wait_until,
)

from ferry.sandbox import linked
from ferry.store import Collected, Ledger


def _first_passes_done(ledger: Ledger) -> bool:
    """The first collect is done and what it stored is dispatched (a collect brings dispatch forward)."""
    runs = ledger.list_runs(SCHEME_ID, limit=50)
    done = {(r.kind, r.trigger) for r in runs if r.status == "ok"}
    counts = ledger.counts(SCHEME_ID)
    settled = counts.get("written", 0) > 0 and not {"pending", "writing"} & set(counts)
    return ("collect", "schedule") in done and settled and all(r.status != "running" for r in runs)


def _late_bill_arrives_by_event(world: World, running_url: str, ledger: Ledger) -> None:
    """Approve the 'late' request now: with the next poll an hour away, only its event can bring it."""
    late = world.plan.by_kind("late")[0]
    assert late.instance_id is not None and late.bill_number is not None
    wait_until("the first collect and dispatch passes", lambda: _first_passes_done(ledger))
    assert linked.paybill_counts(world.kingdee, [late.bill_number]).get(late.bill_number, 0) == 0
    written_before = ledger.counts(SCHEME_ID).get("written", 0)
    assert written_before > 0  # the first pass did its work; the late one is not among it
    linked.approve(world.dingtalk, late.instance_id)
    wait_until(
        "the late approval's payment bill in Kingdee",
        lambda: linked.paybill_counts(world.kingdee, [late.bill_number]).get(late.bill_number, 0) == 1,
        timeout=60,
    )
    # the bill exists at Kingdee before its Submit and Audit are done: then the record is written
    wait_until(
        "the late record written",
        lambda: getattr(ledger.get(SCHEME_ID, late.instance_id), "status", None) == "written",
        timeout=30,
    )
    assert any(r.trigger == "event" and r.kind == "collect" for r in ledger.list_runs(SCHEME_ID, limit=50))
    # no scheduled collect ran since the first: the event alone explains the bill
    scheduled = [
        r for r in ledger.list_runs(SCHEME_ID, limit=50) if r.kind == "collect" and r.trigger == "schedule"
    ]
    assert len(scheduled) == 1


def _stopped_cleanly(code: int, log: str, ledger: Ledger) -> None:
    assert code == 0, log
    assert "Traceback" not in log, log
    runs = ledger.list_runs(limit=100)
    assert runs and all(r.status != "running" for r in runs), [(r.kind, r.status) for r in runs]
    assert "writing" not in ledger.counts(SCHEME_ID)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_serve_answers_health_and_an_http_callback_event_brings_the_bill_at_once(
    tmp_path: Path, backend: str
) -> None:
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(postgres_schema()) if backend == "postgres" else ""
        _callback_journey(tmp_path, db_url)


def _callback_journey(tmp_path: Path, db_url: str) -> None:
    with sandboxes(tmp_path, db_url=db_url) as world:
        conns = world.connections(events="callback")
        running = start(["serve", str(world.schemes()), "--connections", str(conns)], world.env(), tmp_path)
        ledger = Ledger(world.db_url)
        try:
            assert httpx.get(running.url + "/healthz").json() == {"status": "ok"}
            assert httpx.get(running.url + "/readyz").json() == {"status": "ready"}
            # the callback route came from the connection's settings; DingTalk checks it like the console
            r = httpx.put(
                f"{world.dingtalk}/_sandbox/callback",
                json={
                    "url": running.url + "/dingtalk/events",
                    "token": EVENT_TOKEN,
                    "aes_key": EVENT_AES_KEY,
                },
                timeout=30,
            )
            assert r.status_code == 200 and r.json()["registered"], r.text
            _late_bill_arrives_by_event(world, running.url, ledger)
            page = httpx.get(running.url + "/")
            assert page.status_code == 200
        finally:
            code = running.stop()
        log = running.log()
        _stopped_cleanly(code, log, ledger)
        assert running.url in log  # the console's address is printed at start
        assert f"pass scheme={SCHEME_ID} kind=collect trigger=schedule collected=" in log
        assert f"pass scheme={SCHEME_ID} kind=dispatch trigger=schedule written=" in log
        # the secrets were used, never printed
        for secret in (world.dt.app_secret, world.kd.app_secret, EVENT_TOKEN, EVENT_AES_KEY):
            assert secret not in log
        ledger.close()


def test_serve_receives_events_in_stream_mode(tmp_path: Path) -> None:
    with sandboxes(tmp_path) as world:
        conns = world.connections(events="stream")
        running = start(["serve", str(world.schemes()), "--connections", str(conns)], world.env(), tmp_path)
        ledger = Ledger(world.db_url)
        try:
            # ready once the Stream socket is open: readiness says so until then
            wait_until("readiness", lambda: httpx.get(running.url + "/readyz").status_code == 200, timeout=30)
            stream = httpx.get(f"{world.dingtalk}/_sandbox/stream").json()
            assert len(stream["connections"]) == 1
            _late_bill_arrives_by_event(world, running.url, ledger)
            acks = httpx.get(f"{world.dingtalk}/_sandbox/stream").json()["acks"]
            assert acks, "the event went over the socket and was acknowledged"
        finally:
            code = running.stop()
        _stopped_cleanly(code, running.log(), ledger)
        ledger.close()


def test_readiness_names_a_missing_connection(tmp_path: Path) -> None:
    with sandboxes(tmp_path) as world:
        conns = world.connections(kingdee=False)
        running = start(["serve", str(world.schemes()), "--connections", str(conns)], world.env(), tmp_path)
        try:
            assert httpx.get(running.url + "/healthz").status_code == 200
            answer = httpx.get(running.url + "/readyz")
            assert answer.status_code == 503
            problems = answer.json()["problems"]
            assert any("kingdee_main" in p and "not defined" in p for p in problems), problems
        finally:
            code = running.stop()
        # one scheme's missing target stops neither the service nor its collect
        assert code == 0, running.log()
        assert "kingdee_main" in running.log()


def test_an_exposed_console_without_a_password_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    with sandboxes(tmp_path) as world:
        conns = world.connections()
        args = ["serve", str(world.schemes()), "--connections", str(conns), "--host", "0.0.0.0"]
        done = subprocess.run(
            [sys.executable, "-m", "ferry", *args, "--port", "1"],
            env=world.env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        assert "refusing to serve the console on 0.0.0.0 without a password" in done.stderr
        assert "FERRY_CONSOLE_PASSWORD" in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 3, done.stderr
        assert not (tmp_path / "ferry.db").exists()  # refused before anything opened

        # with a password it serves there, and the pages ask for a login
        env = world.env(FERRY_CONSOLE_PASSWORD="operator-password-1")
        running = start(
            ["serve", str(world.schemes()), "--connections", str(conns), "--host", "0.0.0.0"], env, tmp_path
        )
        try:
            assert httpx.get(running.url + "/healthz").status_code == 200
            page = httpx.get(running.url + "/")
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
        finally:
            assert running.stop() == 0, running.log()
        assert "operator-password-1" not in running.log()


def test_ferry_console_serves_the_pages_alone(tmp_path: Path) -> None:
    with sandboxes(tmp_path) as world:
        ledger = Ledger(world.db_url)
        ledger.migrate()
        ledger.collect(SCHEME_ID, [Collected(source_id="PROC-INST-1", number="SP-0001", content={"x": 1})])
        world.connections(events="callback")  # in the folder: the console must not act on it
        calls_before = httpx.get(f"{world.dingtalk}/_sandbox/calls").json()["by_api"]
        running = start(["console", str(world.schemes()), "--db", world.db_url], world.env(), tmp_path)
        try:
            assert httpx.get(running.url + "/readyz").json() == {"status": "ready"}
            page = httpx.get(running.url + "/")
            assert page.status_code == 200 and SCHEME_ID in page.text
            # no event intake and no schedules: nothing was collected, no run was started
            assert httpx.post(running.url + "/dingtalk/events", json={}).status_code in (404, 405)
            calls = httpx.get(f"{world.dingtalk}/_sandbox/calls").json()["by_api"]
        finally:
            code = running.stop()
        assert code == 0, running.log()
        assert ledger.list_runs(limit=10) == []
        assert ledger.counts(SCHEME_ID) == {"pending": 1}
        assert "no schedules" in running.log()
        assert calls == calls_before  # not one call to DingTalk
        ledger.close()


def test_a_taken_port_is_one_clear_error_and_no_pass_runs(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with sandboxes(tmp_path) as world, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["serve", str(world.schemes()), "--connections", str(world.connections()), "--port", str(port)]
        done = subprocess.run(
            [sys.executable, "-m", "ferry", *args],
            env=world.env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert f"cannot listen on 127.0.0.1:{port}: address already in use" in done.stderr
        assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr
        ledger = Ledger(world.db_url)
        assert ledger.list_runs(limit=10) == []  # nothing ran before the app could listen
        ledger.close()
