"""The existence probe: which documents did earlier writes create? Many records per query.

A Push is looked for by its source bill on the target form (``FPAYBILLSRCENTRY_FSRCBILLNO``, or the
source id field when the Push named ``Ids``); a Save by the request value at ``probe.number_from``.
The records of a batch that ask the same form by the same field are asked together:
``<field> IN ('a','b',...)`` (quoted as :func:`~ferry.connectors.kingdee.query.literal` does, at most
:data:`~ferry.connectors.kingdee.query.IN_CHUNK` values per query), ordered by id so that "the first
document" is the same whichever way it is asked, and read to the last page: a row left unread would
be a bill pushed twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferry.connectors.errors import AccessDenied, ConnectorError, GiveUp
from ferry.connectors.kingdee.client import KingdeeClient
from ferry.connectors.kingdee.envelope import get_ci
from ferry.connectors.kingdee.followup import TrackedDoc
from ferry.connectors.kingdee.query import IN_CHUNK, literal
from ferry.connectors.kingdee.request import push_request, text
from ferry.connectors.kingdee.results import FoundDocument
from ferry.connectors.kingdee.spec import ProbeSettings

log = logging.getLogger("ferry.kingdee")

#: where the flagship Push lands, and how its payment bill names its source (reference §6, §8)
DEFAULT_PUSH_PROBE_FORM = "AP_PAYBILL"
DEFAULT_SOURCE_NUMBER_FIELD = "FPAYBILLSRCENTRY_FSRCBILLNO"

#: rows per page of a probe query (the documented default page; 10000 at most)
_PAGE = 2000


@dataclass(frozen=True, slots=True)
class ProbeQuery:
    """What to look for: ``value`` in ``field`` of ``form``."""

    value: str
    field: str
    form: str


def probe_query(
    push: bool, settings: ProbeSettings, default_form: str | None, request: Mapping[str, Any] | None
) -> ProbeQuery:
    """The question for one record's stored request; GiveUp when the request cannot say what to look for."""
    p = settings
    request = request or {}
    if push:
        try:
            req = push_request(request)
        except GiveUp as err:
            raise GiveUp(
                f"Kingdee probe: cannot tell which source bill to look for ({err.message})", api="probe"
            ) from None
        field_key = (
            p.source_id_field if req.by_ids else (p.source_number_field or DEFAULT_SOURCE_NUMBER_FIELD)
        )
        return ProbeQuery(req.source, field_key, p.form_id or req.target_form_id or DEFAULT_PUSH_PROBE_FORM)
    if not p.number_from:
        raise GiveUp(
            "Kingdee probe: set target.probe.number_from (the request key that identifies the record)",
            api="probe",
        )
    model = get_ci(request, "Model")
    value = get_ci(request, p.number_from)
    if value in (None, "") and isinstance(model, Mapping):
        value = get_ci(model, p.number_from)
    if value in (None, "") or isinstance(value, (Mapping, list)):
        raise GiveUp(f"Kingdee probe: the request has no value at {p.number_from!r}", api="probe")
    form = p.form_id or text(get_ci(request, "FormId")) or default_form
    if not form:
        raise GiveUp("Kingdee probe: no form id (set target.probe.form_id)", api="probe")
    return ProbeQuery(str(value), p.source_number_field or p.number_from, form)


def _match(value: Any) -> str:
    # Kingdee compares text without case (SQL Server's default collation): match rows the same way
    return text(value).casefold()


async def find_many(
    client: KingdeeClient, settings: ProbeSettings, queries: Sequence[ProbeQuery]
) -> list[list[FoundDocument] | ConnectorError]:
    """The documents found for each query, in order (first by id first); a query whose call failed
    gets that call's error. One ExecuteBillQuery per form and field (per ``IN_CHUNK`` values)."""
    p = settings
    answers: list[list[FoundDocument] | ConnectorError] = [[] for _ in queries]
    groups: dict[tuple[str, str], list[int]] = {}
    for index, q in enumerate(queries):
        groups.setdefault((q.form, q.field), []).append(index)
    for (form, field_key), members in groups.items():
        values = list(dict.fromkeys(_match(queries[i].value) for i in members))
        for start in range(0, len(values), IN_CHUNK):
            chunk = values[start : start + IN_CHUNK]
            wanted = [i for i in members if _match(queries[i].value) in chunk]
            sent = list(dict.fromkeys(queries[i].value for i in wanted))
            try:
                found = await _query(client, p, form, field_key, sent)
            except AccessDenied:
                raise
            except ConnectorError as err:
                for i in wanted:
                    answers[i] = err
                continue
            for i in wanted:
                answers[i] = list(found.get(_match(queries[i].value), {}).values())
    return answers


async def _query(
    client: KingdeeClient, p: ProbeSettings, form: str, field_key: str, values: list[str]
) -> dict[str, dict[str, FoundDocument]]:
    """``{matched value: {document id: document}}`` for one ``IN`` query, every page read."""
    filter_string = f"{field_key} IN ({','.join(literal(v) for v in values)})"
    if p.extra_filter:
        filter_string = f"({filter_string}) AND ({p.extra_filter})"
    keys = list(dict.fromkeys([p.id_field, p.number_field, p.status_field, field_key]))
    found: dict[str, dict[str, FoundDocument]] = {}
    rows = client.iter_execute_bill_query(
        form, keys, filter_string, order_string=f"{p.id_field} ASC", page_size=_PAGE
    )
    async for row in rows:
        got = dict(zip(keys, row, strict=False))
        doc_id = text(got.get(p.id_field))
        # one row per entry row: the same document comes back once per source row
        docs = found.setdefault(_match(got.get(field_key)), {})
        if doc_id not in docs:
            docs[doc_id] = FoundDocument(
                id=doc_id, number=text(got.get(p.number_field)), status=text(got.get(p.status_field))
            )
    return found


def tracked_from_found(
    key: int, query: ProbeQuery, found: Sequence[FoundDocument], todo: list[str]
) -> TrackedDoc:
    """The first document found, ready for its follow-ups; more than one is a person's question."""
    doc = found[0]
    notices: list[str] = []
    if len(found) > 1:
        numbers = ", ".join(d.number or f"id {d.id}" for d in found)
        notices.append(
            f"{len(found)} documents found for source {query.value} ({numbers}): a person must check"
        )
        log.warning("Kingdee probe: %s in %s", notices[0], query.form)
    if doc.is_draft:
        notices.append("found as a draft (暂存) by the probe")
    return TrackedDoc(
        key,
        query.form,
        doc.id or None,
        doc.number or None,
        draft=doc.is_draft,
        todo=todo,
        base={"probe": {"form_id": query.form, "id": doc.id, "number": doc.number, "status": doc.status}},
        origin="found",
        notices=notices,
        status=doc.status or None,
    )


__all__ = [
    "DEFAULT_PUSH_PROBE_FORM",
    "DEFAULT_SOURCE_NUMBER_FIELD",
    "ProbeQuery",
    "find_many",
    "probe_query",
    "tracked_from_found",
]
