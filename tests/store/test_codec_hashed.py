"""encode_hashed: the text encode_checked gives, and that text's digest, for every kind of value."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest

from ferry.store.codec import digest, encode_checked, encode_hashed

VALUES: list[Any] = [
    {"no": "FKSQ1", "amount": "12.50", "rows": [{"sku": "M1", "qty": 1}]},
    {"供应商": "深圳某某科技有限公司", "金额": Decimal("1234.56"), "at": dt.datetime(2026, 12, 1, 8, 0)},
    {"amount": math.nan, "note": "NaN is not JSON"},
    {"note": "a NUL \x00 inside"},
    {"big": 2**70},
    {"bad": "lone \ud800 surrogate"},
    {"null": None, "text": "null"},
]


@pytest.mark.parametrize("value", VALUES)
def test_the_text_and_problems_are_encode_checked_s_and_the_hash_is_the_text_s(value: Any) -> None:
    text, content_hash, problems = encode_hashed(value, "content")
    assert (text, problems) == encode_checked(value, "content")
    assert content_hash == digest(text)
