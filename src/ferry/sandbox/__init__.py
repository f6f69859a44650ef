"""Faithful simulators of DingTalk and Kingdee as ASGI apps, with seeded data, quotas and faults.

The sandboxes import nothing else of Ferry's: they must not share code with the clients they test.
"""
