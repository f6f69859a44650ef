"""Lenient reading of Kingdee replies (reference §2, §5, §7.4).

Real servers differ: ``MsgCode`` and empty arrays may be missing, ``IsSuccess`` may be ``true`` or
``"true"``, ``ErrorCode`` an int or a string, a server exception comes as ``response_error:{...}`` in an HTTP
200 body, and ExecuteBillQuery wraps its errors as ``[[{"Result":{"ResponseStatus":{...}}}]]``. Everything
here turns those into one shape, :class:`ResponseStatus`, and never raises on a missing key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ferry.connectors.bodies import parse_json

RESPONSE_ERROR_PREFIX = "response_error:"
SESSION_LOST_TEXT = "会话信息已丢失"


@dataclass(frozen=True, slots=True)
class EntityMessage:
    """One line of ``Errors`` or ``SuccessMessages``."""

    message: str
    field_name: str | None = None
    index: int = 0


@dataclass(frozen=True, slots=True)
class SuccessEntity:
    """One line of ``SuccessEntitys``: a document the operation touched or created."""

    id: str
    number: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class ResponseStatus:
    """A ``ResponseStatus`` (or ``ConvertResponseStatus``) object, normalised."""

    is_success: bool
    msg_code: int | None = None
    error_code: str | None = None
    errors: tuple[EntityMessage, ...] = ()
    success_entities: tuple[SuccessEntity, ...] = ()
    success_messages: tuple[EntityMessage, ...] = ()

    @property
    def session_lost(self) -> bool:
        """MsgCode 1, or (servers without MsgCode) the session-lost text."""
        if self.msg_code == 1:
            return True
        return self.msg_code is None and any(SESSION_LOST_TEXT in e.message for e in self.errors)

    def error_text(self) -> str:
        """All error messages joined, for an exception's message."""
        return (
            "; ".join(e.message for e in self.errors if e.message)
            or "Kingdee reported failure without a message"
        )


@dataclass(frozen=True, slots=True)
class ServerException:
    """A ``response_error:`` body: the server threw; its message and inner message if any."""

    message: str
    detail: Any = field(default=None)


def as_bool(value: Any) -> bool | None:
    """``true`` / ``"true"`` / ``"True"`` / 1 → True; absent → None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    return None


def as_int(value: Any) -> int | None:
    """An int from an int or numeric string; None when absent or not numeric."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def get_ci(mapping: Mapping[str, Any], key: str) -> Any:
    """``mapping[key]`` matched case-insensitively."""
    if key in mapping:
        return mapping[key]
    folded = key.casefold()
    for k, v in mapping.items():
        if isinstance(k, str) and k.casefold() == folded:
            return v
    return None


def _scalar_text(value: Any) -> str:
    """An id or a number as text; "" for anything that is not one (null, a list, an object, a bool)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value)[:200]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _messages(value: Any) -> tuple[EntityMessage, ...]:
    out = []
    for item in _list(value):
        if isinstance(item, Mapping):
            field_name = get_ci(item, "FieldName")
            out.append(
                EntityMessage(
                    message=str(get_ci(item, "Message") or ""),
                    field_name=str(field_name) if field_name not in (None, "") else None,
                    index=as_int(get_ci(item, "DIndex")) or 0,
                )
            )
        elif item not in (None, ""):
            out.append(EntityMessage(str(item)))
    return tuple(out)


def parse_status(obj: Any) -> ResponseStatus | None:
    """Normalise a ``ResponseStatus``-like object; None if ``obj`` is not one."""
    if not isinstance(obj, Mapping):
        return None
    keys = {k.casefold() for k in obj if isinstance(k, str)}
    if not keys & {"issuccess", "errors", "msgcode", "successentitys", "errorcode"}:
        return None
    errors = _messages(get_ci(obj, "Errors"))
    success = as_bool(get_ci(obj, "IsSuccess"))
    if success is None:
        # no IsSuccess at all: judge by the errors
        success = not errors
    entities = []
    for item in _list(get_ci(obj, "SuccessEntitys")):
        if isinstance(item, Mapping):
            entities.append(
                SuccessEntity(
                    id=_scalar_text(get_ci(item, "Id")),
                    number=_scalar_text(get_ci(item, "Number")),
                    index=as_int(get_ci(item, "DIndex")) or 0,
                )
            )
    error_code = get_ci(obj, "ErrorCode")
    return ResponseStatus(
        is_success=success,
        msg_code=as_int(get_ci(obj, "MsgCode")),
        error_code=None if error_code in (None, "") else str(error_code),
        errors=errors,
        success_entities=tuple(entities),
        success_messages=_messages(get_ci(obj, "SuccessMessages")),
    )


def parse_body(text: str) -> Any | ServerException:
    """JSON of a 200 body, or :class:`ServerException` for ``response_error:`` bodies."""
    stripped = text.lstrip("\ufeff").strip()
    if stripped.startswith(RESPONSE_ERROR_PREFIX):
        rest = stripped[len(RESPONSE_ERROR_PREFIX) :].strip()
        detail: Any = None
        message = rest or "empty server exception"
        try:
            detail = json.loads(rest)
        except (ValueError, RecursionError):
            detail = None
        if isinstance(detail, Mapping):
            message = str(get_ci(detail, "Message") or message)[:500]
        return ServerException(message, detail)
    if not stripped:
        return None
    # ValueError for a reply that is not JSON, or nests too deep for the code after it
    return parse_json(stripped)


def find_status(payload: Any, key: str = "ResponseStatus") -> ResponseStatus | None:
    """The ``ResponseStatus`` of a reply, wherever the server put it.

    Accepts ``{"Result":{"ResponseStatus":..}}``, ``{"ResponseStatus":..}``, and the ExecuteBillQuery error wrap
    ``[[{"Result":{"ResponseStatus":..}}]]`` (also one level of list less).
    """
    node = payload
    # unwrap [[{...}]] / [{...}] only when it is a single object, never a list of data rows
    while isinstance(node, list) and len(node) == 1 and isinstance(node[0], (list, Mapping)):
        node = node[0]
    if not isinstance(node, Mapping):
        return None
    result = get_ci(node, "Result")
    if isinstance(result, Mapping):
        found = get_ci(result, key)
        if found is not None:
            if isinstance(found, list):
                # one community tool reads ConvertResponseStatus as a list of statuses: merge them
                return merge_statuses([parse_status(x) for x in found])
            return parse_status(found)
    found = get_ci(node, key)
    if isinstance(found, list):
        return merge_statuses([parse_status(x) for x in found])
    return parse_status(found)


def merge_statuses(statuses: list[ResponseStatus | None]) -> ResponseStatus | None:
    """Several statuses as one (all must succeed)."""
    present = [s for s in statuses if s is not None]
    if not present:
        return None
    codes = [s.msg_code for s in present if s.msg_code]
    return ResponseStatus(
        is_success=all(s.is_success for s in present),
        msg_code=codes[0] if codes else present[0].msg_code,
        error_code=next((s.error_code for s in present if s.error_code), None),
        errors=tuple(e for s in present for e in s.errors),
        success_entities=tuple(e for s in present for e in s.success_entities),
        success_messages=tuple(e for s in present for e in s.success_messages),
    )


def result_of(payload: Any) -> Mapping[str, Any]:
    """The ``Result`` object of an operation reply (``{}`` if absent)."""
    if isinstance(payload, Mapping):
        result = get_ci(payload, "Result")
        if isinstance(result, Mapping):
            return result
    return {}


__all__ = [
    "RESPONSE_ERROR_PREFIX",
    "EntityMessage",
    "ResponseStatus",
    "ServerException",
    "SuccessEntity",
    "as_bool",
    "as_int",
    "find_status",
    "get_ci",
    "merge_statuses",
    "parse_body",
    "parse_status",
    "result_of",
]
