"""Secret redaction: one process-wide :class:`Redactor` that every log line and error message passes through.

Connection settings register each value they resolve from ``${ENV}`` (see
:mod:`ferry.connectors.settings`); auth objects register derived forms (a Basic credential's base64).
``redact(text)`` then replaces every registered secret, and its URL-encoded forms, with ``***``.

Secrets shorter than :data:`MIN_SECRET_LENGTH` (4) characters are not registered: redacting ``"1"``
or ``"abc"`` would garble every log line, and a credential that short protects nothing anyway.

Logging: :func:`install` attaches :class:`RedactingFilter` to the root logger and its handlers *and*
wraps the log-record factory. The factory matters: a filter on the root logger only sees records
logged on the root logger itself, not those propagated from ``ferry.*`` loggers, and handlers added
later (pytest's ``caplog``, uvicorn's) would miss a handler-level filter.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4


class Redactor:
    """Remembers secret values and masks them in text. Thread-safe; registering is idempotent."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, secret: object) -> bool:
        """Remember ``secret`` (as text) and its URL-encoded forms; False when too short to register."""
        text = "" if secret is None else str(secret)
        if len(text) < MIN_SECRET_LENGTH:
            return False
        forms = {text, quote(text, safe=""), quote_plus(text), quote(text)}
        with self._lock:
            if forms <= self._secrets:
                return True
            self._secrets |= forms
            # longest first, so a secret that contains another is masked whole
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))
        return True

    def register_all(self, secrets: Iterable[object]) -> None:
        for s in secrets:
            self.register(s)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def __contains__(self, value: object) -> bool:
        return str(value) in self._secrets

    def clear(self) -> None:
        """Forget every secret (for tests)."""
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def __repr__(self) -> str:
        # never the values themselves
        return f"Redactor({len(self._secrets)} forms registered)"


#: the process-wide redactor
REDACTOR = Redactor()


def register_secret(secret: object) -> bool:
    """Register a secret with the process-wide redactor."""
    return REDACTOR.register(secret)


def redact(text: str) -> str:
    """Mask every registered secret in ``text`` (process-wide redactor)."""
    return REDACTOR.redact(text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message (after %-formatting its args), exception text and stack."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or REDACTOR

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redactor)
        return True


def redact_record(record: logging.LogRecord, redactor: Redactor | None = None) -> logging.LogRecord:
    """Redact ``record`` in place: the formatted message replaces msg and args."""
    r = redactor or REDACTOR
    if r._pattern is None:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep what we can, still masked
        message = f"{record.msg} {record.args}"
    record.msg = r.redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = r.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = r.redact(record.stack_info)
    return record


_installed_lock = threading.Lock()
_filter: RedactingFilter | None = None
_previous_factory: Callable[..., logging.LogRecord] | None = None


def install(redactor: Redactor | None = None) -> RedactingFilter:
    """Redact every log record of the process from now on. Idempotent; returns the filter."""
    global _filter, _previous_factory
    with _installed_lock:
        if _filter is None:
            _filter = RedactingFilter(redactor)
            previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
            _previous_factory = previous
            active = _filter

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return redact_record(previous(*args, **kwargs), active.redactor)

            logging.setLogRecordFactory(factory)
        root = logging.getLogger()
        if _filter not in root.filters:
            root.addFilter(_filter)
        for handler in root.handlers:
            if _filter not in handler.filters:
                handler.addFilter(_filter)
        return _filter


def uninstall() -> None:
    """Undo :func:`install` (for tests): restore the record factory and remove the filter."""
    global _filter, _previous_factory
    with _installed_lock:
        if _filter is None:
            return
        if _previous_factory is not None:
            logging.setLogRecordFactory(_previous_factory)
        root = logging.getLogger()
        root.removeFilter(_filter)
        for handler in root.handlers:
            handler.removeFilter(_filter)
        _filter = None
        _previous_factory = None


__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "REDACTOR",
    "RedactingFilter",
    "Redactor",
    "install",
    "redact",
    "redact_record",
    "register_secret",
    "uninstall",
]
