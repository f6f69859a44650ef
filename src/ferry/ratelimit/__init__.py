"""Rate limits: token buckets per (connection, api) and adaptive concurrency limits.

Both slow down on throttling answers and recover gradually. In-process by default. Imports nothing
of ours.
"""
