"""The ledger: records, watermarks, runs, API calls and events (SQLAlchemy Core; SQLite or PostgreSQL).

Imports nothing of ours.
"""
