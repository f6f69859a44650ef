"""The DingTalk client against a hostile server: an answer that is not a page is never an empty page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hostile import Hostile, Reply

from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings
from ferry.connectors.errors import GiveUp, RetryLater

LIST_OAPI = "/topapi/processinstance/listids"
LIST_V1 = "/v1.0/workflow/processes/instanceIds/query"


@pytest.fixture
async def clients(hostile: Hostile) -> AsyncIterator[dict[str, DingTalkClient]]:
    hostile.state.on(
        "/gettoken", Reply(200, {"errcode": 0, "access_token": "hostile-token-1", "expires_in": 7200})
    )
    hostile.state.on(
        "/v1.0/oauth2/accessToken", Reply(200, {"accessToken": "hostile-token-2", "expireIn": 7200})
    )
    made = {
        style: DingTalkClient(
            DingTalkSettings(
                app_key="k",
                app_secret="hostile-secret",
                api_style=style,  # type: ignore[arg-type]
                oapi_base=hostile.url,
                api_base=hostile.url,
                timeout_s=0.5,
            )
        )
        for style in ("oapi", "v1")
    }
    yield made
    for client in made.values():
        await client.aclose()


@pytest.mark.parametrize(
    ("style", "path", "body"),
    [
        ("oapi", LIST_OAPI, {"errcode": 0, "errmsg": "ok"}),
        ("oapi", LIST_OAPI, {"errcode": 0, "result": "nothing"}),
        ("v1", LIST_V1, {"success": False}),
        ("v1", LIST_V1, {"success": True, "result": None}),
        ("v1", LIST_V1, {"result": {"list": [{"id": 1}]}}),
    ],
)
async def test_an_answer_without_its_page_is_an_error_not_an_empty_page(
    hostile: Hostile, clients: dict[str, DingTalkClient], style: str, path: str, body: Any
) -> None:
    hostile.state.on(path, Reply(200, body))
    with pytest.raises(RetryLater):
        await clients[style].list_instance_ids("P", 0, 1, 0)


@pytest.mark.parametrize("cursor", [0, "0", -5, "abc", True])
async def test_a_cursor_that_does_not_move_forward_stops_the_paging(
    hostile: Hostile, clients: dict[str, DingTalkClient], cursor: Any
) -> None:
    hostile.state.on(LIST_OAPI, Reply(200, {"errcode": 0, "result": {"list": ["a"], "next_cursor": cursor}}))
    with pytest.raises((GiveUp, RetryLater)):
        await clients["oapi"].list_instance_ids("P", 0, 1, 0)


async def test_a_trickled_answer_is_cut_at_timeout_s(
    hostile: Hostile, clients: dict[str, DingTalkClient]
) -> None:
    hostile.state.on(LIST_V1, Reply(200, {"result": {"list": ["x" * 300]}}, chunk=1, delay_s=0.02))
    started = time.monotonic()
    with pytest.raises(RetryLater, match=r"timed out after 0\.5 s"):
        await clients["v1"].list_instance_ids("P", 0, 1, 0)
    assert time.monotonic() - started < 2


async def test_a_malformed_instance_is_normalised_not_raised(
    hostile: Hostile, clients: dict[str, DingTalkClient]
) -> None:
    hostile.state.on(
        "/topapi/processinstance/get",
        Reply(
            200,
            {
                "errcode": 0,
                "process_instance": {
                    "status": "COMPLETED",
                    "create_time": "not a time",
                    "form_component_values": ["x", {"name": "amount"}],
                    "tasks": 5,
                },
            },
        ),
    )
    instance = await clients["oapi"].get_instance("i1")
    assert instance["status"] == "COMPLETED" and instance["create_time"] is None
    assert [c["name"] for c in instance["form_component_values"]] == ["amount"] and instance["tasks"] == []
