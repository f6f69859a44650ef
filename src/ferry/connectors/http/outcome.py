"""Does a 2xx answer say it worked? The REST connector's verdict on answers and per-item results.

An HTTP 2xx only says the server answered. Many APIs answer 200 to a refused write
(``{"success": false, "error": "..."}``), and a write is recorded as *written* only when its answer
says so. :class:`SuccessRule` holds what a scheme configured (``params.success``, ``params.error_path``,
``params.accept_empty``); without it the default rule below applies.

Default rule, for a single write's answer and for each per-item result of an array write:

- an empty body, ``null``, an object that says nothing (``{}``, only the index), or a value that is not
  an object: **outcome unknown** (the engine asks the target before any resend);
- failed when any of these is present: ``success``/``ok``/``succeeded`` false (also ``"false"``), a
  non-empty ``error``/``errors``, an ``errcode``/``error_code``/``errorCode`` that is not zero/``ok``,
  a numeric ``code`` that is neither 0 nor 2xx, a numeric ``status`` of 400 or more. A failure is typed
  by ``retryable`` (true: RetryLater, false: GiveUp) when present, else by its status/code (429:
  SlowDown; 408, 5xx: RetryLater; anything else: GiveUp);
- an answer that says both (``success: true`` beside an ``error``): outcome unknown.

A configured rule replaces the markers: ``success: {path, equals | in}`` must hold (a missing path is
outcome unknown; another value is GiveUp), and a non-empty value at ``error_path`` is GiveUp. Empty and
``null`` answers stay unknown unless ``accept_empty: true`` (an API that answers 201/204 with no body).

Source pages use the same markers (:func:`page_failure`): a page whose body says it failed is an
error, never an empty page, so the watermark does not move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferry.connectors.errors import ConnectorError, GiveUp, OutcomeUnknown, RetryLater, SlowDown
from ferry.connectors.http.paths import get_path
from ferry.observe.redact import redact

MESSAGE_LIMIT = 300
_MISSING: Any = object()
_BOOL_MARKERS = ("success", "ok", "succeeded")
_LIST_MARKERS = ("error", "errors")
_ERRCODE_MARKERS = ("errcode", "error_code", "errorcode")
_MESSAGE_KEYS = ("message", "msg", "errmsg", "error_description", "errormessage", "detail", "reason")
_OK_WORDS = frozenset({"ok", "success", "succeeded", "true"})


@dataclass(frozen=True, slots=True)
class SuccessRule:
    """How an answer says it worked; ``SuccessRule()`` is the default rule of the module docstring."""

    #: dotted path whose value must be one of ``values`` (None: the default markers)
    path: str | None = None
    values: tuple[Any, ...] = (True,)
    #: dotted path that, when non-empty, holds the failure
    error_path: str | None = None
    #: an empty body (or ``null``) is success
    accept_empty: bool = False

    @property
    def configured(self) -> bool:
        return self.path is not None or self.error_path is not None

    @classmethod
    def from_settings(
        cls, success: Mapping[str, Any] | None, error_path: str | None = None, accept_empty: bool = False
    ) -> SuccessRule:
        """From the params: ``success: {path, equals}`` or ``{path, in: [...]}``."""
        path: str | None = None
        values: tuple[Any, ...] = (True,)
        if success:
            path = str(success.get("path") or "") or None
            if path is None:
                raise ValueError("success needs a 'path'")
            if success.get("in") is not None:
                values = tuple(success["in"])
            elif "equals" in success:
                values = (success["equals"],)
        return cls(path=path, values=values, error_path=error_path or None, accept_empty=accept_empty)


def write_verdict(
    value: Any, rule: SuccessRule, *, api: str, empty: bool = False, ignore: Sequence[str] = ()
) -> ConnectorError | None:
    """None when ``value`` (an answer, or one item's result) says the write worked, else the error.

    ``empty``: the body was empty (not even ``null``). ``ignore``: keys that say nothing by themselves
    (an array result's index).
    """
    if empty or value is None:
        if rule.accept_empty:
            return None
        what = "an empty body" if empty else "null"
        return OutcomeUnknown(
            f"the target answered with {what}; cannot tell whether the write was applied "
            "(set params.accept_empty if that is how it says yes)",
            code="no_result",
            api=api,
        )
    if rule.configured:
        return _configured(value, rule, api, unknown_when_missing=True)
    if not isinstance(value, Mapping):
        return OutcomeUnknown(
            f"the target answered a {type(value).__name__}, not an object; cannot tell whether the "
            "write was applied (set params.success)",
            code="no_result",
            api=api,
        )
    failed, succeeded = _markers(value)
    if failed and succeeded:
        return OutcomeUnknown(
            f"the answer says both success ({', '.join(succeeded)}) and failure ({', '.join(failed)})",
            code="contradiction",
            api=api,
        )
    if failed:
        return _failure(value, api)
    if not succeeded and all(not isinstance(k, str) or k in ignore for k in value):
        return OutcomeUnknown(
            "the answer says nothing about the write (an empty object); cannot tell whether it was applied",
            code="no_result",
            api=api,
        )
    return None


def page_failure(value: Any, rule: SuccessRule, *, api: str) -> ConnectorError | None:
    """The error a source page's body reports (it failed), or None. Never "empty" for a failure."""
    if rule.configured:
        return _configured(value, rule, api, unknown_when_missing=False)
    if not isinstance(value, Mapping):
        return None
    failed, _ = _markers(value)
    if failed:
        return _failure(value, api, what="the source answered that the call failed")
    return None


def _configured(
    value: Any, rule: SuccessRule, api: str, *, unknown_when_missing: bool
) -> ConnectorError | None:
    if rule.error_path is not None:
        problem = get_path(value, rule.error_path, _MISSING)
        if problem is not _MISSING and _present(problem):
            return GiveUp(
                f"the answer reports an error at {rule.error_path!r}: {_text(problem)}",
                code=_code_of(value) or "rejected",
                api=api,
            )
    if rule.path is None:
        return None
    found = get_path(value, rule.path, _MISSING)
    if found is _MISSING:
        message = f"the answer has no {rule.path!r}; cannot tell whether the call worked"
        if unknown_when_missing:
            return OutcomeUnknown(message, code="no_result", api=api)
        return GiveUp(message, code="no_result", api=api)
    if any(_same(found, want) for want in rule.values):
        return None
    said = _message(value) if isinstance(value, Mapping) else None
    return GiveUp(
        f"{rule.path} is {_text(found)}, not {' or '.join(_text(v) for v in rule.values)}"
        + (f": {said}" if said else ""),
        code=_code_of(value) or "rejected",
        api=api,
    )


def _markers(value: Mapping[Any, Any]) -> tuple[list[str], list[str]]:
    """(failure markers, success markers) found among the top-level keys, any case."""
    folded = {k.lower(): v for k, v in value.items() if isinstance(k, str)}
    failed: list[str] = []
    succeeded: list[str] = []
    for key in _BOOL_MARKERS:
        flag = _as_bool(folded.get(key))
        if flag is False:
            failed.append(f"{key}: false")
        elif flag is True:
            succeeded.append(f"{key}: true")
    for key in _LIST_MARKERS:
        if _present(folded.get(key)):
            failed.append(key)
    for key in _ERRCODE_MARKERS:
        code = folded.get(key)
        if code is not None and code != "" and not _zero_or_ok(code):
            failed.append(f"{key} {_text(code)}")
    code = folded.get("code")
    if _numeric(code) and not _zero_or_ok(code):
        failed.append(f"code {_text(code)}")
    status = _status(folded.get("status"))
    if status is not None and status >= 400:
        failed.append(f"status {status}")
    return failed, succeeded


def _failure(value: Mapping[Any, Any], api: str, what: str = "the target rejected it") -> ConnectorError:
    message = _message(value) or what
    code = _code_of(value)
    kw: dict[str, Any] = {"code": code, "api": api}
    folded = {k.lower(): v for k, v in value.items() if isinstance(k, str)}
    status = _status(folded.get("status"))
    if status is None and _numeric(folded.get("code")):
        status = _status(int(str(folded["code"]).strip()))
    retryable = folded.get("retryable")
    if isinstance(retryable, bool):
        if not retryable:
            return GiveUp(message, **kw)
        return SlowDown(message, **kw) if status == 429 else RetryLater(message, **kw)
    if status == 429:
        return SlowDown(message, **kw)
    if status is not None and (status == 408 or 500 <= status < 600):
        return RetryLater(message, **kw)
    return GiveUp(message, **kw)


def _message(value: Mapping[Any, Any]) -> str | None:
    folded = {k.lower(): v for k, v in value.items() if isinstance(k, str)}
    err = folded.get("error")
    if isinstance(err, Mapping):
        inner = {k.lower(): v for k, v in err.items() if isinstance(k, str)}
        err = next((inner[k] for k in _MESSAGE_KEYS if _present(inner.get(k))), err)
    candidates = [err, *(folded.get(k) for k in _MESSAGE_KEYS), folded.get("errors")]
    found = next((c for c in candidates if _present(c) and c is not True), None)
    return _text(found) if found is not None else None


def _code_of(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    folded = {k.lower(): v for k, v in value.items() if isinstance(k, str)}
    err = folded.get("error")
    for candidate in (
        *(folded.get(k) for k in ("code", *_ERRCODE_MARKERS)),
        err.get("code") if isinstance(err, Mapping) else None,
        folded.get("status"),
    ):
        if candidate is not None and candidate != "" and not isinstance(candidate, Mapping | list):
            return redact(str(candidate))[:64]
    return None


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "..."
    return redact(text)


def _present(value: Any) -> bool:
    """A marker that holds something: not None, False, 0, "" or an empty list/object."""
    if value is None or value is False or value == "" or (isinstance(value, int | float) and value == 0):
        return False
    return not (isinstance(value, Mapping | list | tuple) and not value)


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20


def _zero_or_ok(value: Any) -> bool:
    """0, "0000", 2xx, or a word that means success."""
    if isinstance(value, bool):
        return value
    if _numeric(value):
        number = int(str(value).strip())
        return number == 0 or 200 <= number < 300
    return isinstance(value, str) and value.strip().lower() in _OK_WORDS


def _status(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _same(found: Any, want: Any) -> bool:
    # True == 1 in Python; a JSON boolean matches only a boolean
    if isinstance(found, bool) or isinstance(want, bool):
        return isinstance(found, bool) and isinstance(want, bool) and found is want
    return bool(found == want)


__all__ = ["SuccessRule", "page_failure", "write_verdict"]
