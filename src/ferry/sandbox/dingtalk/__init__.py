"""A faithful DingTalk sandbox: both API hosts, seeded approvals, quotas, faults, events and robot.

Imports nothing of Ferry's beyond :mod:`ferry.sandbox` itself: it must not share code with the client
it tests. Run it with ``ferry sandbox dingtalk`` or, in tests, ``ServerThread(create_app(config))``.
See ``README.md`` in this package for the admin API and defaults.
"""

from ferry.sandbox.dingtalk.app import create_app
from ferry.sandbox.dingtalk.config import SandboxConfig, parse_faults, parse_latency
from ferry.sandbox.dingtalk.state import Sandbox

__all__ = ["Sandbox", "SandboxConfig", "create_app", "parse_faults", "parse_latency"]
