"""Kingdee's queries: ExecuteBillQuery (rows as lists, or every page), BillQuery, the existence probe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from ferry.connectors.errors import RetryLater
from ferry.connectors.kingdee.envelope import find_status
from ferry.connectors.kingdee.errors import error_for_status
from ferry.connectors.kingdee.results import FoundDocument
from ferry.connectors.kingdee.session import KingdeeSession


class BillQueries(KingdeeSession):
    """The query operations of :class:`~ferry.connectors.kingdee.client.KingdeeClient`."""

    @staticmethod
    def _query_data(
        form_id: str,
        field_keys: Sequence[str] | str,
        filter_string: str | Sequence[Mapping[str, Any]],
        order_string: str,
        start_row: int,
        limit: int,
        top_row_count: int,
        sub_system_id: str | None,
    ) -> dict[str, Any]:
        keys = field_keys if isinstance(field_keys, str) else ",".join(field_keys)
        data: dict[str, Any] = {
            "FormId": form_id,
            "FieldKeys": keys,
            "FilterString": filter_string
            if isinstance(filter_string, str)
            else [dict(x) for x in filter_string],
            "OrderString": order_string,
            "TopRowCount": top_row_count,
            "StartRow": start_row,
            "Limit": limit,
        }
        if sub_system_id:
            data["SubSystemId"] = sub_system_id
        return data

    async def _query_rows(self, api: str, data: dict[str, Any]) -> list[Any]:
        """Send a query (``api`` is ExecuteBillQuery or BillQuery); errors raise, the rows come back unread."""
        payload = await self._exchange(api, self._data_body(data))
        status = find_status(payload)
        if status is not None and not status.is_success:
            raise error_for_status(status, api)
        if payload is None:
            return []
        if not isinstance(payload, list):
            raise RetryLater(f"Kingdee {api}: reply is not a list", code="bad_reply", api=api)
        return payload

    async def execute_bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str] | str,
        filter_string: str | Sequence[Mapping[str, Any]] = "",
        order_string: str = "",
        start_row: int = 0,
        limit: int = 0,
        top_row_count: int = 0,
        sub_system_id: str | None = None,
    ) -> list[list[Any]]:
        """ExecuteBillQuery: rows as lists in ``field_keys`` order. Errors (the ``[[{...}]]`` wrap) raise."""
        data = self._query_data(
            form_id, field_keys, filter_string, order_string, start_row, limit, top_row_count, sub_system_id
        )
        rows = await self._query_rows("ExecuteBillQuery", data)
        return [row if isinstance(row, list) else [row] for row in rows]

    async def iter_execute_bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str] | str,
        filter_string: str | Sequence[Mapping[str, Any]] = "",
        order_string: str = "FID ASC",
        page_size: int = 2000,
    ) -> AsyncIterator[list[Any]]:
        """All rows of a query, fetched page by page (``StartRow``/``Limit``); order it for stable paging."""
        if not 0 < page_size <= 10000:
            raise ValueError("page_size must be between 1 and 10000")
        start = 0
        while True:
            rows = await self.execute_bill_query(
                form_id, field_keys, filter_string, order_string, start_row=start, limit=page_size
            )
            for row in rows:
                yield row
            if len(rows) < page_size:
                return
            start += page_size

    async def bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str] | str,
        filter_string: str | Sequence[Mapping[str, Any]] = "",
        order_string: str = "",
        start_row: int = 0,
        limit: int = 0,
        top_row_count: int = 0,
        sub_system_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """BillQuery: rows as objects keyed by the field keys."""
        data = self._query_data(
            form_id, field_keys, filter_string, order_string, start_row, limit, top_row_count, sub_system_id
        )
        rows = await self._query_rows("BillQuery", data)
        return [dict(row) for row in rows if isinstance(row, Mapping)]

    async def find_target_by_source(
        self,
        source_number: str,
        *,
        target_form_id: str = "AP_PAYBILL",
        source_field: str = "FPAYBILLSRCENTRY_FSRCBILLNO",
        id_field: str = "FID",
        number_field: str = "FBillNo",
        status_field: str = "FDocumentStatus",
        fields: Sequence[str] = (),
        extra_filter: str | None = None,
    ) -> list[FoundDocument]:
        """The existence probe: target documents already made from ``source_number`` (one per document).

        Used before retrying any write whose outcome is unknown. Drafts (status Z, empty number) are included:
        they exist and would be duplicated by a blind retry.
        """
        quoted = source_number.replace("'", "''")
        filter_string = f"{source_field}='{quoted}'"
        if extra_filter:
            filter_string = f"({filter_string}) AND ({extra_filter})"
        keys = [id_field, number_field, status_field, *fields]
        rows = await self.execute_bill_query(
            target_form_id, keys, filter_string, order_string=f"{id_field} ASC"
        )
        found: dict[str, FoundDocument] = {}
        for row in rows:
            values = dict(zip(keys, row, strict=False))
            doc_id = str(values.get(id_field, ""))
            if doc_id in found:
                # one row per entry row: the same document can come back several times
                continue
            found[doc_id] = FoundDocument(
                id=doc_id,
                number="" if values.get(number_field) is None else str(values.get(number_field)),
                status="" if values.get(status_field) is None else str(values.get(status_field)),
                fields={k: values.get(k) for k in fields},
            )
        return list(found.values())


__all__ = ["BillQueries"]
