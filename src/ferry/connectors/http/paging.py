"""Paging styles of the generic REST connector, one small class each.

A paginator holds the position between pages. Per page the source asks it for the system variables to
render the request with (:meth:`Paginator.variables`), lets it put its parameters into the rendered
fields (:meth:`Paginator.merge`), and after the answer asks whether there is more (:meth:`Paginator.advance`).

- ``page``: ``param`` (default ``page``) counts from ``start_page``; ``size_param`` carries ``page_size``.
  Stops on an empty page, a page shorter than ``page_size``, or when the records seen reach the count at
  ``total_path``. Sets ``PAGINATION_START_PAGE`` (and ``PAGINATION_PAGE_SIZE``) for rendering, so a scheme
  may place the page number itself with ``{PAGINATION_START_PAGE}``.
- ``offset``: ``param`` (default ``offset``) from 0, ``size_param`` (default ``limit``); same stops.
- ``cursor``: the value at ``next_path`` (default ``next_cursor``) goes into ``param`` (default ``cursor``)
  of the next request; stops when it is missing or empty (or ``has_more_path`` is false).
- ``next_link``: the URL at ``next_path`` (default ``next``; absolute, or relative to the page's URL) is
  fetched with GET as it is; stops when it is missing or empty.

Safety: more than ``max_pages`` pages (default 10,000) is GiveUp, and so is a cursor or link seen before,
or page paging that returns the very same records twice (the API ignores the page parameter).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import httpx

from ferry.connectors.errors import GiveUp
from ferry.connectors.http.paths import get_path, set_path

DEFAULT_MAX_PAGES = 10_000
STYLES = ("page", "offset", "cursor", "next_link", "none")

# Qingyi / pydantic-alias spellings accepted besides the snake_case ones
_ALIASES = {
    "pageSize": "page_size",
    "startPage": "start_page",
    "sizeParam": "size_param",
    "nextPath": "next_path",
    "totalPath": "total_path",
    "maxPages": "max_pages",
    "hasMorePath": "has_more_path",
}


class Paginator:
    """No paging: one request."""

    style = "none"

    def __init__(self, *, max_pages: int = DEFAULT_MAX_PAGES, api: str | None = None) -> None:
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.max_pages = max_pages
        self.api = api
        self.pages = 0
        #: the record count the API gave at ``total_path`` (None when it gives none)
        self.total: int | None = None
        self._seen: set[str] = set()  # cursors or links followed, see _follow

    def variables(self) -> dict[str, Any]:
        """System variables for rendering the next request."""
        return {}

    def merge(self, fields: dict[str, Any], *, nested: bool) -> dict[str, Any]:
        """Put this paginator's parameters into the rendered fields (``nested``: dotted names make objects)."""
        return fields

    @property
    def link(self) -> str | None:
        """A URL to GET as it is for the next page (next-link paging only)."""
        return None

    def advance(self, data: Any, records: list[dict[str, Any]], url: httpx.URL) -> bool:
        """Take in one page's answer; True when another page should be fetched."""
        self.pages += 1
        return False

    @property
    def position(self) -> str | None:
        """The next page's position, for logs and :attr:`Page.next_cursor`."""
        return None

    def check_budget(self) -> None:
        """Raise GiveUp when ``max_pages`` pages were fetched and the API still says there is more."""
        if self.pages >= self.max_pages:
            raise GiveUp(
                f"stopped after {self.max_pages} pages: the API keeps saying there is more "
                "(raise pagination.max_pages if that is real)",
                api=self.api,
            )

    def _follow(self, name: str, what: str, *, again: bool = False) -> str:
        """``name``, the cursor or link to the next page; one seen before (or ``again``) would loop: GiveUp."""
        if again or name in self._seen:
            raise GiveUp(f"the API repeated a {what} after {self.pages} pages; stopping", api=self.api)
        self._seen.add(name)
        return name


def _put(fields: dict[str, Any], name: str, value: Any, nested: bool) -> None:
    if nested:
        set_path(fields, name, value)
    else:
        fields[name] = value


def _fingerprint(records: list[dict[str, Any]]) -> str:
    blob = json.dumps(records, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


class _SizedPaginator(Paginator):
    """Page, offset and cursor paging: each puts its position, then these add ``page_size`` alike."""

    def __init__(
        self, *, page_size: int | None, size_param: str | None, max_pages: int, api: str | None
    ) -> None:
        super().__init__(max_pages=max_pages, api=api)
        self.page_size = page_size
        self.size_param = size_param

    def variables(self) -> dict[str, Any]:
        return {"PAGINATION_PAGE_SIZE": self.page_size} if self.page_size else {}

    def merge(self, fields: dict[str, Any], *, nested: bool) -> dict[str, Any]:
        if self.size_param and self.page_size:
            _put(fields, self.size_param, self.page_size, nested)
        return fields


class _CountingPaginator(_SizedPaginator):
    """Shared stops of page and offset paging: empty page, short page, total reached, same page twice."""

    def __init__(
        self,
        *,
        page_size: int | None,
        size_param: str | None,
        total_path: str | None,
        max_pages: int,
        api: str | None,
    ) -> None:
        super().__init__(page_size=page_size, size_param=size_param, max_pages=max_pages, api=api)
        self.total_path = total_path
        self.seen = 0
        self._last: str | None = None

    def _step(self, records: list[dict[str, Any]]) -> None: ...

    def advance(self, data: Any, records: list[dict[str, Any]], url: httpx.URL) -> bool:
        self.pages += 1
        self.seen += len(records)
        if not records:
            return False
        fp = _fingerprint(records)
        if fp == self._last:
            raise GiveUp(
                f"the API returned the same page twice (page {self.pages}); does it read "
                f"the {self.style} parameter where Ferry puts it?",
                api=self.api,
            )
        self._last = fp
        self._step(records)
        if self.page_size and len(records) < self.page_size:
            return False
        if self.total_path:
            total = get_path(data, self.total_path)
            try:
                if total is not None:
                    self.total = int(total)
                if total is not None and self.seen >= int(total):
                    return False
            except (TypeError, ValueError):
                raise GiveUp(
                    f"total_path {self.total_path!r} is not a number: {str(total)[:50]!r}", api=self.api
                ) from None
        return True


class PageNumberPaginator(_CountingPaginator):
    style = "page"

    def __init__(
        self,
        *,
        param: str | None = "page",
        start_page: int = 1,
        page_size: int | None = None,
        size_param: str | None = None,
        total_path: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        api: str | None = None,
    ) -> None:
        super().__init__(
            page_size=page_size, size_param=size_param, total_path=total_path, max_pages=max_pages, api=api
        )
        self.param = param
        self.page = start_page

    def variables(self) -> dict[str, Any]:
        return {"PAGINATION_START_PAGE": self.page, **super().variables()}

    def merge(self, fields: dict[str, Any], *, nested: bool) -> dict[str, Any]:
        if self.param:  # "" or None: the scheme places the page number itself
            _put(fields, self.param, self.page, nested)
        return super().merge(fields, nested=nested)

    def _step(self, records: list[dict[str, Any]]) -> None:
        self.page += 1

    @property
    def position(self) -> str | None:
        return str(self.page)


class OffsetPaginator(_CountingPaginator):
    style = "offset"

    def __init__(
        self,
        *,
        param: str = "offset",
        page_size: int | None = None,
        size_param: str = "limit",
        total_path: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        api: str | None = None,
    ) -> None:
        super().__init__(
            page_size=page_size, size_param=size_param, total_path=total_path, max_pages=max_pages, api=api
        )
        self.param = param
        self.offset = 0

    def variables(self) -> dict[str, Any]:
        return {"PAGINATION_OFFSET": self.offset, **super().variables()}

    def merge(self, fields: dict[str, Any], *, nested: bool) -> dict[str, Any]:
        _put(fields, self.param, self.offset, nested)
        return super().merge(fields, nested=nested)

    def _step(self, records: list[dict[str, Any]]) -> None:
        self.offset += len(records)

    @property
    def position(self) -> str | None:
        return str(self.offset)


class CursorPaginator(_SizedPaginator):
    style = "cursor"

    def __init__(
        self,
        *,
        param: str = "cursor",
        next_path: str = "next_cursor",
        page_size: int | None = None,
        size_param: str | None = None,
        has_more_path: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        api: str | None = None,
    ) -> None:
        super().__init__(page_size=page_size, size_param=size_param, max_pages=max_pages, api=api)
        self.param = param
        self.next_path = next_path
        self.has_more_path = has_more_path
        self.cursor: str | None = None

    def variables(self) -> dict[str, Any]:
        return {"PAGINATION_CURSOR": self.cursor, **super().variables()}

    def merge(self, fields: dict[str, Any], *, nested: bool) -> dict[str, Any]:
        if self.cursor is not None:  # the first request goes without one
            _put(fields, self.param, self.cursor, nested)
        return super().merge(fields, nested=nested)

    def advance(self, data: Any, records: list[dict[str, Any]], url: httpx.URL) -> bool:
        self.pages += 1
        nxt = get_path(data, self.next_path)
        if nxt is None or nxt == "" or nxt is False:
            return False
        if self.has_more_path and not get_path(data, self.has_more_path):
            return False
        self.cursor = self._follow(str(nxt), "cursor")
        return True

    @property
    def position(self) -> str | None:
        return self.cursor


class NextLinkPaginator(Paginator):
    style = "next_link"

    def __init__(
        self, *, next_path: str = "next", max_pages: int = DEFAULT_MAX_PAGES, api: str | None = None
    ) -> None:
        super().__init__(max_pages=max_pages, api=api)
        self.next_path = next_path
        self._link: str | None = None

    @property
    def link(self) -> str | None:
        return self._link

    def advance(self, data: Any, records: list[dict[str, Any]], url: httpx.URL) -> bool:
        self.pages += 1
        nxt = get_path(data, self.next_path)
        if not nxt or not isinstance(nxt, str):
            return False
        # relative links resolve against the page that gave them (RFC 3986); a link to itself is a repeat
        absolute = str(url.join(nxt))
        self._link = self._follow(absolute, "next link", again=absolute == str(url))
        return True

    @property
    def position(self) -> str | None:
        return self._link


def normalise(pagination: Mapping[str, Any] | None) -> dict[str, Any]:
    """Snake-case keys, drop unset ones."""
    if not pagination:
        return {}
    return {_ALIASES.get(k, k): v for k, v in pagination.items() if v is not None}


def make_paginator(pagination: Mapping[str, Any] | None, *, api: str | None = None) -> Paginator:
    """A paginator from plain settings (the scheme's ``pagination`` block as a dict).

    ``style`` defaults to ``page`` when a ``page_size`` is given, else no paging.
    """
    p = normalise(pagination)
    style = p.get("style") or ("page" if p.get("page_size") else "none")
    max_pages = int(p.get("max_pages", DEFAULT_MAX_PAGES))
    size = int(p["page_size"]) if p.get("page_size") else None
    if style == "none":
        return Paginator(max_pages=max_pages, api=api)
    if style == "page":
        return PageNumberPaginator(
            param=p.get("param", "page"),
            start_page=int(p.get("start_page", 1)),
            page_size=size,
            size_param=p.get("size_param"),
            total_path=p.get("total_path"),
            max_pages=max_pages,
            api=api,
        )
    if style == "offset":
        return OffsetPaginator(
            param=p.get("param", "offset"),
            page_size=size,
            size_param=p.get("size_param", "limit"),
            total_path=p.get("total_path"),
            max_pages=max_pages,
            api=api,
        )
    if style == "cursor":
        return CursorPaginator(
            param=p.get("param", "cursor"),
            next_path=p.get("next_path", "next_cursor"),
            page_size=size,
            size_param=p.get("size_param"),
            has_more_path=p.get("has_more_path"),
            max_pages=max_pages,
            api=api,
        )
    if style == "next_link":
        return NextLinkPaginator(next_path=p.get("next_path", "next"), max_pages=max_pages, api=api)
    raise ValueError(f"unknown pagination style {style!r}; use one of {', '.join(STYLES)}")


__all__ = [
    "DEFAULT_MAX_PAGES",
    "CursorPaginator",
    "NextLinkPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "Paginator",
    "make_paginator",
]
