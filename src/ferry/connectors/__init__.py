"""Connectors: one sub-package per system (``http``, ``dingtalk``, ``kingdee``).

Each holds a protocol client that knows nothing of schemes and a thin adapter that maps a scheme
onto it. Connectors may use :mod:`ferry.ratelimit` and :mod:`ferry.observe`, never the engine.
Errors they raise are typed by what the engine should do about them (:mod:`ferry.connectors.errors`).

Every client speaks HTTP through :mod:`ferry.connectors.transport` (a deadline per call, a capped
answer size, same-origin redirects, one mapping of transport failures; docs/connectors/limits.md), so a
new connector gets those limits by using it rather than ``httpx`` directly.
"""
