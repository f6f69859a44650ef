"""The shared transport against a hostile loopback server: deadlines, size caps, redirects, failure mapping."""

from __future__ import annotations

import inspect
import time
import tracemalloc
import zlib
from email.utils import format_datetime

import httpx
import pytest
from hostile import Hostile, Reply, gzip_bomb, gzipped

from ferry.connectors.errors import ConnectorError, GiveUp, OutcomeUnknown, RetryLater
from ferry.connectors.transport import (
    HTTPX_REMEDIES,
    Remedy,
    Transport,
    TransportLimits,
    _Progress,
    parse_json,
    parse_retry_after,
    remedy_for,
)
from ferry.sandbox.serve import free_port

MIB = 1024 * 1024


def transport(deadline: float = 5.0, cap: int = MIB) -> Transport:
    return Transport(limits=TransportLimits(deadline_s=deadline, max_response_bytes=cap))


# -- one mapping -----------------------------------------------------------------------------------


def httpx_exception_classes() -> list[type[Exception]]:
    return [
        obj
        for name in dir(httpx)
        if inspect.isclass(obj := getattr(httpx, name)) and issubclass(obj, Exception)
    ]


def test_every_httpx_exception_class_is_mapped_explicitly() -> None:
    classes = httpx_exception_classes()
    assert len(classes) >= 28  # httpx 0.28 exports 28; fewer means the walk is broken
    unmapped = sorted(c.__name__ for c in classes if c not in HTTPX_REMEDIES)
    assert unmapped == [], f"add these httpx exceptions to HTTPX_REMEDIES: {unmapped}"


def _instance(cls: type[Exception]) -> Exception:
    request = httpx.Request("POST", "http://127.0.0.1/")
    if cls is httpx.HTTPStatusError:
        return cls("x", request=request, response=httpx.Response(500, request=request))
    for args in (("boom",), ()):
        for kwargs in ({"request": request}, {}):
            try:
                return cls(*args, **kwargs)
            except TypeError:
                continue
    raise AssertionError(f"cannot build {cls.__name__}")


@pytest.mark.parametrize("cls", httpx_exception_classes(), ids=lambda c: c.__name__)
def test_every_httpx_failure_becomes_a_typed_error_that_never_says_written(cls: type[Exception]) -> None:
    t = Transport()
    exc = _instance(cls)
    for idempotent in (True, False):
        error = t._mapped(exc, "api", idempotent, _Progress(), "POST")
        assert isinstance(error, ConnectorError)
        assert cls.__name__ in str(error)
        remedy = remedy_for(exc)
        if remedy is Remedy.RETRY:
            assert type(error) is RetryLater
        elif remedy is Remedy.GIVE_UP:
            assert type(error) is GiveUp
        else:
            # the request may have arrived: a write must be reconciled, a read may be sent again
            assert type(error) is (RetryLater if idempotent else OutcomeUnknown)


def test_a_write_error_after_a_post_is_outcome_unknown_everywhere() -> None:
    # the STYLE note: the three clients disagreed on this one; now there is one answer
    assert HTTPX_REMEDIES[httpx.WriteError] is Remedy.MAYBE_SENT
    assert HTTPX_REMEDIES[httpx.ConnectError] is Remedy.RETRY


async def test_connection_refused_is_retry_later_even_for_a_post() -> None:
    t = transport()
    with pytest.raises(RetryLater, match="could not connect") as info:
        await t.request("POST", f"http://127.0.0.1:{free_port()}/x", api="x", json={})
    assert type(info.value) is RetryLater and info.value.code == "ConnectError"
    await t.aclose()


# -- a total deadline ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "error"), [("GET", RetryLater), ("POST", OutcomeUnknown)])
async def test_a_trickling_answer_is_cut_at_the_call_deadline(
    hostile: Hostile, method: str, error: type[ConnectorError]
) -> None:
    # one byte every 50 ms: each read is quick (httpx's per-read timeout never fires), the whole takes 10 s
    hostile.state.on("/trickle", Reply(body=b'{"a": "' + b"x" * 200 + b'"}', chunk=1, delay_s=0.05))
    t = transport(deadline=0.5)
    started = time.monotonic()
    with pytest.raises(error, match=r"timed out after 0.5 s while reading the answer") as info:
        await t.request(method, hostile.url + "/trickle", api="trickle")
    elapsed = time.monotonic() - started
    await t.aclose()
    assert type(info.value) is error
    assert elapsed < 2.0


async def test_a_server_that_never_answers_a_write_is_outcome_unknown_at_the_deadline(
    hostile: Hostile,
) -> None:
    hostile.state.on("/hang", Reply(wait_s=3.0))
    t = transport(deadline=0.3)
    with pytest.raises(OutcomeUnknown, match="waiting for the answer"):
        await t.request("POST", hostile.url + "/hang", api="hang", json={"amount": 1})
    await t.aclose()
    assert len(hostile.state.requests_to("/hang")) == 1


# -- a maximum answer size -------------------------------------------------------------------------


async def test_a_declared_size_over_the_cap_is_refused_before_the_body_is_read(hostile: Hostile) -> None:
    hostile.state.on("/big", Reply(size=65 * MIB, delay_s=0.01))
    t = transport(cap=MIB, deadline=5)
    started = time.monotonic()
    with pytest.raises(GiveUp, match=r"larger than the 1048576-byte limit \(68157440 bytes\)") as info:
        await t.request("GET", hostile.url + "/big", api="big")
    # 1,040 chunks 10 ms apart would take 10 s: it was refused from the headers
    assert time.monotonic() - started < 2.0
    assert info.value.code == "too_large"
    await t.aclose()


async def test_an_undeclared_huge_body_stops_at_the_cap_without_buffering_it(hostile: Hostile) -> None:
    hostile.state.on("/big", Reply(size=65 * MIB, chunked=True))
    t = transport(cap=MIB, deadline=20)
    caught: list[BaseException] = []

    async def call() -> None:
        try:
            await t.request("GET", hostile.url + "/big", api="big")
        except ConnectorError as e:
            caught.append(e)

    tracemalloc.start()
    try:
        await call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    await t.aclose()
    assert len(caught) == 1 and isinstance(caught[0], GiveUp) and "larger than" in str(caught[0])
    # the whole 65 MiB would have been held; the cap plus a few chunks is what was
    assert peak < 6 * MIB, peak


async def test_a_huge_answer_to_a_write_is_outcome_unknown(hostile: Hostile) -> None:
    hostile.state.on("/big", Reply(size=2 * MIB, chunked=True))
    t = transport(cap=MIB)
    with pytest.raises(OutcomeUnknown, match="may have been applied"):
        await t.request("POST", hostile.url + "/big", api="big", json={})
    await t.aclose()


async def test_a_gzip_bomb_is_stopped_while_inflating(hostile: Hostile) -> None:
    bomb = gzip_bomb(64 * MIB)
    assert len(bomb) < 100 * 1024
    hostile.state.on("/bomb", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    t = transport(cap=MIB, deadline=20)
    tracemalloc.start()
    try:
        with pytest.raises(GiveUp, match="larger than"):
            await t.request("GET", hostile.url + "/bomb", api="bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    await t.aclose()
    assert peak < 8 * MIB, peak


async def test_gzip_and_both_deflate_forms_are_read(hostile: Hostile) -> None:
    value = {"items": [{"id": i} for i in range(50)]}
    raw = b'{"ok": true}'
    zlib_form = zlib.compress(raw)
    bare = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = bare.compress(raw) + bare.flush()
    hostile.state.on("/gz", Reply(body=gzipped(value), headers={"Content-Encoding": "gzip"}))
    hostile.state.on("/zl", Reply(body=zlib_form, headers={"Content-Encoding": "deflate"}))
    hostile.state.on("/rd", Reply(body=raw_deflate, headers={"Content-Encoding": "deflate"}))
    t = transport()
    assert (await t.request("GET", hostile.url + "/gz", api="gz")).json() == value
    assert (await t.request("GET", hostile.url + "/zl", api="zl")).json() == {"ok": True}
    assert (await t.request("GET", hostile.url + "/rd", api="rd")).json() == {"ok": True}
    assert hostile.state.seen[0].headers["accept-encoding"] == "gzip, deflate"
    await t.aclose()


async def test_corrupt_or_unrequested_encodings_are_typed_errors(hostile: Hostile) -> None:
    hostile.state.on("/bad", Reply(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}))
    hostile.state.on("/br", Reply(body=b"\x0b\x02\x80hello", headers={"Content-Encoding": "br"}))
    t = transport()
    with pytest.raises(RetryLater, match="DecodingError"):
        await t.request("GET", hostile.url + "/bad", api="bad")
    with pytest.raises(OutcomeUnknown, match="DecodingError"):
        await t.request("POST", hostile.url + "/br", api="br", json={})
    await t.aclose()


# -- redirects -------------------------------------------------------------------------------------


async def test_a_same_origin_redirect_is_followed_for_reads(hostile: Hostile) -> None:
    hostile.state.on("/old", Reply(302, headers={"Location": "/new?x=1"}))
    hostile.state.on("/new", Reply(body={"here": True}))
    t = transport()
    answer = await t.request(
        "GET", hostile.url + "/old", api="r", follow_redirects=True, headers={"X-Api-Key": "k-123456"}
    )
    assert answer.json() == {"here": True} and answer.url.path == "/new"
    assert hostile.state.requests_to("/new")[0].headers["x-api-key"] == "k-123456"
    await t.aclose()


async def test_a_cross_origin_redirect_is_refused_and_the_key_never_leaves(
    hostile: Hostile, elsewhere: Hostile
) -> None:
    elsewhere.state.on("/steal", Reply(body={"stolen": True}))
    hostile.state.on("/old", Reply(301, headers={"Location": elsewhere.url + "/steal"}))
    t = transport()
    with pytest.raises(GiveUp, match="redirected to another origin") as info:
        await t.request(
            "GET",
            hostile.url + "/old",
            api="r",
            follow_redirects=True,
            headers={"X-Api-Key": "k-123456", "Authorization": "Bearer t-123456"},
        )
    await t.aclose()
    assert info.value.code == "cross_origin_redirect"
    assert elsewhere.state.seen == []


async def test_redirects_are_not_followed_for_writes(hostile: Hostile) -> None:
    hostile.state.on("/old", Reply(307, headers={"Location": "/new"}))
    t = transport()
    answer = await t.request("POST", hostile.url + "/old", api="w", follow_redirects=True, json={})
    assert answer.status == 307 and hostile.state.requests_to("/new") == []
    await t.aclose()


async def test_a_redirect_loop_stops(hostile: Hostile) -> None:
    hostile.state.on("/a", Reply(302, headers={"Location": "/a"}))
    t = transport()
    with pytest.raises(GiveUp, match="redirects"):
        await t.request("GET", hostile.url + "/a", api="loop", follow_redirects=True)
    await t.aclose()


# -- Retry-After and JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("1e300", 3600.0),
        ("99999999999999999999", 3600.0),
        ("-5", 0.0),
        ("inf", None),
        ("-inf", None),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
    ],
)
def test_retry_after_is_clamped_and_never_raises(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    import datetime as dt

    now = time.time()
    when = format_datetime(dt.datetime.fromtimestamp(now + 120, dt.UTC), usegmt=True)
    got = parse_retry_after(when, now=now)
    assert got is not None and 118 <= got <= 121


def test_json_nested_too_deep_is_a_value_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(ValueError):
        parse_json(b"\xff\xfe\x00garbage")


def test_no_connector_makes_an_http_client_of_its_own() -> None:
    # one transport for every connector: a client built elsewhere would escape the deadline, the size
    # cap, the redirect rule and the failure mapping
    from pathlib import Path

    import ferry.connectors

    root = Path(ferry.connectors.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "transport.py" and "AsyncClient(" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_json_deeper_than_the_limit_is_refused_and_shallower_is_read() -> None:
    from ferry.connectors.bodies import MAX_JSON_DEPTH

    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json(ok) is not None
    # 900 levels parse from a shallow stack, then crash code with a deeper one (the ledger's hashing)
    deep = b'{"items": [{"id": "A", "x": ' + b"[" * 900 + b"]" * 900 + b"}]}"
    with pytest.raises(ValueError, match=f"deeper than {MAX_JSON_DEPTH}"):
        parse_json(deep)
