"""The keys Qingyi Cloud (轻易云) is known to write that are not part of Ferry's model, in one place.

A Qingyi export (a ``.json`` scheme file) carries the editor's own state beside the metadata. These
keys are kept as they are (in the block's ``model_extra``, so a scheme round-trips) and do nothing.
Each entry names where it was seen: the source keys (``[JJ-fw]``...) are those of the Qingyi research
note (``reference/qingyi.md`` §2, sources in §10); the real exports are under ``tests/scheme/fixtures``.

Two other kinds of key are not tolerated silently:

- :data:`UNSUPPORTED` are Qingyi *features* Ferry does not implement; ignoring one would change what
  is written (merged documents would become one document per record), so they are errors;
- any other unknown key within a few edits of a known one is a typo (``idChek``) and an error; the
  rest are warnings that name the key and its line, and the load goes on.
"""

from __future__ import annotations

from typing import Final

#: block -> key -> where it was seen (reference key, see qingyi.md §10)
INERT_KEYS: Final[dict[str, dict[str, str]]] = {
    # a source or target side (源平台 / 目标平台 metadata)
    "side": {
        "name": "exports of 泛微 and 聚水潭 sources ('name': 'id') [JJ-fw][JJ-jst]; meaning unconfirmed",
        "autoFillResponse": "泛微 source export [JJ-fw]: the response list was filled from a live answer",
        "condition_bk": "泛微 source export [JJ-fw]: a parked copy of `condition`, not applied",
    },
    # one item of request / otherRequest / response / otherResponse / takeOverRequest
    "field": {
        "display": "每刻 response items [BBS-747]: the data grid's column settings (width, aggFunc, ...)",
        "enableDisplay": "每刻 response items [BBS-747]: whether the grid shows the column",
    },
}

#: Qingyi features Ferry does not implement: key -> why it cannot just be ignored
UNSUPPORTED: Final[dict[str, dict[str, str]]] = {
    "side": {
        "groupCalculate": (
            "Qingyi's merge-on-write (groupCalculate) is not supported by Ferry: without it every "
            "record would become its own document; remove it only if that is what you want"
        ),
        "operation": (
            "Qingyi's target `operation` (how pending rows are grouped into one request) is not "
            "supported by Ferry; remove it only if one request per batch of records is what you want"
        ),
    },
}


def inert_keys(block: str) -> dict[str, str]:
    """The inert Qingyi keys of ``block`` (``side``, ``field``; others have none)."""
    return INERT_KEYS.get(block, {})


def unsupported_keys(block: str) -> dict[str, str]:
    """The unsupported Qingyi features of ``block``, each with why it is refused."""
    return UNSUPPORTED.get(block, {})


__all__ = ["INERT_KEYS", "UNSUPPORTED", "inert_keys", "unsupported_keys"]
