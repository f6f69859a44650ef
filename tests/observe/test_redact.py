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
