"""Finding a record the way a person looks for it (the console's search box, ``ferry records``).

By any business key (source id, number, target id, target number), exactly or by prefix, through
indexes (``ix_records_*_key``: ``GLOB`` on SQLite, ``LIKE`` with pattern operator classes on PostgreSQL,
both case-sensitive); then by a substring of the content, a scan for now (``instr`` / ``strpos``, so
nothing in the text is a wildcard). Key matches come first, newest first, then content-only matches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from ferry.store.core import LedgerCore, utc
from ferry.store.models import RecordRow
from ferry.store.schema import records

_KEYS = ("source_id", "number", "target_id", "target_number")


def escape_like(text: str, escape: str = "\\") -> str:
    """``text`` as a literal inside a LIKE pattern (``%``, ``_`` and the escape character escaped)."""
    return text.replace(escape, escape * 2).replace("%", escape + "%").replace("_", escape + "_")


def escape_glob(text: str) -> str:
    """``text`` as a literal inside a GLOB pattern (``*``, ``?`` and ``[`` each in brackets)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


class Search(LedgerCore):
    """``search``."""

    def _key_match(self, text: str) -> sa.ColumnElement[bool]:
        r = records.c
        if self._pg:
            pattern = escape_like(text) + "%"
            return sa.or_(*(r[key].like(pattern, escape="\\") for key in _KEYS))
        glob = escape_glob(text) + "*"
        return sa.or_(*(r[key].op("GLOB")(glob) for key in _KEYS))

    def _content_match(self, text: str) -> sa.ColumnElement[bool]:
        r = records.c
        if self._pg:
            return sa.func.strpos(sa.cast(r.content, sa.Text), text) > 0
        return sa.func.instr(r.content, text) > 0

    def search(
        self,
        text: str,
        *,
        scheme: str | None = None,
        statuses: Sequence[str] | None = None,
        since: dt.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RecordRow]:
        """Records whose source id, number, target id or target number is ``text`` or starts with it,
        newest first; then records whose content contains ``text``. ``statuses`` and ``since`` (last
        changed at or after) narrow both; ``limit``/``offset`` page through the whole list."""
        text = text.strip()
        if not text or limit <= 0:
            return []
        r = records.c
        filters: list[sa.ColumnElement[bool]] = []
        if scheme is not None:
            filters.append(r.scheme == scheme)
        if statuses is not None:
            filters.append(r.status.in_(list(statuses)))
        if since is not None:
            filters.append(r.updated_at >= utc(since))
        keys = self._key_match(text)
        with self.engine.connect() as conn:
            by_key = [
                RecordRow(**row._mapping)
                for row in conn.execute(
                    sa.select(records).where(keys, *filters).order_by(r.id.desc()).limit(offset + limit)
                )
            ]
            if len(by_key) >= offset + limit:
                return by_key[offset:]
            # every key match is in by_key: the content matches follow them
            skip = max(0, offset - len(by_key))
            wanted = offset + limit - len(by_key) - skip
            by_content = [
                RecordRow(**row._mapping)
                for row in conn.execute(
                    sa.select(records)
                    # a key that is NULL makes its match NULL, not false
                    .where(self._content_match(text), sa.not_(sa.func.coalesce(keys, sa.false())), *filters)
                    .order_by(r.id.desc())
                    .offset(skip)
                    .limit(wanted)
                )
            ]
        return (by_key + by_content)[offset : offset + limit] if skip == 0 else by_content[:limit]
