"""Secret redaction: one process-wide :class:`Redactor` that every log line and error message passes through.

Connection settings register each value they resolve from ``${ENV}`` (see
:mod:`ferry.connectors.settings`); auth objects register derived forms (a Basic credential's base64).
``redact(text)`` then replaces every registered secret, and its URL-encoded forms, with ``***``.

Secrets shorter than :data:`MIN_SECRET_LENGTH` (4) characters are not registered: redacting ``"1"``
or ``"abc"`` would garble every log line, and a credential that short protects nothing anyway.

Credentials that rotate (access tokens, session ids) are registered ``transient=True``: the redactor keeps
the last :data:`MAX_TRANSIENT_SECRETS` of them, so a server that hands out a new session id on every
answer cannot grow it without bound. Configured secrets are kept for the life of the process.

Structured data (a target's answer stored in the ledger, an error's details): :func:`redact_value` walks
it, masks registered secrets inside every string and the whole value under a key that names a
credential (``Authorization``, ``Cookie``, ``X-Api-Key``, ``password``, ``access_token``...; see
:func:`is_sensitive_key`), and cuts nesting deeper than :data:`MAX_VALUE_DEPTH`.

Logging: :func:`install` attaches :class:`RedactingFilter` to the root logger and its handlers *and*
wraps the log-record factory. The factory matters: a filter on the root logger only sees records
logged on the root logger itself, not those propagated from ``ferry.*`` loggers, and handlers added
later (pytest's ``caplog``, uvicorn's) would miss a handler-level filter.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4
#: rotating credentials remembered at once (the oldest is forgotten first)
MAX_TRANSIENT_SECRETS = 1024
#: structured values deeper than this are cut (a hostile answer can nest thousands of levels)
MAX_VALUE_DEPTH = 64
#: what stands in for a subtree cut at MAX_VALUE_DEPTH
TOO_DEEP = "(nested too deep)"

# names (lower case, without "-" and "_") whose value is a credential wherever it appears
_SENSITIVE_NAMES = frozenset(
    {
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "xapikey",
        "apikey",
        "token",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "xacsdingtalkaccesstoken",
        "clientsecret",
        "appsecret",
        "secret",
        "password",
        "passwd",
        "kdservicesessionid",
        "kdsvcsessionid",
        "sessionid",
        "xapisignature",
        "xkdsignature",
        "signature",
        "msgsignature",
    }
)
_SENSITIVE_SUFFIXES = ("secret", "password", "apikey", "accesstoken", "sessionid", "signature")


class Redactor:
    """Remembers secret values and masks them in text. Thread-safe; registering is idempotent."""

    def __init__(self, max_transient: int = MAX_TRANSIENT_SECRETS) -> None:
        self._secrets: set[str] = set()
        self._transient: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._max_transient = max_transient
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, secret: object, *, transient: bool = False) -> bool:
        """Remember ``secret`` (as text) and its URL-encoded forms; False when too short to register.

        ``transient``: a rotating credential (token, session id); only the latest
        :data:`MAX_TRANSIENT_SECRETS` of those are kept.
        """
        text = "" if secret is None else str(secret)
        if len(text) < MIN_SECRET_LENGTH:
            return False
        forms = frozenset({text, quote(text, safe=""), quote_plus(text), quote(text)})
        with self._lock:
            if transient:
                if text in self._transient:
                    self._transient.move_to_end(text)
                    return True
                if forms <= self._secrets:
                    return True
                self._transient[text] = forms
                while len(self._transient) > self._max_transient:
                    self._transient.popitem(last=False)
            else:
                if forms <= self._secrets:
                    return True
                self._secrets |= forms
                self._transient.pop(text, None)
            self._compile()
        return True

    def _compile(self) -> None:
        every = set(self._secrets)
        for forms in self._transient.values():
            every |= forms
        # longest first, so a secret that contains another is masked whole
        alternatives = sorted(every, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in alternatives)) if alternatives else None

    def register_all(self, secrets: Iterable[object]) -> None:
        for s in secrets:
            self.register(s)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact_value(self, value: Any) -> Any:
        """A copy of structured ``value`` with secrets masked (see the module docstring)."""
        return self._value(value, 0)

    def _value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if depth >= MAX_VALUE_DEPTH:
            return TOO_DEEP
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                key = self.redact(k) if isinstance(k, str) else k
                out[key] = (
                    MASK if isinstance(k, str) and is_sensitive_key(k) and v else self._value(v, depth + 1)
                )
            return out
        if isinstance(value, list | tuple):
            return [self._value(v, depth + 1) for v in value]
        return self.redact(str(value))

    def __contains__(self, value: object) -> bool:
        text = str(value)
        return text in self._secrets or text in self._transient

    def clear(self) -> None:
        """Forget every secret (for tests)."""
        with self._lock:
            self._secrets.clear()
            self._transient.clear()
            self._pattern = None

    def __repr__(self) -> str:
        # never the values themselves
        forms = len(self._secrets) + sum(len(f) for f in self._transient.values())
        return f"Redactor({forms} forms registered)"


def is_sensitive_key(name: str) -> bool:
    """True when a mapping key (a header or field name) names a credential, in any spelling."""
    folded = name.lower().replace("-", "").replace("_", "")
    return folded in _SENSITIVE_NAMES or folded.endswith(_SENSITIVE_SUFFIXES)


#: the process-wide redactor
REDACTOR = Redactor()


def register_secret(secret: object, *, transient: bool = False) -> bool:
    """Register a secret with the process-wide redactor (``transient``: a rotating token or session id)."""
    return REDACTOR.register(secret, transient=transient)


def redact(text: str) -> str:
    """Mask every registered secret in ``text`` (process-wide redactor)."""
    return REDACTOR.redact(text)


def redact_value(value: Any) -> Any:
    """A copy of structured data (parsed JSON) with secrets masked (process-wide redactor)."""
    return REDACTOR.redact_value(value)


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
    "MAX_TRANSIENT_SECRETS",
    "MAX_VALUE_DEPTH",
    "MIN_SECRET_LENGTH",
    "REDACTOR",
    "TOO_DEEP",
    "RedactingFilter",
    "Redactor",
    "install",
    "is_sensitive_key",
    "redact",
    "redact_record",
    "redact_value",
    "register_secret",
    "uninstall",
]
