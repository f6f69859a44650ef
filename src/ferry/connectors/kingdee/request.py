"""Reading one record's rendered request for the Kingdee target: a Push of one source bill, or a Save.

Requests come from templates (Qingyi schemes write booleans as ``"true"``), so keys are read
case-insensitively and booleans from strings. A request that cannot be sent as asked raises
:class:`~ferry.connectors.errors.GiveUp` naming the key: retrying the same request cannot help.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ferry.connectors.errors import GiveUp
from ferry.connectors.kingdee.envelope import as_bool, as_int, get_ci

log = logging.getLogger("ferry.kingdee")

#: Save options that are booleans: a template may render them as "true"/"false"
_SAVE_BOOL_OPTIONS = frozenset(
    k.casefold()
    for k in (
        "IsAutoSubmitAndAudit",
        "IsVerifyBaseDataField",
        "IsDeleteEntry",
        "IsEntryBatchFill",
        "ValidateFlag",
        "NumberSearch",
        "IsAutoAdjustField",
        "IgnoreInterationFlag",
        "IsControlPrecision",
        "ValidateRepeatJson",
    )
)

#: Push request keys the adapter reads (anything else is ignored, with a debug log)
_PUSH_KEYS = frozenset(
    k.casefold()
    for k in (
        "FormId",
        "Numbers",
        "Ids",
        "TargetFormId",
        "IsEnableDefaultRule",
        "IsDraftWhenSaveFail",
        "RuleId",
        "CustomParams",
        "TargetBillTypeId",
        "TargetOrgId",
        "EntryIds",
    )
)


@dataclass(frozen=True, slots=True)
class PushRequest:
    """One item's Push parameters, read leniently from the rendered request."""

    form_id: str
    source: str
    by_ids: bool
    target_form_id: str
    rule_id: str | None
    default_rule: bool
    draft_on_fail: bool
    custom_params: Mapping[str, Any]
    target_bill_type_id: str | None
    target_org_id: int

    def group_key(self) -> tuple[Any, ...]:
        """Items with equal keys can share one Push call."""
        return (
            self.form_id.casefold(),
            self.by_ids,
            self.target_form_id.casefold(),
            self.rule_id,
            self.default_rule,
            self.draft_on_fail,
            json.dumps(self.custom_params, sort_keys=True, ensure_ascii=False, default=str),
            self.target_bill_type_id,
            self.target_org_id,
        )


@dataclass(frozen=True, slots=True)
class SaveRequest:
    """One item's Save parameters: the form, the model (key order kept) and the other Save options."""

    form_id: str
    model: Mapping[str, Any]
    options: Mapping[str, Any]

    def group_key(self) -> tuple[str, str]:
        return (
            self.form_id.casefold(),
            json.dumps(self.options, sort_keys=True, ensure_ascii=False, default=str),
        )


def text(value: Any) -> str:
    """A request value as stripped text ("" for None)."""
    return "" if value is None else str(value).strip()


def _flag(request: Mapping[str, Any], key: str, default: bool) -> bool:
    raw = get_ci(request, key)
    if raw is None or raw == "":
        return default
    value = as_bool(raw)
    if value is None:
        raise GiveUp(f"{key} must be true or false, got {raw!r}", code="bad_request", api="Push")
    return value


def _single(value: Any, what: str) -> str:
    """The one source reference of an item: a string, or a list holding exactly one non-empty value."""
    values = value if isinstance(value, (list, tuple)) else [value]
    texts = [t for t in (text(v) for v in values if not isinstance(v, (Mapping, list))) if t]
    if len(texts) > 1:
        raise GiveUp(
            f"one record must push one source bill; the request has {len(texts)} {what}: {', '.join(texts)}",
            code="bad_request",
            api="Push",
        )
    return texts[0] if texts else ""


def push_request(request: Mapping[str, Any]) -> PushRequest:
    """Read one item's Push request (keys case-insensitive, booleans from strings); GiveUp if unusable."""
    unknown = [k for k in request if str(k).casefold() not in _PUSH_KEYS]
    if unknown:
        log.debug("Kingdee Push: ignoring request keys %s", unknown)
    form_id = text(get_ci(request, "FormId"))
    if not form_id:
        raise GiveUp(
            "the Push request has no FormId (the source form, e.g. CN_PAYAPPLY)",
            code="bad_request",
            api="Push",
        )
    if text(get_ci(request, "EntryIds")):
        raise GiveUp(
            "EntryIds is not supported by the Push target: push whole bills", code="bad_request", api="Push"
        )
    number = _single(get_ci(request, "Numbers"), "numbers")
    by_ids = False
    source = number
    if not number:
        ids = get_ci(request, "Ids")
        if isinstance(ids, str):
            ids = ids.split(",")
        source = _single(ids, "ids")
        by_ids = bool(source)
    if not source:
        raise GiveUp("no source bill number in the request (Numbers is empty)", code="no_number", api="Push")
    rule_id = text(get_ci(request, "RuleId")) or None
    target_form_id = text(get_ci(request, "TargetFormId"))
    if not target_form_id and not rule_id:
        raise GiveUp("the Push request needs a TargetFormId or a RuleId", code="bad_request", api="Push")
    custom = get_ci(request, "CustomParams")
    if custom in (None, ""):
        custom = {}
    if not isinstance(custom, Mapping):
        raise GiveUp("CustomParams must be an object", code="bad_request", api="Push")
    org = get_ci(request, "TargetOrgId")
    org_id = as_int(org) if org not in (None, "") else 0
    if org_id is None:
        raise GiveUp(f"TargetOrgId must be a number, got {org!r}", code="bad_request", api="Push")
    return PushRequest(
        form_id=form_id,
        source=source,
        by_ids=by_ids,
        target_form_id=target_form_id,
        rule_id=rule_id,
        # Kingdee's own defaults: the default rule when no RuleId is named; no draft unless asked for
        default_rule=_flag(request, "IsEnableDefaultRule", rule_id is None),
        draft_on_fail=_flag(request, "IsDraftWhenSaveFail", False),
        custom_params=dict(custom),
        target_bill_type_id=text(get_ci(request, "TargetBillTypeId")) or None,
        target_org_id=org_id,
    )


def save_request(request: Mapping[str, Any], default_form: str | None) -> SaveRequest:
    """Read one item's Save request: ``{"FormId", "Model", options...}`` or the bare model."""
    model = get_ci(request, "Model")
    if isinstance(model, Mapping):
        form = text(get_ci(request, "FormId")) or (default_form or "")
        options: dict[str, Any] = {}
        for key, value in request.items():
            folded = str(key).casefold()
            if folded in ("model", "formid"):
                continue
            if folded in _SAVE_BOOL_OPTIONS and isinstance(value, str):
                flag = as_bool(value)
                if flag is None:
                    raise GiveUp(
                        f"{key} must be true or false, got {value!r}", code="bad_request", api="Save"
                    )
                value = flag
            options[key] = value
        body: Mapping[str, Any] = model
    else:
        # the request is the model itself, sent as written (key order matters to Kingdee)
        form, body, options = default_form or "", request, {}
    if not form:
        raise GiveUp(
            "no FormId: put it in the request (with a Model) or in target.params.form_id",
            code="bad_request",
            api="Save",
        )
    return SaveRequest(form, body, options)


__all__ = ["PushRequest", "SaveRequest", "push_request", "save_request", "text"]
