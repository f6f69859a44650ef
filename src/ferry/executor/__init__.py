"""How units of work run (see ARCHITECTURE.md, "Scale-out").

- :mod:`.base`: the :class:`Executor` interface and the in-process executor (SQLite, ``ferry run``).
- :mod:`.queue`: procrastinate tasks on the ledger's PostgreSQL, periodic schedules, the in-transaction
  enqueue of dispatch, stalled-job recovery; :func:`defer_schedules` for ``ferry serve --workers external``.
- :mod:`.worker`: the ``ferry worker`` process loop.

May use: ``engine``, ``store`` (and ``scheme``). The engine never imports this package. The queue
module imports procrastinate and psycopg, so it is imported only where PostgreSQL is in use.
"""

from ferry.executor.base import Executor, InProcessExecutor

__all__ = ["Executor", "InProcessExecutor"]
