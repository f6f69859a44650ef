"""Property tests over the REST connector's answer interpretation and paging: whatever the answer, only
typed connector errors come out, in bounded time, and nothing is taken as written that does not say so."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
from fuzzing import FAST, OVER_HTTP, json_objects, json_values
from hostile import Hostile, Reply
from hypothesis import given
from hypothesis import strategies as st

from ferry.connectors.base import Window, WriteItem
from ferry.connectors.errors import ConnectorError, OutcomeUnknown
from ferry.connectors.http import build_source, build_target, make_paginator
from ferry.connectors.http.outcome import SuccessRule, page_failure, write_verdict
from ferry.connectors.http.paths import records_at
from ferry.connectors.transport import parse_retry_after

WINDOW = Window(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
rules = st.sampled_from(
    [
        SuccessRule(),
        SuccessRule(path="success"),
        SuccessRule(path="data.state", values=("OK", 0)),
        SuccessRule(error_path="error"),
        SuccessRule(accept_empty=True),
    ]
)


@FAST
@given(value=json_values(), rule=rules, empty=st.booleans())
def test_a_write_verdict_is_none_or_a_typed_error(value: Any, rule: SuccessRule, empty: bool) -> None:
    verdict = write_verdict(value, rule, api="fuzz", empty=empty)
    assert verdict is None or isinstance(verdict, ConnectorError)
    if verdict is None and not rule.accept_empty:
        # written only when the answer is there and says something
        assert not empty and value is not None


@FAST
@given(
    extra=json_objects,
    flag=st.sampled_from([False, "false", "FALSE"]),
    key=st.sampled_from(["success", "ok"]),
)
def test_an_answer_that_says_false_is_never_written(extra: dict[str, Any], flag: Any, key: str) -> None:
    answer = {**extra, key: flag}
    assert write_verdict(answer, SuccessRule(), api="fuzz") is not None
    assert page_failure(answer, SuccessRule(), api="fuzz") is not None


@FAST
@given(value=json_values(), rule=rules)
def test_a_page_failure_is_none_or_a_typed_error_never_unknown(value: Any, rule: SuccessRule) -> None:
    failure = page_failure(value, rule, api="fuzz")
    assert failure is None or (
        isinstance(failure, ConnectorError) and not isinstance(failure, OutcomeUnknown)
    )


@FAST
@given(data=json_values(), path=st.sampled_from([None, "items", "data.items", "0", "x.y.z"]))
def test_records_at_gives_a_list_of_objects_or_a_typed_error(data: Any, path: str | None) -> None:
    try:
        records = records_at(data, path, api="fuzz")
    except ConnectorError:
        return
    assert isinstance(records, list) and all(isinstance(r, dict) for r in records)


@FAST
@given(
    style=st.sampled_from(["page", "offset", "cursor", "next_link", "none"]),
    answers=st.lists(json_values(), min_size=1, max_size=6),
)
def test_paginators_stop_or_raise_typed_errors_on_any_answers(style: str, answers: list[Any]) -> None:
    paginator = make_paginator({"style": style, "page_size": 2, "total_path": "total", "max_pages": 5})
    url = httpx.URL("http://127.0.0.1/list")
    for data in answers:
        try:
            paginator.check_budget()
            records = records_at(data, None if isinstance(data, list) else "items", api="fuzz")
            if not paginator.advance(data, records, url):
                return
        except ConnectorError:
            return


@FAST
@given(
    value=st.text(max_size=60) | st.sampled_from(["1e309", "-0", "Infinity", "Mon, 99 Foo 2026 99:99:99 GMT"])
)
def test_retry_after_is_bounded_for_any_text(value: str) -> None:
    got = parse_retry_after(value)
    assert got is None or 0.0 <= got <= 3600.0


# -- over real HTTP --------------------------------------------------------------------------------


def _body(value: Any, raw: bytes | None) -> bytes:
    return raw if raw is not None else json.dumps(value).encode()


raw_bodies = st.none() | st.binary(max_size=64) | st.sampled_from([b"", b"null", b"[" * 3000, b'{"a":'])


@OVER_HTTP
@given(
    results=st.lists(st.one_of(st.none(), json_objects), max_size=6), n=st.integers(1, 4), wrap=st.booleans()
)
def test_array_writes_give_one_outcome_each_and_never_one_document_twice(
    hostile: Hostile, results: list[Any], n: int, wrap: bool
) -> None:
    hostile.state.on("/pay", Reply(200, {"results": results} if wrap else results))

    async def run() -> list[Any]:
        target = build_target(
            {"base_url": hostile.url, "timeout": 5},
            {"api": "/pay", "batch_size": 10, "params": {"batch_mode": "array"}},
        )
        try:
            items = [WriteItem(key=k, source_id=f"S{k}", number=None, request={"k": k}) for k in range(n)]
            return list(await target.write(items))
        except ConnectorError:
            return []
        finally:
            await target.aclose()

    outcomes = asyncio.run(run())
    if not outcomes:
        return
    assert sorted(o.key for o in outcomes) == list(range(n))
    ids = [o.doc.id for o in outcomes if o.ok and o.doc is not None and o.doc.id is not None]
    assert len(ids) == len(set(ids))
    for o in outcomes:
        assert o.ok or isinstance(o.error, ConnectorError)


@OVER_HTTP
@given(
    status=st.sampled_from([200, 201, 204, 400, 429, 500, 504]),
    value=json_values(),
    raw=raw_bodies,
    retry_after=st.none() | st.text(max_size=20).filter(lambda t: "\r" not in t and "\n" not in t),
)
def test_any_answer_to_a_single_write_is_an_outcome_not_a_crash(
    hostile: Hostile, status: int, value: Any, raw: bytes | None, retry_after: str | None
) -> None:
    headers = (
        {"Retry-After": retry_after.encode("latin-1", "replace").decode("latin-1")} if retry_after else {}
    )
    hostile.state.on("/pay", Reply(status, _body(value, raw), headers=headers))

    async def run() -> Any:
        target = build_target({"base_url": hostile.url, "timeout": 5}, {"api": "/pay"})
        try:
            (outcome,) = await target.write([WriteItem(key=1, source_id="S", number=None, request={"a": 1})])
            return outcome
        finally:
            await target.aclose()

    outcome = asyncio.run(run())
    assert outcome.ok or isinstance(outcome.error, ConnectorError)
    if outcome.error is not None and outcome.error.retry_after is not None:
        assert 0 <= outcome.error.retry_after <= 3600
    if outcome.ok:
        assert 200 <= status < 300 and raw is None and isinstance(value, dict) and value


@OVER_HTTP
@given(
    pages=st.lists(json_values(), min_size=1, max_size=3),
    raw=raw_bodies,
    style=st.sampled_from(["page", "cursor", "next_link"]),
)
def test_any_answer_to_a_source_page_is_records_or_a_typed_error(
    hostile: Hostile, pages: list[Any], raw: bytes | None, style: str
) -> None:
    replies = [Reply(200, _body(p, None)) for p in pages]
    if raw is not None:
        replies.append(Reply(200, raw))
    hostile.state.on("/list", *replies)

    async def run() -> None:
        source = build_source(
            {"base_url": hostile.url, "timeout": 5},
            {
                "api": "/list",
                "params": {"records_path": "items", "pagination": {"style": style, "max_pages": 4}},
            },
        )
        try:
            async for page in source.pages(WINDOW, lambda v: {}):
                assert all(isinstance(r, dict) for r in page.records)
        except ConnectorError:
            pass
        finally:
            await source.aclose()

    asyncio.run(run())
