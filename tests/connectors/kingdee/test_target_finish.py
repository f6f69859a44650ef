"""Follow-ups that did not succeed within the write are pending, and ``finish`` runs them, batched.

Every test reads the sandbox's own state (each payment bill's status) and counts the calls it served.
"""

from __future__ import annotations

import dataclasses

import pytest
from kd_client_support import Server
from kd_target_support import TargetFactory, by_key, paybills, push_request, served, since

from ferry.connectors.base import FinishingTarget, FinishItem, TargetDoc, WriteItem
from ferry.connectors.errors import GiveUp, OutcomeUnknown, SlowDown

N = 5
NUMBERS = [f"FKSQ0001{i:02d}" for i in range(N)]


def seed(server: Server, numbers: list[str] = NUMBERS) -> list[WriteItem]:
    server.seed(*({"number": n, "amount": 10 + i} for i, n in enumerate(numbers)))
    return [WriteItem(i + 1, f"APPROVAL-{n}", n, push_request([n])) for i, n in enumerate(numbers)]


def to_finish(items: list[WriteItem], docs: dict[int, TargetDoc]) -> list[FinishItem]:
    """What the engine hands back for its ``finishing`` records: the stored doc and request."""
    return [FinishItem(i.key, i.source_id, i.number, docs[i.key], i.request) for i in items]


async def test_a_submit_that_keeps_failing_leaves_both_steps_pending_and_finish_batches_them(
    server: Server, make_target: TargetFactory
) -> None:
    items = seed(server)
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"])
    assert isinstance(target, FinishingTarget)
    server.fault("error5xx", ["submit"], count=None)
    out = by_key(await target.write(items))
    bills = paybills(server)
    for item in items:
        doc = out[item.key].doc
        assert doc is not None and doc.number == bills[item.number or ""]["number"]
        assert doc.pending == ("Submit", "Audit")
        assert doc.message is not None and "Submit failed" in doc.message and "HTTP 500" in doc.message
        assert bills[item.number or ""]["status"] == "A"

    server.admin("DELETE", "faults")
    before = served(server)
    finished = by_key(await target.finish(to_finish(items, {k: o.doc for k, o in out.items() if o.doc})))
    # one Submit and one Audit for the five bills, not five of each; nothing pushed again
    assert since(server, before, "Submit", "Audit", "Push", "ExecuteBillQuery") == (1, 1, 0, 0)
    bills = paybills(server)
    for item in items:
        doc = finished[item.key].doc
        assert doc is not None and doc.pending == () and doc.message is None
        assert doc.number == bills[item.number or ""]["number"] and bills[item.number or ""]["status"] == "C"
        assert "pending" not in doc.response and doc.response["push"]["status"] == "created"
        # the story keeps the failed tries of the write, then the finish
        ops = [(s["operation"], s["ok"]) for s in doc.response["follow_up"]]
        assert ops == [("Submit", False), ("Submit", True), ("Audit", True)]


async def test_an_audit_that_keeps_failing_is_finished_without_submitting_again(
    server: Server, make_target: TargetFactory
) -> None:
    items = seed(server, NUMBERS[:3])
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"])
    server.fault("limit", ["audit"], count=None)  # MsgCode 14 调用限制, three quick tries
    out = by_key(await target.write(items))
    docs = {k: o.doc for k, o in out.items() if o.doc}
    assert {d.pending for d in docs.values()} == {("Audit",)}
    assert all(d.message and "调用限制" in d.message for d in docs.values())
    assert {b["status"] for b in paybills(server).values()} == {"B"}

    # the limit holds on: finish tries once and says so, the engine's policy decides when to ask again
    before = served(server)
    with pytest.raises(SlowDown):
        await target.finish(to_finish(items, docs))
    assert since(server, before, "Submit", "Audit") == (0, 1)

    server.admin("DELETE", "faults")
    before = served(server)
    finished = by_key(await target.finish(to_finish(items, docs)))
    assert since(server, before, "Submit", "Audit") == (0, 1)
    assert all(o.doc is not None and o.doc.pending == () for o in finished.values())
    assert {b["status"] for b in paybills(server).values()} == {"C"}


async def test_finish_answers_per_item_when_some_bills_cannot_be_finished(
    server: Server, make_target: TargetFactory
) -> None:
    items = seed(server, NUMBERS[:3])
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"])
    server.fault("error5xx", ["submit"], count=None)
    docs = {o.key: o.doc for o in await target.write(items) if o.doc}
    server.admin("DELETE", "faults")
    bills = paybills(server)
    # a person deleted one payment bill in Kingdee meanwhile, and audited another by hand
    gone = docs[1]
    with_person = bills[NUMBERS[1]]["number"]
    await target.client.delete("AP_PAYBILL", [gone.number or ""])
    await target.client.submit("AP_PAYBILL", [with_person])
    await target.client.audit("AP_PAYBILL", [with_person])

    nothing_left = dataclasses.replace(docs[3], pending=())
    stray = FinishItem(9, "x", None, TargetDoc(id=None, number=None, pending=("Submit",)), None)
    before = served(server)
    finish_items = [*to_finish(items[:2], docs), FinishItem(3, "z", None, nothing_left, None), stray]
    out = by_key(await target.finish(finish_items))
    # still one call each: the missing bill and the audited one answer inside the same calls
    assert since(server, before, "Submit", "Audit") == (1, 0)
    assert out[1].doc is not None and out[1].doc.pending == ("Submit", "Audit")
    assert out[1].doc.message is not None and "Submit failed" in out[1].doc.message
    assert "不存在" in out[1].doc.message
    # "already audited" in answer to Submit means Audit is done too: no Audit call for it
    assert out[2].doc is not None and out[2].doc.pending == () and out[2].doc.message is None
    assert out[2].doc.response["follow_up"][-1]["already"] is True
    assert out[3].doc is nothing_left  # nothing pending: handed back as it was
    assert isinstance(out[9].error, GiveUp) and "neither an id nor a number" in str(out[9].error)
    assert paybills(server)[NUMBERS[1]]["status"] == "C"
    assert NUMBERS[0] not in paybills(server)


async def test_a_whole_call_failure_in_finish_is_raised_and_progress_is_kept(
    server: Server, make_target: TargetFactory
) -> None:
    items = seed(server, NUMBERS[:2])
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"])
    server.fault("error5xx", ["submit"], count=None)
    docs = {o.key: o.doc for o in await target.write(items) if o.doc}
    # finish's one Submit call fails as a whole: nothing was done, the engine retries under its policy
    server.admin("DELETE", "faults")
    server.fault("conflict", ["submit"], count=1)
    with pytest.raises(SlowDown):
        await target.finish(to_finish(items, docs))
    assert {b["status"] for b in paybills(server).values()} == {"A"}
    # Submit goes through, Audit fails as a whole: what was done is kept, the rest stays pending
    server.admin("DELETE", "faults")
    server.fault("response_error", ["audit"], count=1)
    out = by_key(await target.finish(to_finish(items, docs)))
    for item in items:
        doc = out[item.key].doc
        assert doc is not None and doc.pending == ("Audit",)
        assert doc.message is not None and "Audit failed" in doc.message
    assert {b["status"] for b in paybills(server).values()} == {"B"}
    out = by_key(await target.finish(to_finish(items, {k: o.doc for k, o in out.items() if o.doc})))
    assert all(o.doc is not None and o.doc.pending == () for o in out.values())
    assert {b["status"] for b in paybills(server).values()} == {"C"}


async def test_finish_is_safe_to_repeat_after_a_lost_answer(
    server: Server, make_target: TargetFactory
) -> None:
    items = seed(server, NUMBERS[:2])
    target = make_target(batch_size=20, follow_up=["Submit", "Audit"])
    server.fault("error5xx", ["submit"], count=None)
    docs = {o.key: o.doc for o in await target.write(items) if o.doc}
    server.admin("DELETE", "faults")
    # the Submit is applied but its answer lost: finish cannot know, so it says so
    server.fault("drop_after_commit", ["submit"], count=1)
    with pytest.raises(OutcomeUnknown):
        await target.finish(to_finish(items, docs))
    assert {b["status"] for b in paybills(server).values()} == {"B"}
    before = served(server)
    out = by_key(await target.finish(to_finish(items, docs)))
    # sent again, Kingdee answers "already submitted": done, then the one Audit
    assert since(server, before, "Submit", "Audit") == (1, 1)
    for o in out.values():
        assert o.doc is not None and o.doc.pending == ()
        submit = [s for s in o.doc.response["follow_up"] if s["operation"] == "Submit"][-1]
        assert submit["already"] and "已经提交" in submit["message"]
    assert {b["status"] for b in paybills(server).values()} == {"C"}
    assert len(paybills(server)) == 2


async def test_an_operation_not_safe_to_repeat_whose_answer_was_lost_is_left_for_a_person(
    server: Server, make_target: TargetFactory
) -> None:
    items = seed(server, NUMBERS[:1])
    target = make_target(follow_up=["Submit", "Audit", "UnAudit"])
    server.fault("drop_after_commit", ["unaudit"], count=1)
    [out] = await target.write(items)
    doc = out.doc
    assert doc is not None and doc.pending == ("UnAudit",)
    assert doc.response["follow_up"][-1]["unknown"] is True
    assert paybills(server)[NUMBERS[0]]["status"] == "D"  # it was applied; only the answer was lost
    before = served(server)
    [again] = await target.finish(to_finish(items, {1: doc}))
    assert isinstance(again.error, GiveUp) and "not known to be safe to repeat" in str(again.error)
    assert since(server, before, "UnAudit") == (0,)


async def test_follow_ups_run_on_a_save_target_finish_too(server: Server, make_target: TargetFactory) -> None:
    target = make_target(
        api="BatchSave", batch_size=10, params={"form_id": "BD_Supplier"}, follow_up=["Submit", "Audit"]
    )
    items = [WriteItem(i, f"s{i}", None, {"FBillNo": f"SUP-F{i}", "FName": "乙"}) for i in (1, 2)]
    server.fault("error5xx", ["audit"], count=None)
    docs = {o.key: o.doc for o in await target.write(items) if o.doc}
    assert {d.pending for d in docs.values()} == {("Audit",)}
    server.admin("DELETE", "faults")
    # the engine may have kept only the doc: the form is read from its stored response
    out = by_key(await target.finish([FinishItem(k, "s", None, d, None) for k, d in docs.items()]))
    assert all(o.doc is not None and o.doc.pending == () for o in out.values())
    for i in (1, 2):
        assert server.admin("GET", f"bills/BD_Supplier/SUP-F{i}")["status"] == "C"


async def test_a_draft_is_not_pending_and_finish_leaves_it(
    server: Server, make_target: TargetFactory
) -> None:
    server.seed({"number": NUMBERS[0], "amount": 3, "missing_settle_type": True})
    target = make_target(follow_up=["Submit", "Audit"])
    [out] = await target.write([WriteItem(1, "s", None, push_request([NUMBERS[0]]))])
    assert out.doc is not None and out.doc.draft and out.doc.pending == ()
    before = served(server)
    [same] = await target.finish([FinishItem(1, "s", None, out.doc, None)])
    assert same.doc is out.doc and since(server, before, "Submit", "Audit") == (0, 0)
    assert paybills(server)[NUMBERS[0]]["status"] == "Z"


async def test_finish_keeps_the_probe_s_warning(server: Server, make_target: TargetFactory) -> None:
    """A record whose source has two payment bills keeps "a person must check" through its finish."""
    server.seed({"number": NUMBERS[0], "amounts": [5, 6]})
    rows = server.admin("GET", f"bills/CN_PAYAPPLY/{NUMBERS[0]}")["model"]["FPAYAPPLYENTRY"]
    target = make_target(follow_up=["Submit", "Audit"])
    for row in rows:
        await target.client.push(
            "CN_PAYAPPLY", [NUMBERS[0]], target_form_id="AP_PAYBILL", entry_ids=[row["FEntryID"]]
        )
    item = WriteItem(1, "s", None, push_request([NUMBERS[0]]))
    server.fault("error5xx", ["audit"], count=None)
    doc = await target.probe(item)
    assert doc is not None and doc.pending == ("Audit",)
    assert doc.message is not None and doc.message.startswith(f"2 documents found for source {NUMBERS[0]}")
    server.admin("DELETE", "faults")
    [out] = await target.finish([FinishItem(1, "s", None, doc, item.request)])
    assert out.doc is not None and out.doc.pending == ()
    assert out.doc.message is not None and out.doc.message.startswith("2 documents found")
