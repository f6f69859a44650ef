"""The redactor masks registered secrets (and their URL-encoded forms) in text and in every log record."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ferry.observe import redact as redaction
from ferry.observe.redact import RedactingFilter, Redactor


def test_registered_secrets_and_their_url_encoded_forms_are_masked() -> None:
    r = Redactor()
    assert r.register("p@ss word/+1")
    text = "raw p@ss word/+1, quoted p%40ss%20word%2F%2B1, plus p%40ss+word%2F%2B1"
    assert r.redact(text) == "raw ***, quoted ***, plus ***"


def test_short_secrets_are_not_registered() -> None:
    r = Redactor()
    assert not r.register("abc")
    assert not r.register("")
    assert not r.register(None)
    assert r.redact("abc abc") == "abc abc"
    assert repr(r) == "Redactor(0 forms registered)"


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole() -> None:
    r = Redactor()
    r.register("abcd")
    r.register("abcd-efgh-ijkl")
    assert r.redact("key=abcd-efgh-ijkl; k2=abcd") == "key=***; k2=***"


def test_repr_never_shows_values() -> None:
    r = Redactor()
    r.register("very-secret-value")
    assert "very-secret-value" not in repr(r)


def test_the_filter_redacts_message_args_and_exception_text() -> None:
    r = Redactor()
    r.register("s3cr3t-filter-1")
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "login with %s failed", ("s3cr3t-filter-1",), None
    )
    try:
        raise ValueError("bad token s3cr3t-filter-1")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter(r).filter(record)
    assert record.getMessage() == "login with *** failed"
    assert record.exc_text is not None
    assert "s3cr3t-filter-1" not in record.exc_text and "bad token ***" in record.exc_text


@pytest.fixture
def installed() -> Iterator[None]:
    redaction.install()
    yield
    redaction.uninstall()


def test_install_masks_records_of_every_logger_including_captured_ones(
    installed: None, caplog: pytest.LogCaptureFixture
) -> None:
    redaction.register_secret("tok-installed-6a6a")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("ferry.somewhere.deep").info(
        "calling https://api.example.com/x?key=%s", "tok-installed-6a6a"
    )
    logging.getLogger().warning("header Authorization: Bearer tok-installed-6a6a")
    try:
        raise RuntimeError("boom with tok-installed-6a6a")
    except RuntimeError:
        logging.getLogger("other.lib").exception("failed")
    assert "tok-installed-6a6a" not in caplog.text
    assert "key=***" in caplog.text and "Bearer ***" in caplog.text and "boom with ***" in caplog.text
    assert all("tok-installed-6a6a" not in r.getMessage() for r in caplog.records)


def test_install_is_idempotent_and_uninstall_restores_the_factory(installed: None) -> None:
    factory = logging.getLogRecordFactory()
    assert redaction.install() is redaction.install()
    assert logging.getLogRecordFactory() is factory
    redaction.uninstall()
    assert logging.getLogRecordFactory() is logging.LogRecord


def test_redact_value_masks_secrets_in_strings_and_credential_keys_at_any_depth() -> None:
    r = Redactor()
    r.register("echoed-Key-77aa")
    value = {
        "id": "P1",
        "note": "sent with echoed-Key-77aa",
        "request": {"headers": {"X-Api-Key": "unregistered-but-named", "Authorization": "Basic Zm9v"}},
        "rows": [{"client_secret": "s"}, ("echoed-Key-77aa", 5, None, True)],
        "Set-Cookie": "kdservice-sessionid=abc",
        "x_kd_signature": "c2ln",
        "nextToken": "10",
        "amount": 12.5,
    }
    got = r.redact_value(value)
    assert got["id"] == "P1" and got["amount"] == 12.5 and got["nextToken"] == "10"
    assert got["note"] == "sent with ***"
    assert got["request"]["headers"] == {"X-Api-Key": "***", "Authorization": "***"}
    assert got["rows"] == [{"client_secret": "***"}, ["***", 5, None, True]]
    assert got["Set-Cookie"] == "***" and got["x_kd_signature"] == "***"
    assert value["note"] == "sent with echoed-Key-77aa"  # a copy: the original is untouched


def test_redact_value_cuts_hostile_nesting() -> None:
    deep: object = "leaf"
    for _ in range(5000):
        deep = [deep]
    got = Redactor().redact_value(deep)
    depth = 0
    while isinstance(got, list):
        got, depth = got[0], depth + 1
    assert got == redaction.TOO_DEEP and depth == redaction.MAX_VALUE_DEPTH


def test_rotating_secrets_are_bounded_and_configured_ones_are_kept() -> None:
    r = Redactor(max_transient=3)
    r.register("configured-secret")
    for i in range(10):
        r.register(f"session-{i:04d}", transient=True)
    assert "configured-secret" in r
    assert [f"session-{i:04d}" in r for i in range(10)] == [False] * 7 + [True] * 3
    assert r.redact("configured-secret session-0009 session-0000") == "*** *** session-0000"
