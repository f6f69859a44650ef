"""Alembic migrations of the ledger, run in code by :func:`ferry.store.migrate.upgrade`."""
