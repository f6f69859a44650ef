"""Suggestions ("did you mean ..."): the known word closest to a misspelt one, and the keys a model takes.

Used by the scheme loader for unknown keys and by the connector checks (:mod:`ferry.connectors.spec`
re-exports these), so there is one notion of "close enough" everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel


def edit_limit(word: str) -> int:
    """How many edits ``word`` may be off and still be a typo: one per four characters, 1 to 3."""
    return max(1, min(3, len(word) // 4))


def closest(word: str, candidates: Iterable[str], *, max_edits: int | None = None) -> str | None:
    """The candidate nearest to ``word`` (case-insensitive), if it is a few edits away.

    Edits are counted as optimal string alignment (insert, delete, substitute, swap two neighbours),
    so ``qualty``, ``inital_days``, ``batchsize`` and ``qsp`` all find their key. A word may be one
    edit off per four characters (at least one, at most three) unless ``max_edits`` says otherwise.
    A candidate equal to ``word`` is not a suggestion.
    """
    from rapidfuzz.distance import OSA

    folded = word.casefold()
    limit = max_edits if max_edits is not None else edit_limit(folded)
    best: tuple[int, str] | None = None
    for candidate in candidates:
        if candidate == word:
            continue
        d = OSA.distance(folded, candidate.casefold(), score_cutoff=limit)
        if d <= limit and (best is None or d < best[0]):
            best = (d, candidate)
    return best[1] if best is not None else None


def suggest(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'quality'?)"`` for the closest candidate, or ``""``."""
    close = closest(word, candidates)
    return f" (did you mean {close!r}?)" if close else ""


def model_keys(model: type[BaseModel]) -> list[str]:
    """Every key a model accepts: field names and their aliases, in declaration order."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        keys.append(name)
        alias = info.validation_alias
        if isinstance(alias, str):
            keys.append(alias)
        elif alias is not None and hasattr(alias, "choices"):
            keys.extend(c for c in alias.choices if isinstance(c, str))
        if info.alias:
            keys.append(info.alias)
    return list(dict.fromkeys(keys))


def spellings(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Each field's accepted spellings: ``{"id_check": ("id_check", "idCheck")}``."""
    out: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        names = [name]
        alias = info.validation_alias
        if isinstance(alias, str):
            names.append(alias)
        elif alias is not None and hasattr(alias, "choices"):
            names.extend(c for c in alias.choices if isinstance(c, str))
        if info.alias:
            names.append(info.alias)
        out[name] = tuple(dict.fromkeys(names))
    return out


__all__ = ["closest", "edit_limit", "model_keys", "spellings", "suggest"]
