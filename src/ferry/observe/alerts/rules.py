"""What to watch and where to say it: the ``alerts.yaml`` model, its defaults, and loading it.

``alerts.yaml`` sits next to the schemes. It is read by the scheme reader (:func:`ferry.scheme.load.load_model`),
so every unknown key is an error with ``file:line:col`` and a suggestion, as in a scheme. With no file at all
the built-in rules of :data:`BUILTIN_RULES` apply and nothing is sent (no channel is declared): the console
and ``ferry alerts ls`` still show the alerts.

A rule in the file whose ``name`` is a built-in rule changes that rule's settings (``enabled: false`` turns it
off); another name needs a ``kind`` (one of :data:`KINDS`) and is an extra rule of that kind.

Secrets (robot secrets, webhook keys, SMTP passwords) are given only as ``${VAR}`` references; a literal
value there is refused. The caller passes the lookup (the environment, then the secrets file; see
:func:`ferry.cli.alerts_cmd.secret_lookup`), so this module reads no files of secrets itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ferry.errors import ConfigError
from ferry.observe.redact import register_secret
from ferry.scheme.base import FerryBlock
from ferry.scheme.load import load_model

ALERTS_FILE = "alerts.yaml"
Severity = Literal["info", "warning", "critical"]
ChannelType = Literal["dingtalk", "wecom", "webhook", "email"]

#: what a rule can watch (each is one function in :mod:`.evaluator`)
KINDS = (
    "record_dead",
    "failure_rate",
    "scheme_late",
    "source_quiet",
    "in_doubt_old",
    "auth_failing",
    "quota",
    "run_stalled",
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def seconds(value: Any) -> Any:
    """``"30s"``, ``"5m"``, ``"4h"``, ``"1d"`` or a number of seconds -> seconds (others left for pydantic)."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"a duration looks like 30s, 5m, 4h, 1d or a number of seconds, got {value!r}")
        return float(m.group(1)) * _UNIT_S[m.group(2)]
    return value


class Timing(FerryBlock):
    """Alertmanager's three clocks and who is told (per rule, or for all rules under ``defaults``)."""

    group_by: list[str] | None = None
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    send_resolved: bool | None = None
    #: channel names; none given: every channel
    channels: list[str] | None = None

    _durations = field_validator("group_wait", "group_interval", "repeat_interval", mode="before")(
        classmethod(lambda cls, v: seconds(v))
    )


class Defaults(Timing):
    #: where links in messages point (the console's address as people reach it)
    console_url: str = "http://127.0.0.1:8000"


class RuleSpec(Timing):
    """One rule. Thresholds not meaningful for a kind are ignored by it (see docs/alerts.md)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    kind: str | None = None
    enabled: bool = True
    severity: Severity | None = None
    #: only these schemes / connections (none: all)
    schemes: list[str] | None = None
    connections: list[str] | None = None
    #: a window to look back over
    window: float | None = None
    #: failure_rate: the share of failing records; quota: the share of the allowance
    threshold: float | None = Field(default=None, gt=0)
    #: failure_rate: fewest failing records before the rate counts; auth_failing: fewest failed logins
    min_count: int | None = Field(default=None, ge=1)
    #: scheme_late: passes missed; source_quiet: times the usual gap between new records
    factor: float | None = Field(default=None, gt=0)
    #: in_doubt_old, run_stalled, source_quiet: how old is too old
    older_than: float | None = None
    #: static labels added to every alert of the rule
    labels: dict[str, str] = Field(default_factory=dict)

    _more = field_validator("window", "older_than", mode="before")(classmethod(lambda cls, v: seconds(v)))

    @model_validator(mode="after")
    def _kind_known(self) -> RuleSpec:
        builtin = BUILTIN_RULES.get(self.name)
        kind = self.kind or (builtin.get("kind", self.name) if builtin is not None else None)
        if kind is None:
            raise ValueError(
                f"rule {self.name!r} is not a built-in rule: give its kind, one of {', '.join(KINDS)}"
            )
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not known; one of {', '.join(KINDS)}")
        self.kind = kind
        return self


class InhibitSpec(FerryBlock):
    """While a ``source`` rule fires, alerts of the ``target`` rules with the same ``equal`` labels are muted."""

    source: str
    targets: list[str]
    equal: list[str] = Field(default_factory=lambda: ["scheme"])


_FIELDS_OF: dict[str, set[str]] = {
    "dingtalk": {"url", "secret", "keyword", "msgtype", "per_minute", "at_mobiles"},
    "wecom": {"url", "per_minute"},
    "webhook": {"url", "secret", "header"},
    "email": {"host", "port", "starttls", "username", "password", "sender", "to", "timeout"},
}
_SECRET_FIELDS = ("secret", "password", "url")


class ChannelSpec(FerryBlock):
    """One place messages go. The robot URLs carry their access token or key: give them as ``${VAR}`` too."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    type: ChannelType
    url: str | None = None
    secret: str | None = None
    keyword: str | None = None
    msgtype: Literal["markdown", "actionCard"] = "markdown"
    #: the robot's own limit (DingTalk and WeCom: 20 a minute); messages beyond it go out as a digest
    per_minute: int = Field(default=20, ge=1, le=1000)
    at_mobiles: list[str] = Field(default_factory=list)
    header: str = "X-Ferry-Signature"
    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    sender: str | None = None
    to: list[str] = Field(default_factory=list)
    timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _fields_of_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("type"), str) and data["type"] in _FIELDS_OF:
            allowed = _FIELDS_OF[data["type"]] | {"name", "type"}
            extra = [k for k in data if k not in allowed and k in cls.model_fields]
            if extra:
                raise ValueError(
                    f"a {data['type']} channel takes no {', '.join(map(repr, extra))}; "
                    f"it takes {', '.join(sorted(allowed - {'name', 'type'}))}"
                )
        return data

    @model_validator(mode="after")
    def _required(self) -> ChannelSpec:
        need = {"dingtalk": ["url"], "wecom": ["url"], "webhook": ["url"], "email": ["host", "sender", "to"]}
        missing = [f for f in need[self.type] if not getattr(self, f)]
        if missing:
            raise ValueError(f"a {self.type} channel needs {', '.join(missing)}")
        for f in _SECRET_FIELDS:
            value = getattr(self, f)
            # a robot URL holds its token: it is a secret too, except on loopback (the sandbox)
            if value and not _REF.match(value) and not (f == "url" and _loopback(value)):
                raise ValueError(
                    f"{f} holds a literal secret; put it in the environment or the secrets file and write "
                    f'{f}: "${{SOME_VARIABLE}}"'
                )
        return self


def _loopback(url: str) -> bool:
    return re.match(r"^https?://(127\.0\.0\.1|localhost|\[::1\])[:/]", url) is not None


class AlertsFile(FerryBlock):
    defaults: Defaults = Field(default_factory=Defaults)
    channels: list[ChannelSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    inhibit: list[InhibitSpec] | None = None
    #: metered calls a month each connection may make (DingTalk's free allowance: 5,000)
    quota: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> AlertsFile:
        names = [c.name for c in self.channels]
        doubled = {n for n in names if names.count(n) > 1}
        if doubled:
            raise ValueError(f"channel names must differ: {', '.join(sorted(doubled))}")
        for r in self.rules:
            unknown = [c for c in r.channels or [] if c not in names]
            if unknown:
                raise ValueError(f"rule {r.name!r} names no such channel {', '.join(unknown)}")
        return self


#: the built-in rules and their settings; alerts.yaml changes them by name
BUILTIN_RULES: dict[str, dict[str, Any]] = {
    "record_dead": {"severity": "warning", "window": 7 * 86400.0},
    "failure_rate": {"severity": "critical", "window": 900.0, "threshold": 0.5, "min_count": 5},
    "scheme_late": {"severity": "warning", "factor": 3.0},
    "source_quiet": {"severity": "info", "factor": 5.0, "older_than": 3600.0, "window": 7 * 86400.0},
    "in_doubt_old": {"severity": "warning", "older_than": 1800.0},
    "auth_failing": {"severity": "critical", "window": 600.0, "min_count": 3},
    "quota_80": {"kind": "quota", "severity": "warning", "threshold": 0.8},
    "quota_95": {"kind": "quota", "severity": "critical", "threshold": 0.95},
    "run_stalled": {"severity": "warning", "older_than": 7200.0},
}
#: a failing login mutes the per-record failures it causes; a quota at 95% mutes its 80% warning
BUILTIN_INHIBIT = [
    InhibitSpec(
        source="auth_failing", targets=["record_dead", "failure_rate", "in_doubt_old"], equal=["scheme"]
    ),
    InhibitSpec(source="quota_95", targets=["quota_80"], equal=["connection"]),
]
DEFAULT_TIMING: dict[str, Any] = {
    "group_by": ["rule", "scheme"],
    "group_wait": 30.0,
    "group_interval": 300.0,
    "repeat_interval": 4 * 3600.0,
    "send_resolved": True,
}
DEFAULT_ALLOWANCE = 5000


class Rule(FerryBlock):
    """A rule with every setting decided (built-in, then alerts.yaml defaults, then the rule's own)."""

    name: str
    kind: str
    severity: Severity
    schemes: list[str] | None
    connections: list[str] | None
    window: float | None
    threshold: float | None
    min_count: int | None
    factor: float | None
    older_than: float | None
    labels: dict[str, str]
    group_by: list[str]
    group_wait: float
    group_interval: float
    repeat_interval: float
    send_resolved: bool
    channels: list[str] | None


class Rules:
    """The decided rules, inhibitions, quota allowances and channels of one alerts.yaml (or none)."""

    def __init__(self, spec: AlertsFile | None = None, *, lookup: Callable[[str], str | None] | None = None):
        spec = spec or AlertsFile()
        self.spec = spec
        self.console_url = spec.defaults.console_url.rstrip("/")
        given = {r.name: r for r in spec.rules}
        self.rules: list[Rule] = []
        for name in [*BUILTIN_RULES, *(n for n in given if n not in BUILTIN_RULES)]:
            merged: dict[str, Any] = {
                "labels": {},
                **DEFAULT_TIMING,
                "name": name,
                "kind": name,
                **BUILTIN_RULES.get(name, {}),
            }
            for layer in (spec.defaults, given.get(name)):
                if layer is not None:
                    merged.update(layer.model_dump(exclude_unset=True, exclude={"console_url"}))
            if not merged.pop("enabled", True):
                continue
            for key in Rule.model_fields:
                merged.setdefault(key, None)
            merged["severity"] = merged["severity"] or "warning"
            self.rules.append(Rule.model_validate(merged))
        self.inhibit = spec.inhibit if spec.inhibit is not None else list(BUILTIN_INHIBIT)
        self.quota = dict(spec.quota)
        self.channels = [resolve_channel(c, lookup or os.environ.get) for c in spec.channels]

    def rule(self, name: str) -> Rule:
        return next(r for r in self.rules if r.name == name)

    def use_allowances(self, allowances: Mapping[str, int]) -> None:
        """Take each connection's monthly allowance from its settings (DingTalk's ``monthly_quota``);
        a ``quota:`` entry in alerts.yaml still wins."""
        for connection, allowance in allowances.items():
            self.quota.setdefault(connection, int(allowance))

    def allowance(self, connection: str) -> int:
        return self.quota.get(connection, DEFAULT_ALLOWANCE)


class AlertsConfigError(ConfigError):
    """alerts.yaml names a secret that is not set (the message names the variable, never a value)."""


def resolve_channel(spec: ChannelSpec, lookup: Callable[[str], str | None]) -> ChannelSpec:
    """The channel with its ``${VAR}`` references filled in; each value is registered with the redactor."""
    values: dict[str, Any] = {}
    for f in _SECRET_FIELDS:
        text = getattr(spec, f)
        m = _REF.match(text) if text else None
        if m:
            value = lookup(m.group(1))
            if not value:
                raise AlertsConfigError(
                    f"channel {spec.name!r}: {f} refers to ${{{m.group(1)}}}, which is not set in the "
                    "environment or the secrets file"
                )
            register_secret(value)
            values[f] = value
    return spec.model_copy(update=values)


def load_rules(
    folder_or_file: str | Path | None, *, lookup: Callable[[str], str | None] | None = None
) -> Rules:
    """The rules of ``alerts.yaml`` in a schemes folder (or that file), or the defaults when there is none.

    Raises :class:`ferry.scheme.load.SchemeError` (file:line:col for each problem) for a bad file, and
    :class:`AlertsConfigError` for a secret that is not set."""
    if folder_or_file is None:
        return Rules(lookup=lookup)
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / ALERTS_FILE
        if not path.exists():
            return Rules(lookup=lookup)
    return Rules(load_model(path, AlertsFile), lookup=lookup)


__all__ = [
    "ALERTS_FILE",
    "BUILTIN_RULES",
    "KINDS",
    "AlertsConfigError",
    "AlertsFile",
    "ChannelSpec",
    "Rule",
    "RuleSpec",
    "Rules",
    "load_rules",
    "seconds",
]
