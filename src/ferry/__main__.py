"""``python -m ferry``: the same as the ``ferry`` console script (handy with a worktree on PYTHONPATH)."""

from ferry.cli.main import main

main()
