"""Finding the schemes in a folder, and refusing two schemes with one id.

:func:`discover` walks folders (recursively) for ``.yaml``, ``.yml`` and ``.json`` files and passes
over what is not a scheme: the files Ferry keeps beside schemes (``connections.yaml``,
``alerts.yaml``, ``.ferry-secrets``), hidden files and folders, and any file whose top level is
clearly not a scheme (not a mapping, or a mapping with neither ``source`` nor ``target`` nor a key a
typo away from them). A file that cannot be read is *not* passed over: loading it reports why.
A file named directly (not found in a folder) is always taken as a scheme.

:func:`load_folder` loads what :func:`discover` finds (``ferry serve FOLDER``), and
:func:`duplicate_ids` names both files (and lines) of any id used twice, since two schemes with one
id would share one ledger and one watermark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ferry.scheme.document import read_document
from ferry.scheme.load import load_scheme
from ferry.scheme.model import Scheme
from ferry.scheme.problems import Problem, SchemeError
from ferry.scheme.suggest import closest

SCHEME_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
#: files that live beside schemes and are never schemes themselves
NOT_SCHEMES = frozenset(
    {"connections.yaml", "connections.yml", "alerts.yaml", "alerts.yml", ".ferry-secrets"}
)


@dataclass
class Discovery:
    """What :func:`discover` found: scheme files to load, and the files passed over with the reason."""

    schemes: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def discover(paths: Iterable[str | Path]) -> Discovery:
    """The scheme files among ``paths`` (files are taken as given; folders are searched)."""
    found = Discovery()
    for given in paths:
        p = Path(given)
        if not p.is_dir():
            found.schemes.append(p)
            continue
        for f in sorted(p.rglob("*")):
            rel = f.relative_to(p)
            if any(part.startswith(".") for part in rel.parts):
                continue  # hidden files and folders (.git, .ferry-secrets, editor backups)
            if not f.is_file() or f.suffix.lower() not in SCHEME_SUFFIXES:
                continue
            if f.name.lower() in NOT_SCHEMES:
                found.skipped.append((f, f"{f.name} is not a scheme file"))
                continue
            why = _not_a_scheme(f)
            if why:
                found.skipped.append((f, why))
            else:
                found.schemes.append(f)
    return found


def _not_a_scheme(path: Path) -> str | None:
    """Why ``path`` is clearly not a scheme, or None (a scheme, or unreadable: let loading say why)."""
    try:
        data = read_document(path).data
    except SchemeError:
        return None
    if not isinstance(data, dict):
        return "not a scheme (the top level is not a mapping)"
    sides = ("source", "target")
    if any(k in sides or closest(k, sides) for k in data):
        return None
    return "not a scheme (no source or target)"


def load_folder(path: str | Path, *, warnings: list[Problem] | None = None) -> list[Scheme]:
    """Every scheme in ``path`` (see :func:`discover`), or one :class:`SchemeError` with every problem
    of every file, duplicate ids included. Warnings are appended to ``warnings`` when given."""
    schemes: list[Scheme] = []
    problems: list[Problem] = []
    for f in discover([path]).schemes:
        try:
            schemes.append(load_scheme(f, warnings=warnings))
        except SchemeError as e:
            problems.extend(e.problems)
    problems.extend(duplicate_ids(schemes))
    if problems:
        raise SchemeError(problems)
    return schemes


def duplicate_ids(schemes: Sequence[Scheme]) -> list[Problem]:
    """A problem for each scheme whose id an earlier one already has, naming both places."""
    first: dict[str, Scheme] = {}
    problems: list[Problem] = []
    for scheme in schemes:
        earlier = first.setdefault(scheme.id, scheme)
        if earlier is scheme:
            continue
        here, there = _id_place(scheme), _id_place(earlier)
        problems.append(
            Problem(
                here.file,
                "id",
                here.line,
                here.column,
                f"scheme id {scheme.id!r}{here.message} is also the id of {there.where}{there.message}; "
                "two schemes with one id would share one ledger: give each its own",
            )
        )
    return problems


def _id_place(scheme: Scheme) -> Problem:
    doc = scheme.document
    if doc is None:
        return Problem(f"scheme {scheme.id!r} (built in code)", "id", 0, 0, "")
    written = isinstance(doc.data, dict) and "id" in doc.data
    line, col = doc.place(["id"])
    return Problem(doc.file, "id", line, col, "" if written else " (from its file name)")


__all__ = ["NOT_SCHEMES", "SCHEME_SUFFIXES", "Discovery", "discover", "duplicate_ids", "load_folder"]
