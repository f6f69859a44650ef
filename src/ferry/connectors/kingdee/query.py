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


#: values per ``IN (...)`` list: keeps a FilterString well under URL and server limits
IN_CHUNK = 100


class KingdeeQuerier:
    """Answers ``enrich`` lookups with ExecuteBillQuery; a batch of lookups on one key is one call."""

    def __init__(self, client: KingdeeClient) -> None:
        self.client = client

    async def query_many(self, params: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
        """Lookups that differ only in the value of a single ``where`` key are asked together
        (``KEY IN (...)``) and their rows handed back by that value; the rest one by one."""
        answers: list[list[dict[str, Any]] | None] = [None] * len(params)
        groups: dict[tuple[str, tuple[str, ...], str], list[int]] = {}
        for index, p in enumerate(params):
            form, fields, where = _parts(p)
            if len(where) == 1:
                ((name, value),) = where.items()
                if value is not None and not isinstance(value, bool):
                    groups.setdefault((form, tuple(fields), name), []).append(index)
                    continue
            answers[index] = await self.query(p)
        for (form_id, keys, key), members in groups.items():
            wanted = list(keys) if key in keys else [*keys, key]
            for start in range(0, len(members), IN_CHUNK):
                chunk = members[start : start + IN_CHUNK]
                values = list(dict.fromkeys(str(params[i]["where"][key]) for i in chunk))
                in_filter = f"{key} IN ({','.join(literal(v) for v in values)})"
                rows = await self.client.execute_bill_query(form_id, wanted, in_filter)
                by_value: dict[str, list[dict[str, Any]]] = {}
                for row in rows:
                    item = dict(zip(wanted, row, strict=False))
                    by_value.setdefault(str(item.get(key)), []).append(
                        {k: v for k, v in item.items() if k in keys}
                    )
                for i in chunk:
                    answers[i] = by_value.get(str(params[i]["where"][key]), [])
        return [a if a is not None else [] for a in answers]

    async def query(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        form_id, keys, where = _parts(params)
        rows = await self.client.execute_bill_query(
            form_id, keys, filter_string(where), limit=int(params.get("limit", 2))
        )
        return [dict(zip(keys, row, strict=False)) for row in rows]

    async def aclose(self) -> None:
        await self.client.aclose()


def _parts(params: Mapping[str, Any]) -> tuple[str, list[str], Mapping[str, Any]]:
    """Check one lookup's ``form_id``, ``fields`` and ``where``."""
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
    return form_id, [str(f) for f in fields], where
