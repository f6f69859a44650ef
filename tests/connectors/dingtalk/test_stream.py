"""Stream mode: our client against the sandbox's gateway and WebSocket, over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from dingtalk_approvals import create_running

from ferry.connectors.dingtalk.events import EventIntake
from ferry.connectors.dingtalk.stream import StreamClient
from ferry.connectors.errors import GiveUp


class Handler:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, process_code: str, instance_id: str) -> None:
        self.calls.append((process_code, instance_id))


async def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        await asyncio.sleep(0.02)


def stream_view(sb: Any) -> dict[str, Any]:
    return dict(sb.http.get("/_sandbox/stream").json())


@contextlib.asynccontextmanager
async def running(
    sb: Any, handler: Handler, **kw: Any
) -> AsyncIterator[tuple[StreamClient, asyncio.Task[None]]]:
    client = StreamClient(
        sb.config.app_key,
        sb.config.app_secret,
        EventIntake(handler),
        api_base=sb.url,
        backoff_s=(0.1, 0.2),
        **kw,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        await asyncio.wait_for(client.connected.wait(), 5)
        yield client, task
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_connects_receives_an_event_and_the_sandbox_records_the_ack(sandbox: Any) -> None:
    handler = Handler()
    async with running(sandbox, handler) as (client, _):
        view = stream_view(sandbox)
        assert len(view["connections"]) == 1
        assert view["connections"][0]["subscriptions"] == [{"type": "EVENT", "topic": "*"}]
        iid = create_running(sandbox)
        sandbox.http.post(f"/_sandbox/instances/{iid}/approve", json={}).raise_for_status()
        await until(lambda: handler.calls)
        assert handler.calls == [(sandbox.config.process_code, iid)]
        # every frame (start, task and finish events) acknowledged with SUCCESS
        events = sandbox.http.get("/_sandbox/events", params={"instance_id": iid}).json()["events"]
        view = await until(lambda: (v := stream_view(sandbox)) and len(v["acks"]) == len(events) and v)
        assert {a["event_id"] for a in view["acks"]} == {e["event_id"] for e in events}
        assert all(a["code"] == 200 and a["status"] == "SUCCESS" for a in view["acks"])
        assert view["unacked"] == []
        # read the deliveries again now that every ack is in (the first read may predate the last ack)
        events = sandbox.http.get("/_sandbox/events", params={"instance_id": iid}).json()["events"]
        assert all(d["ok"] is True for e in events for d in e["deliveries"] if d.get("channel") == "stream")
        assert client.stats["events"] == len(events)


async def test_a_redelivered_event_is_acknowledged_but_acted_on_once(sandbox: Any) -> None:
    handler = Handler()
    async with running(sandbox, handler):
        iid = create_running(sandbox)
        sandbox.http.post(f"/_sandbox/instances/{iid}/refuse", json={}).raise_for_status()
        await until(lambda: handler.calls)
        finish = next(
            e
            for e in sandbox.http.get("/_sandbox/events", params={"instance_id": iid}).json()["events"]
            if e["event_type"] == "bpms_instance_change" and e["payload"]["type"] == "finish"
        )
        before = len(stream_view(sandbox)["acks"])
        sandbox.http.post(f"/_sandbox/events/{finish['event_id']}/deliver").raise_for_status()
        await until(lambda: len(stream_view(sandbox)["acks"]) == before + 1)
        await asyncio.sleep(0.1)
        assert handler.calls == [(sandbox.config.process_code, iid)]


async def test_a_ping_is_answered_with_its_own_data(sandbox: Any) -> None:
    async with running(sandbox, Handler()) as (client, _):
        sent = sandbox.http.post("/_sandbox/stream/ping").json()["sent"]
        assert len(sent) == 1
        view = await until(lambda: (v := stream_view(sandbox))["pongs"] and v)
        (pong,) = view["pongs"]
        assert pong["message_id"] == sent[0] and pong["code"] == 200 and pong["echoed"] is True
        assert client.stats["pings"] == 1


@pytest.mark.parametrize("mode", ["drop", "system"])
async def test_reconnects_after_the_sandbox_drops_the_socket(sandbox: Any, mode: str) -> None:
    handler = Handler()
    async with running(sandbox, handler) as (client, _):
        sandbox.http.post("/_sandbox/stream/disconnect", json={"mode": mode}).raise_for_status()
        await until(
            lambda: stream_view(sandbox)["connections_opened"] == 2 and stream_view(sandbox)["connections"]
        )
        # the sandbox counts a connection before the client's handshake returns: wait for both sides
        await until(lambda: client.stats["connections"] == 2)
        if mode == "system":
            assert client.stats["disconnects"] == 1
        # the new connection carries events
        iid = create_running(sandbox)
        sandbox.http.post(f"/_sandbox/instances/{iid}/approve", json={}).raise_for_status()
        await until(lambda: handler.calls)
        assert handler.calls == [(sandbox.config.process_code, iid)]


async def test_events_raised_while_disconnected_arrive_on_the_next_connection(sandbox: Any) -> None:
    first = Handler()
    async with running(sandbox, first):
        pass
    await until(lambda: not stream_view(sandbox)["connections"])
    iid = create_running(sandbox)
    sandbox.http.post(f"/_sandbox/instances/{iid}/approve", json={}).raise_for_status()
    assert stream_view(sandbox)["unacked"]
    second = Handler()
    async with running(sandbox, second):
        await until(lambda: second.calls)
        await until(lambda: not stream_view(sandbox)["unacked"])
    assert first.calls == [] and second.calls == [(sandbox.config.process_code, iid)]


async def test_wrong_credentials_stop_the_client(sandbox: Any) -> None:
    client = StreamClient(sandbox.config.app_key, "wrong", EventIntake(Handler()), api_base=sandbox.url)
    with pytest.raises(GiveUp) as err:
        await asyncio.wait_for(client.run(), 5)
    assert err.value.code == "invalidClientIdOrSecret"


async def test_an_unreachable_gateway_is_retried_with_back_off(sandbox: Any) -> None:
    client = StreamClient(
        sandbox.config.app_key,
        sandbox.config.app_secret,
        EventIntake(Handler()),
        api_base="http://127.0.0.1:9",
        backoff_s=(0.05, 0.1),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    await until(lambda: client.stats["failures"] >= 3)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert client.stats["connections"] == 0


async def test_a_full_intake_answers_later_so_the_event_is_not_lost(sandbox: Any) -> None:
    release = asyncio.Event()
    calls: list[str] = []

    async def slow(process_code: str, instance_id: str) -> None:
        calls.append(instance_id)
        await release.wait()

    client = StreamClient(
        sandbox.config.app_key,
        sandbox.config.app_secret,
        EventIntake(slow, max_running=1, max_pending=1),
        api_base=sandbox.url,
        backoff_s=(0.1,),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        await asyncio.wait_for(client.connected.wait(), 5)
        first, second = create_running(sandbox), create_running(sandbox)
        for iid in (first, second):
            sandbox.http.post(f"/_sandbox/instances/{iid}/approve", json={}).raise_for_status()
        await until(lambda: client.stats["busy"] >= 1)
        view = await until(
            lambda: (v := stream_view(sandbox)) and any(a["status"] == "LATER" for a in v["acks"]) and v
        )
        later = {a["event_id"] for a in view["acks"] if a["status"] == "LATER"}
        # the refused event is still owed by DingTalk (redelivered on the next connection)
        assert later <= {u["event_id"] for u in view["unacked"]}
        assert calls == [first]
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, 5)
