"""Verdicts store what a target answered with its secrets masked, walking a shared answer once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ferry.connectors.base import TargetDoc
from ferry.engine import verdicts
from ferry.engine.verdicts import Verdicts
from ferry.observe import redact
from ferry.scheme import RetryPolicy
from ferry.store import Claimed

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def claimed(record_id: int) -> Claimed:
    return Claimed(
        id=record_id,
        scheme="s",
        source_id=f"r{record_id}",
        number=None,
        content={},
        attempts=0,
        previous_status="pending",
        target_id=None,
        target_number=None,
        request=None,
        needs_probe=False,
        lease_token=7,
    )


@pytest.fixture(autouse=True)
def fresh_redactor() -> Any:
    yield
    redact.REDACTOR.clear()


def test_a_response_shared_by_a_batch_is_redacted_once_and_masked_for_every_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redact.register_secret("sess-4f4f4f")
    walks: list[Any] = []

    def counting(value: Any) -> Any:
        walks.append(value)
        return redact.redact_value(value)

    monkeypatch.setattr(verdicts, "redact_value", counting)
    shared = {"session": "sess-4f4f4f", "Authorization": "Bearer x", "ok": True}
    v = Verdicts(RetryPolicy())
    with v.one_batch():
        outcomes = [
            v.document(
                claimed(i), TargetDoc(f"T{i}", f"N{i}", response=shared), NOW, reason="written", request={}
            )
            for i in (1, 2, 3)
        ]
    assert len(walks) == 1
    assert all(o.response == {"session": "***", "Authorization": "***", "ok": True} for o in outcomes)
    # outside one answer every response is walked again: a secret registered since is masked too
    redact.register_secret("Bearer x")
    later = v.document(
        claimed(4), TargetDoc("T4", "N4", response={"note": "Bearer x"}), NOW, reason="w", request={}
    )
    assert later.response == {"note": "***"} and len(walks) == 2


def test_distinct_responses_in_one_batch_are_each_redacted() -> None:
    redact.register_secret("key-9a9a9a")
    v = Verdicts(RetryPolicy())
    with v.one_batch():
        a = v.document(
            claimed(1), TargetDoc("T1", None, response={"echo": "key-9a9a9a"}), NOW, reason="w", request={}
        )
        b = v.document(
            claimed(2), TargetDoc("T2", None, response={"echo": "plain"}), NOW, reason="w", request={}
        )
        c = v.document(claimed(3), TargetDoc("T3", None), NOW, reason="w", request={})
    assert (a.response, b.response, c.response) == ({"echo": "***"}, {"echo": "plain"}, None)
