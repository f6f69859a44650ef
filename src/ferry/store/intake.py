"""Collect's side of the queue: a page of source records goes into the ledger with ``idCheck`` semantics.

Contract notes:
- A record is in the ledger before anything is sent for it: collect writes it, dispatch claims it.
- One id, one row: ``(scheme, source_id)`` is unique, so a record collected twice (overlapping windows,
  two processes) is taken once (``idCheck``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ferry.store.codec import content_hash
from ferry.store.core import LedgerCore, chunks, utc
from ferry.store.models import FINAL_STATUSES, CollectCounts, Collected
from ferry.store.schema import events, records


class Intake(LedgerCore):
    """``collect``: store one page of source records."""

    def collect(
        self,
        scheme: str,
        items: Sequence[Collected],
        *,
        on_change: Literal["ignore", "rewrite"] = "ignore",
        now: dt.datetime | None = None,
    ) -> CollectCounts:
        """Store one page of source records with ``idCheck`` semantics; one transaction.

        New ids are inserted with their status. A known id with the same content hash is left alone.
        A known id with new content: a ``watching`` record takes the new content, status and watch
        times; with ``on_change="rewrite"`` a final record (written/skipped/dead/quarantined) takes the
        new content and status with attempts and errors reset (target ids kept, so the target can
        update the document); a pending or failed record takes the new content and keeps its status
        (it has not been written yet, so the latest content should be); anything else (in flight, or
        final under ``ignore``) is not touched and counted as ``ignored``. An id repeated within the
        page counts once, its last occurrence wins, the earlier ones count as ``unchanged``.
        """
        if on_change not in ("ignore", "rewrite"):
            raise ValueError(f"on_change must be 'ignore' or 'rewrite', not {on_change!r}")
        now = utc(now)
        page: dict[str, tuple[Collected, str]] = {}
        for item in items:
            page[item.source_id] = (item, content_hash(item.content))
        repeated = len(items) - len(page)
        for attempt in range(3):
            try:
                with self._writer.begin() as conn:
                    counts = self._collect_page(conn, scheme, page, on_change, now)
            except IntegrityError:
                # another process inserted one of these ids since our SELECT: go again, those
                # ids now take the update path
                if attempt == 2:
                    raise
                continue
            counts.unchanged += repeated
            return counts
        raise AssertionError("unreachable")

    def _collect_page(
        self,
        conn: Connection,
        scheme: str,
        page: Mapping[str, tuple[Collected, str]],
        on_change: str,
        now: dt.datetime,
    ) -> CollectCounts:
        r = records.c
        counts = CollectCounts()
        existing: dict[str, Any] = {}
        for chunk in chunks(list(page)):
            query = sa.select(r.id, r.source_id, r.content_hash, r.status).where(
                r.scheme == scheme, r.source_id.in_(chunk)
            )
            for row in conn.execute(query):
                existing[row.source_id] = row

        inserts: list[dict[str, Any]] = []
        new_events: list[dict[str, Any]] = []
        for source_id, (item, digest) in page.items():
            old = existing.get(source_id)
            if old is None:
                inserts.append(
                    {
                        "scheme": scheme,
                        "source_id": source_id,
                        "partition": item.partition,
                        "number": item.number,
                        "content": item.content,
                        "content_hash": digest,
                        "status": item.status,
                        "reason": item.reason,
                        "draft": False,
                        "attempts": 0,
                        "watch_next_at": item.watch_next_at,
                        "watch_until": item.watch_until,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            if old.content_hash == digest:
                counts.unchanged += 1
                continue
            values: dict[str, Any] = {
                "content": item.content,
                "content_hash": digest,
                "number": item.number,
                "updated_at": now,
            }
            if old.status == "watching":
                values.update(
                    status=item.status,
                    reason=item.reason,
                    watch_next_at=item.watch_next_at,
                    watch_until=item.watch_until,
                )
                to_status, why = item.status, "changed at source"
            elif on_change == "rewrite" and old.status in FINAL_STATUSES:
                values.update(
                    status=item.status,
                    reason=item.reason,
                    attempts=0,
                    next_attempt_at=None,
                    last_error_type=None,
                    last_error_code=None,
                    last_error_message=None,
                    watch_next_at=item.watch_next_at,
                    watch_until=item.watch_until,
                )
                to_status, why = item.status, "changed at source, rewrite"
            elif old.status in ("pending", "failed"):
                to_status, why = old.status, "changed at source"
            else:
                counts.ignored += 1
                continue
            # only if the status is still the one we decided on: on PostgreSQL a claim may have
            # taken the record since our SELECT, and an in-flight record must keep its content
            result = conn.execute(
                sa.update(records).where(r.id == old.id, r.status == old.status).values(values)
            )
            if result.rowcount == 0:
                counts.ignored += 1
                continue
            new_events.append(
                {
                    "record_id": old.id,
                    "at": now,
                    "from_status": old.status,
                    "to_status": to_status,
                    "reason": why,
                    "detail": {"content_hash": digest},
                }
            )
            counts.changed += 1

        if inserts:
            inserted = conn.execute(sa.insert(records).returning(r.id, r.status), inserts).all()
            new_events.extend(
                {
                    "record_id": row.id,
                    "at": now,
                    "from_status": None,
                    "to_status": row.status,
                    "reason": "collected",
                    "detail": None,
                }
                for row in inserted
            )
            counts.new += len(inserts)
        if new_events:
            conn.execute(sa.insert(events), new_events)
        return counts
