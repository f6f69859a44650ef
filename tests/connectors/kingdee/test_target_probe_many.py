"""``probe_many``: the in-doubt records of a batch cost one query per form, then one call per follow-up.

After a Push whose answer was lost (``drop_after_commit``) nothing may be pushed again: every bill is
found, finished in batched calls, and the sandbox still holds exactly one payment bill per source.
"""

from __future__ import annotations

import pytest
from kd_client_support import Server
from kd_target_support import TargetFactory, paybills, push_request, served, since

from ferry.connectors.base import BatchProber, TargetDoc, WriteItem
from ferry.connectors.errors import GiveUp, OutcomeUnknown, RetryLater
from ferry.connectors.kingdee.query import IN_CHUNK

PROBE = {"form_id": "AP_PAYBILL", "source_number_field": "FPAYBILLSRCENTRY_FSRCBILLNO"}


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"FKSQ{start + i:06d}" for i in range(1, count + 1)]


def items_for(server: Server, bills: list[str], **seed: object) -> list[WriteItem]:
    server.seed(*({"number": n, "amounts": [10, 5], **seed} for n in bills))
    return [WriteItem(i + 1, f"APPROVAL-{n}", n, push_request([n])) for i, n in enumerate(bills)]


def counts(server: Server, bills: list[str]) -> dict[str, int]:
    return dict(server.admin("GET", "paybills/count", params={"source": bills})["counts"])


async def test_a_lost_push_answer_is_settled_with_one_query_and_one_call_per_follow_up(
    server: Server, make_target: TargetFactory
) -> None:
    bills = numbers(8)
    items = items_for(server, bills)
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"], probe=PROBE)
    assert isinstance(target, BatchProber)
    server.fault("drop_after_commit", ["push"], count=1)
    with pytest.raises(OutcomeUnknown):
        await target.write(items)
    assert {b["status"] for b in paybills(server).values()} == {"A"}  # created, never submitted

    unpushed = items_for(server, ["FKSQ000901"])[0]
    unpushed = WriteItem(50, unpushed.source_id, unpushed.number, unpushed.request)
    no_request = WriteItem(51, "APPROVAL-crashed", None, {})
    before = served(server)
    answers = await target.probe_many([*items[:4], unpushed, no_request, *items[4:]])
    # one query for the ten records, then one Submit and one Audit for the eight bills; no Push
    assert since(server, before, "ExecuteBillQuery", "Submit", "Audit", "Push") == (1, 1, 1, 0)
    assert len(answers) == 10
    assert answers[4] is None
    assert isinstance(answers[5], GiveUp) and "source bill" in str(answers[5])
    found = [a for i, a in enumerate(answers) if i not in (4, 5)]
    state = paybills(server)
    for item, doc in zip(items, found, strict=True):
        assert isinstance(doc, TargetDoc), doc
        bill = state[item.number or ""]
        assert doc.number == bill["number"] and doc.id == str(bill["id"]) and not doc.draft
        assert doc.pending == () and doc.message is None
        assert bill["status"] == "C"
    assert counts(server, bills) == dict.fromkeys(bills, 1)

    # asked again, everything is audited: the query reads the statuses, no follow-up call is made
    before = served(server)
    again = await target.probe_many(items)
    assert since(server, before, "ExecuteBillQuery", "Submit", "Audit") == (1, 0, 0)
    assert all(isinstance(d, TargetDoc) and d.pending == () for d in again)
    assert [d.number for d in again if isinstance(d, TargetDoc)] == [state[n]["number"] for n in bills]


async def test_follow_ups_that_fail_in_the_probe_come_back_pending(
    server: Server, make_target: TargetFactory
) -> None:
    bills = numbers(4)
    items = items_for(server, bills)
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"], probe=PROBE)
    server.fault("drop_after_commit", ["push"], count=1)
    with pytest.raises(OutcomeUnknown):
        await target.write(items)
    server.fault("response_error", ["audit"], count=None)
    answers = await target.probe_many(items)
    docs = [a for a in answers if isinstance(a, TargetDoc)]
    assert len(docs) == 4  # found all the same: a follow-up failure never hides a document
    for doc in docs:
        assert doc.pending == ("Audit",)
        assert doc.message is not None and "Audit failed" in doc.message and "未将对象引用" in doc.message
    assert {b["status"] for b in paybills(server).values()} == {"B"}
    assert counts(server, bills) == dict.fromkeys(bills, 1)


async def test_one_failed_query_fails_only_its_own_records(
    server: Server, make_target: TargetFactory
) -> None:
    by_number = items_for(server, numbers(2))
    [by_id_bill] = server.seed({"number": "FKSQ000777", "amount": 4})
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"], probe=PROBE)
    by_id = WriteItem(
        9, "s9", None, {"FormId": "CN_PAYAPPLY", "Ids": str(by_id_bill["id"]), "TargetFormId": "AP_PAYBILL"}
    )
    written = await target.write([*by_number, by_id])
    assert all(o.ok for o in written)
    # numbers and ids are different fields: two queries; the first one fails
    server.fault("error5xx", ["executebillquery"], count=1)
    before = served(server)
    answers = await target.probe_many([*by_number, by_id])
    assert since(server, before, "ExecuteBillQuery", "Submit", "Audit") == (2, 0, 0)
    assert all(isinstance(a, RetryLater) for a in answers[:2])
    doc = answers[2]
    assert isinstance(doc, TargetDoc) and doc.pending == ()
    assert doc.number == paybills(server)["FKSQ000777"]["number"]
    # the single probe is the same question, and raises what it could not answer
    server.fault("error5xx", ["executebillquery"], count=1)
    with pytest.raises(RetryLater):
        await target.probe(by_number[0])


async def test_more_than_one_document_for_a_source_is_reported_in_its_slot_only(
    server: Server, make_target: TargetFactory
) -> None:
    [other] = items_for(server, ["FKSQ000060"])
    server.seed({"number": "FKSQ000061", "amounts": [5, 6]})
    rows = server.admin("GET", "bills/CN_PAYAPPLY/FKSQ000061")["model"]["FPAYAPPLYENTRY"]
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"], probe=PROBE)
    for row in rows:  # each row pushed on its own: two payment bills for one source
        await target.client.push(
            "CN_PAYAPPLY", ["FKSQ000061"], target_form_id="AP_PAYBILL", entry_ids=[row["FEntryID"]]
        )
    await target.client.push("CN_PAYAPPLY", ["FKSQ000060"], target_form_id="AP_PAYBILL")
    twice = WriteItem(2, "s2", None, push_request(["FKSQ000061"]))
    answers = await target.probe_many([other, twice])
    first, second = answers
    assert isinstance(first, TargetDoc) and first.message is None and first.pending == ()
    assert isinstance(second, TargetDoc) and second.message is not None
    assert second.message.startswith("2 documents found for source FKSQ000061")
    bills = sorted(
        (
            b
            for b in server.admin("GET", "bills", params={"form_id": "AP_PAYBILL"})["bills"]
            if "FKSQ000061" in b["sources"]
        ),
        key=lambda b: b["id"],
    )
    assert second.number == bills[0]["number"]  # the first by id, as the single probe answers


async def test_a_probe_of_more_records_than_one_in_list_holds_is_chunked(
    server: Server, make_target: TargetFactory
) -> None:
    bills = numbers(IN_CHUNK + 5, start=1000)
    items = items_for(server, bills)
    target = make_target(batch_size=200, follow_up=["Submit", "Audit"], probe=PROBE)
    server.fault("drop_after_commit", ["push"], count=1)
    with pytest.raises(OutcomeUnknown):
        await target.write(items)
    before = served(server)
    answers = await target.probe_many(items)
    # two IN lists; the follow-ups are bounded by batch_size (200), so one call each
    assert since(server, before, "ExecuteBillQuery", "Submit", "Audit") == (2, 1, 1)
    state = paybills(server)
    assert [a.number if isinstance(a, TargetDoc) else a for a in answers] == [
        state[n]["number"] for n in bills
    ]
    assert {state[n]["status"] for n in bills} == {"C"}


async def test_a_quote_in_a_number_is_a_value_not_filter_syntax(
    server: Server, make_target: TargetFactory
) -> None:
    [item] = items_for(server, numbers(1))
    target = make_target(follow_up=["Submit", "Audit"], probe=PROBE)
    assert (await target.write([item]))[0].ok
    sly = WriteItem(2, "s2", None, push_request(["X' OR '1'='1"]))
    before = served(server)
    answers = await target.probe_many([sly, item])
    assert since(server, before, "ExecuteBillQuery") == (1,)
    assert answers[0] is None  # matched nothing, rather than every bill
    assert (
        isinstance(answers[1], TargetDoc)
        and answers[1].number == paybills(server)[item.number or ""]["number"]
    )


async def test_drafts_found_by_the_probe_are_not_pending(server: Server, make_target: TargetFactory) -> None:
    items = items_for(server, numbers(2), missing_settle_type=True)
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"], probe=PROBE)
    written = await target.write(items)
    assert all(o.doc is not None and o.doc.draft for o in written)
    before = served(server)
    answers = await target.probe_many(items)
    assert since(server, before, "ExecuteBillQuery", "Submit", "Audit") == (1, 0, 0)
    for a in answers:
        assert isinstance(a, TargetDoc) and a.draft and a.pending == ()
        assert a.message is not None and "draft" in a.message


async def test_without_probe_follow_ups_the_work_left_is_pending(
    server: Server, make_target: TargetFactory
) -> None:
    items = items_for(server, numbers(2))
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"], probe={**PROBE, "follow_up": False})
    server.fault("drop_after_commit", ["push"], count=1)
    with pytest.raises(OutcomeUnknown):
        await target.write(items)
    before = served(server)
    answers = await target.probe_many(items)
    assert since(server, before, "ExecuteBillQuery", "Submit", "Audit") == (1, 0, 0)
    assert all(isinstance(a, TargetDoc) and a.pending == ("Submit", "Audit") for a in answers)
    assert {b["status"] for b in paybills(server).values()} == {"A"}
