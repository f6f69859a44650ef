"""The REST source pages to the end in every style, puts request fields where they belong, and stops safely."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from rest_servers import ORDER_COUNT, ORDERS, Running

from ferry.connectors.base import Page, Source, Window
from ferry.connectors.errors import GiveUp
from ferry.connectors.http import RestSource, build_source
from ferry.observe.calls import MemoryCallRecorder

WINDOW = Window(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC))


def no_fields(variables: Mapping[str, Any]) -> dict[str, Any]:
    return {}


async def collect(source: RestSource, render: Any = no_fields) -> list[Page]:
    pages = [page async for page in source.pages(WINDOW, render)]
    await source.aclose()
    return pages


def ids(pages: list[Page]) -> list[str]:
    return [r["id"] for p in pages for r in p.records]


ALL_IDS = [o["id"] for o in ORDERS]


async def test_page_number_paging_reads_every_page_and_stops_on_the_short_one(orders_server: Running) -> None:
    recorder = MemoryCallRecorder()
    source = build_source(
        {"base_url": orders_server.url},
        {
            "api": "/orders/page",
            "method": "GET",
            "records_path": "data.items",
            "pagination": {"style": "page", "page_size": 10, "size_param": "page_size"},
        },
        recorder,
        connection_name="orders",
    )
    assert isinstance(source, Source)
    pages = await collect(source)
    assert ids(pages) == ALL_IDS
    assert [len(p.records) for p in pages] == [10, 10, 3]
    assert [p.next_cursor for p in pages] == ["2", "3", None]
    assert [c["query"] for c in orders_server.state.calls] == [
        {"page": "1", "page_size": "10"},
        {"page": "2", "page_size": "10"},
        {"page": "3", "page_size": "10"},
    ]
    assert recorder.count(api="GET /orders/page", status="ok") == 3
    assert {c.connection for c in recorder.calls} == {"orders"}


async def test_page_number_paging_stops_when_total_is_reached(orders_server: Running) -> None:
    # page size 23 divides nothing short: without total_path a fourth, empty page would be asked for
    source = build_source(
        {"base_url": orders_server.url},
        {
            "api": "/orders/page",
            "records_path": "data.items",
            "pagination": {
                "style": "page",
                "page_size": 23,
                "size_param": "page_size",
                "total_path": "data.total",
            },
        },
    )
    pages = await collect(source)
    assert ids(pages) == ALL_IDS
    assert len(orders_server.state.calls) == 1


async def test_page_number_paging_stops_on_an_empty_page_without_a_page_size(orders_server: Running) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {"api": "/orders/page", "records_path": "data.items", "pagination": {"style": "page"}},
    )
    pages = await collect(source)
    assert ids(pages) == ALL_IDS
    assert [len(p.records) for p in pages] == [10, 10, 3, 0]


async def test_page_number_is_rendered_and_merged_into_the_post_body(orders_server: Running) -> None:
    seen: list[Mapping[str, Any]] = []

    def render(variables: Mapping[str, Any]) -> dict[str, Any]:
        seen.append(dict(variables))
        # the scheme places the page number itself, as Qingyi schemes do with {PAGINATION_START_PAGE}
        return {"filter": {"status": "done"}, "paging": {"page": variables["PAGINATION_START_PAGE"]}}

    source = build_source(
        {"base_url": orders_server.url},
        {
            "api": "/orders/page",
            "method": "POST",
            "records_path": "data.items",
            "params": {"query": {"tenant": "t1"}},
            # param "" = the scheme places the page number; Ferry only adds the size, nested
            "pagination": {"style": "page", "pageSize": 10, "param": "", "sizeParam": "paging.size"},
        },
    )
    pages = await collect(source, render)
    assert ids(pages) == ALL_IDS
    assert [v["PAGINATION_START_PAGE"] for v in seen] == [1, 2, 3]
    assert all(v["PAGINATION_PAGE_SIZE"] == 10 for v in seen)
    bodies = [c["body"] for c in orders_server.state.calls]
    assert bodies[1] == {"filter": {"status": "done"}, "paging": {"page": 2, "size": 10}}
    assert all(c["query"] == {"tenant": "t1"} for c in orders_server.state.calls)


async def test_dotted_page_param_nests_in_a_post_body(orders_server: Running) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {
            "api": "/orders/page",
            "method": "POST",
            "records_path": "data.items",
            "pagination": {
                "style": "page",
                "page_size": 10,
                "param": "paging.page",
                "size_param": "paging.size",
            },
        },
    )
    assert ids(await collect(source)) == ALL_IDS
    assert orders_server.state.calls[0]["body"] == {"paging": {"page": 1, "size": 10}}


async def test_get_fields_go_to_the_query_string(orders_server: Running) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {"api": "/echo", "method": "GET", "records_path": "items"},
    )
    pages = await collect(source, lambda v: {"status": "done", "tags": ["a", "b"], "range": {"from": 1}})
    query = pages[0].records[0]["query"]
    assert query["status"] == "done"
    assert query["range"] == '{"from": 1}'
    call = orders_server.state.calls[0]
    assert call["method"] == "GET" and call["body"] is None


async def test_offset_paging_reads_every_record(orders_server: Running) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {
            "api": "/orders/offset",
            "records_path": "items",
            "pagination": {"style": "offset", "page_size": 10},
        },
    )
    pages = await collect(source)
    assert ids(pages) == ALL_IDS
    assert [c["query"] for c in orders_server.state.calls] == [
        {"offset": "0", "limit": "10"},
        {"offset": "10", "limit": "10"},
        {"offset": "20", "limit": "10"},
    ]


async def test_cursor_paging_follows_the_cursor_until_it_is_missing(orders_server: Running) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {
            "api": "/orders/cursor",
            "records_path": "items",
            "pagination": {"style": "cursor", "next_path": "next_cursor", "param": "cursor"},
        },
    )
    pages = await collect(source)
    assert ids(pages) == ALL_IDS
    assert [c["query"] for c in orders_server.state.calls] == [{}, {"cursor": "c10"}, {"cursor": "c20"}]
    assert [p.next_cursor for p in pages] == ["c10", "c20", None]


@pytest.mark.parametrize("absolute", [0, 1])
async def test_next_link_paging_follows_relative_and_absolute_links(
    orders_server: Running, absolute: int
) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {
            "api": "/orders/links",
            "records_path": "items",
            "params": {"query": {"absolute": absolute}},
            "pagination": {"style": "next_link", "next_path": "links.next"},
        },
    )
    pages = await collect(source)
    assert ids(pages) == ALL_IDS
    assert len(orders_server.state.calls) == 3
    assert orders_server.state.calls[2]["query"]["after"] == "20"


async def test_empty_records_path_reads_a_bare_list(orders_server: Running) -> None:
    source = build_source({"base_url": orders_server.url}, {"api": "/orders/bare"})
    pages = await collect(source)
    assert ids(pages) == ALL_IDS[:5]


async def test_a_records_path_that_is_not_in_the_answer_is_an_error_not_an_empty_page(
    orders_server: Running,
) -> None:
    source = build_source(
        {"base_url": orders_server.url}, {"api": "/orders/offset", "records_path": "data.rows"}
    )
    with pytest.raises(GiveUp, match=r"records_path 'data.rows' not found.*items"):
        await collect(source)


async def test_an_object_answer_without_records_path_is_an_error(orders_server: Running) -> None:
    source = build_source({"base_url": orders_server.url}, {"api": "/orders/offset"})
    with pytest.raises(GiveUp, match="set records_path"):
        await collect(source)


async def test_a_repeated_cursor_gives_up(orders_server: Running) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {"api": "/orders/loop", "records_path": "items", "pagination": {"style": "cursor"}},
    )
    with pytest.raises(GiveUp, match="repeated a cursor"):
        await collect(source)
    assert len(orders_server.state.calls) == 2


async def test_an_api_that_ignores_the_page_parameter_gives_up(orders_server: Running) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {"api": "/orders/stuck", "records_path": "items", "pagination": {"style": "page"}},
    )
    with pytest.raises(GiveUp, match="same page twice"):
        await collect(source)


async def test_paging_stops_with_give_up_after_max_pages(orders_server: Running) -> None:
    source = build_source(
        {"base_url": orders_server.url},
        {"api": "/orders/endless", "records_path": "items", "pagination": {"style": "page", "max_pages": 5}},
    )
    got: list[Page] = []
    with pytest.raises(GiveUp, match="stopped after 5 pages"):
        async for page in source.pages(WINDOW, no_fields):
            got.append(page)
    await source.aclose()
    assert len(got) == 5
    assert len(orders_server.state.calls) == 5


async def test_no_pagination_makes_one_request(orders_server: Running) -> None:
    source = build_source({"base_url": orders_server.url}, {"api": "/orders/offset", "records_path": "items"})
    pages = await collect(source)
    assert len(pages) == 1 and pages[0].next_cursor is None
    assert len(pages[0].records) < ORDER_COUNT
