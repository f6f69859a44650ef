"""A collected item as a page stores it: its key columns checked and its content encoded once, or the
item quarantined (under a stable synthetic id if need be) with what could not be stored, so one bad
value never fails its page."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from ferry.store.codec import KEY_LIMIT, clean_optional, digest, encode_hashed, summarize, text_problem
from ferry.store.models import UNSTORABLE, Collected


@dataclass(slots=True)
class Row:
    """One collected item, checked and encoded once: what its INSERT or UPDATE stores."""

    source_id: str
    partition: str
    number: str | None
    content: str
    content_hash: str
    status: str
    reason: str | None
    error_type: str | None
    watch_next_at: dt.datetime | None
    watch_until: dt.datetime | None


def unstorable_id(source_id: object) -> str:
    """The stable synthetic id of a record whose own id cannot be stored."""
    text = source_id if isinstance(source_id, str) else repr(source_id)
    return "unstorable:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def checked_row(item: Collected) -> Row:
    """``item`` as it will be stored: encoded once, or quarantined with why when it cannot be held."""
    # text_problem answers a plain key (short ASCII text without NUL, or None) without a closer look
    id_problem = text_problem(item.source_id, "the source id")
    number_problem = text_problem(item.number, "the number")
    partition_problem = text_problem(item.partition, "the partition")
    content, content_hash, found = encode_hashed(item.content, "content")
    if id_problem is None and number_problem is None and partition_problem is None and not found:
        return Row(
            item.source_id,
            item.partition,
            item.number,
            content,
            content_hash,
            item.status,
            clean_optional(item.reason),
            None,
            item.watch_next_at,
            item.watch_until,
        )
    problems = [p for p in (id_problem, number_problem, partition_problem) if p is not None]
    problems += found
    return Row(
        item.source_id if id_problem is None else unstorable_id(item.source_id),
        clean_optional(item.partition, KEY_LIMIT) or "",
        clean_optional(item.number, KEY_LIMIT),
        content,
        digest(content),
        "quarantined",
        # a reason the record already had (a check that failed on the same bad value) comes first
        (f"{clean_optional(item.reason)}; " if item.status == "quarantined" and item.reason else "")
        + f"cannot be stored as it came: {summarize(problems)}",
        UNSTORABLE,
        None,
        None,
    )
