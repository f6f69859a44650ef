"""Ferry: an open integration engine driven by declarative schemes.

The public surface is small on purpose: schemes are loaded with :func:`ferry.scheme.load_scheme`,
expressions are rendered with :mod:`ferry.expr`, and everything else is reached through the
``ferry`` command line. See ``ARCHITECTURE`` notes in each package's docstring for what it owns.
"""

__version__ = "0.1.0"
