"""Lookups into other schemes' records (``_findCollection``), filtered in SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ferry.store.core import LedgerCore
from ferry.store.schema import records


def _json_path(field: str) -> str | tuple[str, ...]:
    parts = tuple(field.split("."))
    return parts[0] if len(parts) == 1 else parts


class Lookups(LedgerCore):
    """``find``."""

    def find(self, scheme_id: str, field: str, where: Mapping[str, Any]) -> Any:
        """``_findCollection``: ``field`` (dotted path ok) of the first record of ``scheme_id`` whose
        content matches every ``where`` item, or None.

        Values compare as text (``5`` matches ``"5"``); None matches a missing or null value. The filter
        runs in SQL (``json_extract`` on SQLite, ``->>`` on PostgreSQL), never over rows in Python.
        """
        r = records.c
        conditions: list[sa.ColumnElement[bool]] = [r.scheme == scheme_id]
        for key, expected in where.items():
            value = sa.cast(r.content[_json_path(key)].as_string(), sa.String)
            if expected is None:
                conditions.append(value.is_(None))
            elif isinstance(expected, bool):
                # JSON true reads back as 'true' on PostgreSQL and as 1 on SQLite
                conditions.append(value.in_(["true", "1"] if expected else ["false", "0"]))
            else:
                conditions.append(value == str(expected))
        query = sa.select(r.content[_json_path(field)]).where(*conditions).order_by(r.id).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()
