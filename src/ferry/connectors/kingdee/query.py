"""Lookups (联查) against Kingdee for a scheme's ``enrich`` steps: ExecuteBillQuery, rows as dicts.

``{"form_id": "CN_PAYAPPLY", "fields": ["FBillNo", "FDocumentStatus"], "where": {"FBillNo": "FKSQ0001"}}``.
Values in ``where`` come from records, so they are quoted here (single quotes doubled) and never
read as filter syntax: a bill number holding a quote cannot widen the query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ferry.connectors.errors import GiveUp
from ferry.connectors.kingdee.client import KingdeeClient

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def literal(value: Any) -> str:
    """A FilterString literal: numbers as they are, everything else as a quoted string."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def filter_string(where: Mapping[str, Any]) -> str:
    """``{"FBillNo": "X", "FDocumentStatus": "C"}`` -> ``FBillNo='X' AND FDocumentStatus='C'``."""
    parts = []
    for field, value in where.items():
        if not _FIELD.match(field):
            raise GiveUp(f"Kingdee lookup: {field!r} is not a field key")
        parts.append(f"{field} IS NULL" if value is None else f"{field}={literal(value)}")
    return " AND ".join(parts)


class KingdeeQuerier:
    """Answers ``enrich`` lookups with ExecuteBillQuery."""

    def __init__(self, client: KingdeeClient) -> None:
        self.client = client

    async def query(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        form_id = params.get("form_id")
        fields = params.get("fields")
        where = params.get("where") or {}
        if not isinstance(form_id, str) or not form_id:
            raise GiveUp("a Kingdee lookup needs 'form_id'")
        if isinstance(fields, str):
            fields = [f.strip() for f in fields.split(",") if f.strip()]
        if not isinstance(fields, Sequence) or not fields:
            raise GiveUp("a Kingdee lookup needs 'fields' (a list of field keys)")
        if not isinstance(where, Mapping) or not where:
            # an unfiltered lookup would read a whole form for every record
            raise GiveUp("a Kingdee lookup needs 'where' (field: value)")
        keys = [str(f) for f in fields]
        rows = await self.client.execute_bill_query(
            form_id, keys, filter_string(where), limit=int(params.get("limit", 2))
        )
        return [dict(zip(keys, row, strict=False)) for row in rows]

    async def aclose(self) -> None:
        await self.client.aclose()
