"""The two kinds of scheme block, and what the loader needs to know about each.

- :class:`QingyiBlock`: a block Qingyi also writes (sides, field items, pagination, ...). Both
  spellings are accepted; unknown keys are kept in ``model_extra`` so Qingyi metadata round-trips.
- :class:`FerryBlock`: a block only Ferry has (schedules, retries, quality rules, ...), where an
  unknown key can only be a typo: pydantic forbids it even outside the loader.

How strictly unknown keys are treated when a *file* is loaded (native: every unknown key is an error;
Qingyi: known editor keys kept, near misses errors, the rest warnings) is the loader's business
(:mod:`ferry.scheme.keys`); ``block`` names the entry of :mod:`ferry.scheme.qingyi` a model uses.
Neither accepts a non-finite number where a number is expected.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class QingyiBlock(BaseModel):
    """Base of blocks Qingyi writes too: both spellings, unknown keys kept (Qingyi editor state)."""

    model_config = ConfigDict(
        populate_by_name=True, extra="allow", validate_default=True, allow_inf_nan=False
    )
    #: which list of Qingyi editor keys applies (see :mod:`ferry.scheme.qingyi`)
    block: ClassVar[str] = ""
    #: False: an unknown key is an error in both forms
    qingyi_tolerant: ClassVar[bool] = True


class FerryBlock(BaseModel):
    """Base of Ferry-only blocks, where an unknown key is a typo, not editor state."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", allow_inf_nan=False)
    block: ClassVar[str] = ""
    qingyi_tolerant: ClassVar[bool] = False


__all__ = ["FerryBlock", "QingyiBlock"]
