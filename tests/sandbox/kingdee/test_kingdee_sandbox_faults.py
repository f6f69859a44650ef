"""Faults (from the admin API and the --faults syntax), latency, counters, reset."""

from __future__ import annotations

import random
import time

import httpx
import pytest
from kd_sandbox_support import DYNAMIC, Caller, status_of

from ferry.sandbox.kingdee import parse_faults, parse_latency
from ferry.sandbox.kingdee.faults import Faults

QUERY = {"data": {"FormId": "CN_PAYAPPLY", "FieldKeys": "FBillNo"}}


def _arm(kd: Caller, name: str, ops: list[str] | None = None, count: int | None = 1) -> None:
    kd.admin("PUT", "faults", json={"faults": {name: {"rate": 1.0, "ops": ops, "count": count}}})


def test_session_loss_drops_the_session(logged_in: Caller) -> None:
    _arm(logged_in, "session_loss")
    assert status_of(logged_in.call("ExecuteBillQuery", QUERY))["MsgCode"] == 1
    assert status_of(logged_in.call("ExecuteBillQuery", QUERY))["MsgCode"] == 1  # the session is really gone
    assert logged_in.admin("GET", "stats")["faults_fired"] == {"session_loss": 1}


@pytest.mark.parametrize(("fault", "code"), [("conflict", 13), ("limit", 14)])
def test_conflict_and_limit_answer_their_msgcode_and_do_nothing(
    logged_in: Caller, fault: str, code: int
) -> None:
    logged_in.admin("POST", "bills", json={"bills": [{"number": "FKSQ000001", "amount": 5}]})
    _arm(logged_in, fault, ["push"])
    body = {
        "formid": "CN_PAYAPPLY",
        "data": {"Numbers": ["FKSQ000001"], "TargetFormId": "AP_PAYBILL", "IsEnableDefaultRule": True},
    }
    assert status_of(logged_in.call("Push", body))["MsgCode"] == code
    assert logged_in.admin("GET", "paybills/count")["total"] == 0
    assert status_of(logged_in.call("Push", body))["IsSuccess"] is True  # count=1: only once


def test_error5xx_and_response_error(logged_in: Caller) -> None:
    _arm(logged_in, "error5xx")
    r = logged_in.post(DYNAMIC, "ExecuteBillQuery", QUERY, {"kdservice-sessionid": logged_in.sid or ""})
    assert r.status_code == 500
    _arm(logged_in, "response_error")
    r = logged_in.post(DYNAMIC, "ExecuteBillQuery", QUERY, {"kdservice-sessionid": logged_in.sid or ""})
    assert r.status_code == 200 and r.text.startswith("response_error:") and '"Message"' in r.text


def test_drop_after_commit_creates_the_bill_and_closes_without_answer(logged_in: Caller) -> None:
    logged_in.admin("POST", "bills", json={"bills": [{"number": "FKSQ000001", "amount": 5}]})
    _arm(logged_in, "drop_after_commit", ["push"])
    body = {
        "formid": "CN_PAYAPPLY",
        "data": {"Numbers": ["FKSQ000001"], "TargetFormId": "AP_PAYBILL", "IsEnableDefaultRule": True},
    }
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        logged_in.call("Push", body)
    assert logged_in.admin("GET", "paybills/count", params={"source": "FKSQ000001"})["total"] == 1
    # reads are never dropped, even when the fault names them
    _arm(logged_in, "drop_after_commit", ["executebillquery"])
    assert logged_in.call("ExecuteBillQuery", QUERY) == [["FKSQ000001"]]


def test_latency_is_added_and_cleared(logged_in: Caller) -> None:
    logged_in.admin("PUT", "faults", json={"latency_ms": "200-220"})
    started = time.monotonic()
    logged_in.call("ExecuteBillQuery", QUERY)
    assert time.monotonic() - started >= 0.2
    assert logged_in.admin("DELETE", "faults") == {"faults": {}, "latency_ms": [0, 0], "fired": {}}


def test_stats_count_calls_and_reset_clears(logged_in: Caller) -> None:
    logged_in.call("ExecuteBillQuery", QUERY)
    logged_in.call("executebillquery", QUERY)
    stats = logged_in.admin("GET", "stats")
    assert stats["calls"] == {"ValidateUser": 1, "ExecuteBillQuery": 2}
    assert stats["logins"] == {"ValidateUser": 1} and stats["sessions_live"] == 1
    reset = logged_in.admin("POST", "reset", json={"seed_bills": 3})
    assert reset["seeded"] == ["FKSQ000001", "FKSQ000002", "FKSQ000003"]
    assert logged_in.admin("GET", "stats") == {
        "calls": {},
        "logins": {},
        "faults_fired": {},
        "sessions_live": 0,
    }
    bills = logged_in.admin("GET", "bills", params={"status": "C"})["bills"]
    assert len(bills) == 3 and all(b["amount"] > 0 for b in bills)


def test_bad_fault_settings_are_refused(kd: Caller) -> None:
    r = kd.http.put(kd.url + "/_sandbox/faults", json={"faults": {"meteor": 1}})
    assert r.status_code == 400 and "unknown fault" in r.json()["error"]


def test_fault_and_latency_syntax() -> None:
    assert parse_faults("conflict=0.1, limit=0.05,drop_after_commit") == {
        "conflict": 0.1,
        "limit": 0.05,
        "drop_after_commit": 1.0,
    }
    assert parse_latency("20-80") == (20, 80) and parse_latency("5") == (5, 5)
    for bad in ("meteor=1", "conflict=2"):
        with pytest.raises(ValueError):
            parse_faults(bad)
    with pytest.raises(ValueError):
        parse_latency("80-20")


def test_fault_rates_are_probabilistic_and_seeded() -> None:
    faults = Faults(random.Random(3))
    faults.set("conflict", 0.3)
    hits = sum(faults.fire("conflict", "Save") for _ in range(2000))
    assert 450 < hits < 750
    faults.set("limit", 1.0, ops=["Push"])
    assert not faults.fire("limit", "Save") and faults.fire("limit", "push")
