"""The DingTalk protocol client: tokens, instance-ID listing and instance detail, on either host.

``api_style="oapi"`` speaks the legacy host (``/gettoken``, ``/topapi/processinstance/*``, token in the
query, ``errcode`` bodies); ``api_style="v1"`` speaks the new one (``/v1.0/oauth2/accessToken``,
``/v1.0/workflow/...``, token in the ``x-acs-dingtalk-access-token`` header, HTTP status + ``code``).
Both give the same results: ``(ids, next_cursor)`` pages and normalised instances.

The client is the calls of :mod:`.calls` (token cache, pacing, recording, the one retry on a token answer)
with the three APIs on top; :class:`~ferry.connectors.dingtalk.tokens.TokenCache` and the ``API_*`` names
are re-exported from here.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from ferry.connectors.dingtalk import instance as _instance
from ferry.connectors.dingtalk.calls import API_GET, API_LIST, API_SCHEMA, API_TOKEN, DingTalkCalls
from ferry.connectors.dingtalk.spec import MAX_PAGE_SIZE
from ferry.connectors.dingtalk.tokens import TokenCache
from ferry.connectors.errors import GiveUp, RetryLater


class DingTalkClient(DingTalkCalls):
    """Async DingTalk client for one app; use as ``async with DingTalkClient(settings) as client``."""

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"DingTalkClient(connection={s.connection!r}, app_key={s.app_key!r}, api_style={s.api_style!r})"
        )

    async def __aenter__(self) -> DingTalkClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ API
    async def list_instance_ids(
        self,
        process_code: str,
        start_ms: int,
        end_ms: int | None = None,
        cursor: int | str | None = 0,
        size: int = MAX_PAGE_SIZE,
        userid_list: list[str] | None = None,
        statuses: list[str] | None = None,
    ) -> tuple[list[str], int | None]:
        """One page of instance IDs created in ``[start_ms, end_ms]``: ``(ids, next_cursor)``.

        ``next_cursor`` is None when there is no more; pass it back as ``cursor`` otherwise. DingTalk
        refuses windows over 120 days, starts over 365 days ago and pages over 20; ``statuses`` is a
        v1.0-only filter (``RUNNING``, ``TERMINATED``, ``COMPLETED``) and is refused on the legacy host.
        """
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise GiveUp(f"page size must be 1..{MAX_PAGE_SIZE}, got {size}", api=API_LIST[self._style])
        api = API_LIST[self._style]
        offset = int(cursor or 0)
        if self._style == "oapi":
            if statuses:
                raise GiveUp("the legacy list API has no status filter; use api_style='v1'", api=api)
            payload: dict[str, Any] = {
                "process_code": process_code,
                "start_time": start_ms,
                "size": size,
                "cursor": offset,
            }
            if end_ms is not None:
                payload["end_time"] = end_ms
            if userid_list:
                payload["userid_list"] = ",".join(userid_list)
            answer = await self._business(
                api,
                lambda token: self._post(
                    api, "/topapi/processinstance/listids", params={"access_token": token}, json=payload
                )(),
            )
            result = _mapping(answer.body.get("result"), api)
            nxt = result.get("next_cursor")
        else:
            payload = {
                "processCode": process_code,
                "startTime": start_ms,
                "nextToken": offset,
                "maxResults": size,
            }
            if end_ms is not None:
                payload["endTime"] = end_ms
            if userid_list:
                payload["userIds"] = list(userid_list)
            if statuses:
                payload["statuses"] = list(statuses)
            answer = await self._business(
                api,
                lambda token: self._post(
                    api,
                    "/v1.0/workflow/processes/instanceIds/query",
                    headers={"x-acs-dingtalk-access-token": token},
                    json=payload,
                )(),
            )
            result = _mapping(answer.body.get("result"), api)
            nxt = result.get("nextToken")
        listed = result.get("list") or []
        if not isinstance(listed, list) or not all(
            isinstance(i, str | int) and not isinstance(i, bool) for i in listed
        ):
            raise RetryLater(
                f"DingTalk {api}: the answer's list is not a list of ids", code="bad_reply", api=api
            )
        ids = [str(i) for i in listed]
        return ids, _next_cursor(nxt, offset, api)

    async def check_process_code(self, process_code: str) -> str:
        """The template's name when ``process_code`` names a template this app can read, else the
        typed error DingTalk answered (one metered call). On the v1 host the form-schema API answers;
        the legacy host has none, so a list call over the last minute asks instead."""
        if self._style == "oapi":
            now_ms = int(time.time() * 1000)
            await self.list_instance_ids(process_code, now_ms - 60_000, now_ms, size=1)
            return process_code
        answer = await self._business(
            API_SCHEMA,
            lambda token: self._get(
                API_SCHEMA,
                "/v1.0/workflow/forms/schemas/processCodes",
                headers={"x-acs-dingtalk-access-token": token},
                params={"processCode": process_code},
            )(),
        )
        result = answer.body.get("result")
        name = result.get("name") if isinstance(result, dict) else None
        return str(name or process_code)

    async def get_instance(self, instance_id: str) -> dict[str, Any]:
        """One instance, normalised (see :mod:`ferry.connectors.dingtalk.instance`); the raw answer is under ``raw``."""
        api = API_GET[self._style]
        if self._style == "oapi":
            answer = await self._business(
                api,
                lambda token: self._post(
                    api,
                    "/topapi/processinstance/get",
                    params={"access_token": token},
                    json={"process_instance_id": instance_id},
                )(),
            )
            return _instance.from_oapi(instance_id, answer.body)
        answer = await self._business(
            api,
            lambda token: self._get(
                api,
                "/v1.0/workflow/processInstances",
                headers={"x-acs-dingtalk-access-token": token},
                params={"processInstanceId": instance_id},
            )(),
        )
        return _instance.from_v1(instance_id, answer.body, z_is_beijing=self.settings.v1_z_is_beijing)


def _mapping(value: Any, api: str) -> dict[str, Any]:
    # an answer without its result is not an empty page: the watermark must not move over it
    if not isinstance(value, dict):
        raise RetryLater(f"DingTalk {api}: the answer has no result object", code="bad_reply", api=api)
    return value


def _next_cursor(value: Any, offset: int, api: str) -> int | None:
    """The next page's cursor. Absent, null and "" mean "no more" (the hosts differ, and the docs are loose);
    anything that is not a number past this page is an answer we cannot page on."""
    if value in (None, ""):
        return None
    try:
        cursor = int(value)
    except (TypeError, ValueError, OverflowError):
        raise RetryLater(
            f"DingTalk {api}: the next cursor is not a number", code="bad_reply", api=api
        ) from None
    if isinstance(value, bool) or cursor <= offset or cursor > 10**12:
        raise GiveUp(
            f"DingTalk {api}: the next cursor does not move forward ({cursor} after {offset})",
            code="bad_cursor",
            api=api,
        )
    return cursor


__all__ = ["API_GET", "API_LIST", "API_SCHEMA", "API_TOKEN", "DingTalkClient", "TokenCache"]
