"""The console's pages. A page is one module here and one template in ``../templates``.

Each module exposes ``PAGE``, a :class:`Page` with its router; :func:`discover` finds them all, so adding
a page needs no list to edit. A page that shows in the navigation says so (``nav``) with its place
(``order``). Routes use :func:`ferry.console.web.render` for HTML and the dependencies of
:mod:`ferry.console.auth` for who may do what.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from fastapi import APIRouter


@dataclass(frozen=True)
class Page:
    """One page (or group of routes) of the console."""

    #: a short stable name, also the navigation key (``records``)
    name: str
    #: the English title (translated with ``t``)
    title: str
    router: APIRouter
    #: where the navigation link points; None keeps the page out of the navigation
    nav_path: str | None = None
    #: order in the navigation (lower first)
    order: int = 100


def discover() -> list[Page]:
    """Every page module's ``PAGE``, in navigation order."""
    found: list[Page] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        page = getattr(module, "PAGE", None)
        if isinstance(page, Page):
            found.append(page)
    return sorted(found, key=lambda p: (p.order, p.name))


__all__ = ["Page", "discover"]
