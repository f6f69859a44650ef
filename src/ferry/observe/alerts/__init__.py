"""Alerts: rules over the ledger, an Alertmanager-like life cycle kept in the ledger, and channels.

- :mod:`.rules`: ``alerts.yaml`` (validated like a scheme) and the built-in rules that apply without it;
- :mod:`.evaluator`: what holds now, one ledger read per rule kind;
- :mod:`.lifecycle`: fingerprints, firing/resolved, grouping, inhibition and silences, in the ledger;
- :mod:`.outbox`: notifications claimed before sending, the per-channel minute budget and digests;
- :mod:`.channels` and :mod:`.render`: DingTalk and WeCom robots, a signed webhook, e-mail;
- :mod:`.service`: :class:`AlertService`, the loop ``ferry serve`` runs.

May use :mod:`ferry.store` and the scheme reader (:mod:`ferry.scheme.load`).
"""

from __future__ import annotations

from ferry.observe.alerts.channels import Channel, DeliveryFailed, build_channel, dingtalk_sign
from ferry.observe.alerts.evaluator import Firing, evaluate
from ferry.observe.alerts.lifecycle import AlertBook
from ferry.observe.alerts.outbox import Outbox
from ferry.observe.alerts.rules import ALERTS_FILE, AlertsConfigError, Rules, load_rules
from ferry.observe.alerts.service import AlertService, TickResult, scheme_intervals

__all__ = [
    "ALERTS_FILE",
    "AlertBook",
    "AlertService",
    "AlertsConfigError",
    "Channel",
    "DeliveryFailed",
    "Firing",
    "Outbox",
    "Rules",
    "TickResult",
    "build_channel",
    "dingtalk_sign",
    "evaluate",
    "load_rules",
    "scheme_intervals",
]
