"""The one root of every error Ferry raises on purpose, and the few families a caller acts on.

This module is the shared kernel: it imports nothing (not even of ours), so every part may use it,
the ones that otherwise may use nothing of ours (``expr``, ``store``) included. The sandboxes do not:
they must share no code with the clients they test.

Every error carries a message a person can act on: what is wrong, where (``where``: ``file:line:col``
when there is a file) and, when it helps, what to do (``hint``). The command line prints
:meth:`FerryError.lines` (one or two lines) and exits with :attr:`FerryError.exit_code`; a traceback
appears only with ``--debug``.

Families (catch the family, not the leaf):

- :class:`ConfigError`: the user's input is wrong (a scheme, the connections file, an option, a
  database URL). Nothing was sent; fixing the input fixes it.
- :class:`StoreError`: the ledger cannot be reached or used.
- :class:`PreflightError`: a check before a pass failed (a connection does not authenticate, a form
  does not exist); the pass stopped before its first metered call.
- ``ferry.connectors.errors.ConnectorError``: a remote system failed, typed by remedy (retry, slow
  down, reconcile, give up).
- ``ferry.expr.ExprError``: an expression could not be compiled or evaluated.
- :class:`Interrupted`: the user stopped a command (Ctrl-C, SIGTERM); exit status 130.
"""

from __future__ import annotations


class FerryError(Exception):
    """Base of every error Ferry raises on purpose. ``str(e)`` is the message without the place."""

    #: the command line's exit status for this error
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:
        return self.message

    def lines(self) -> list[str]:
        """What the command line prints: ``where: message`` and, if any, the hint."""
        head = f"{self.where}: {self.message}" if self.where else self.message
        return [head, self.hint] if self.hint else [head]


class ConfigError(FerryError, ValueError):
    """The user's input is wrong: a scheme, the connections file, an option, a database URL.

    Also a ``ValueError``: it is a bad value given by the user, and callers that guard a parse with
    ``except ValueError`` keep working."""


class UsageError(ConfigError):
    """A command was called wrongly (options that exclude each other, an unknown status)."""

    exit_code = 2


class StoreError(FerryError):
    """The ledger cannot be opened, reached or migrated."""


class PreflightError(FerryError):
    """A check made before a pass failed; nothing was sent and no metered call was made."""


class Interrupted(FerryError):
    """The user stopped the command (Ctrl-C or SIGTERM)."""

    exit_code = 130


__all__ = ["ConfigError", "FerryError", "Interrupted", "PreflightError", "StoreError", "UsageError"]
