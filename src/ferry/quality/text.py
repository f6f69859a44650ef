"""Text the checks compare: invoice/reference numbers, summaries, amounts in Chinese upper-case words."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from rapidfuzz import fuzz

_STRIP = re.compile(r"[\s\-_/\.·—－]+")
_SPACE = re.compile(r"\s+")


def normalise_reference(value: Any) -> str | None:
    """An invoice or reference number as the checks compare it: spaces and dashes gone, upper case,
    the letter O read as zero, a trailing letter suffix dropped (INV-1234A is a resubmit of INV-1234).
    None when nothing is left."""
    if value is None:
        return None
    text = _STRIP.sub("", str(value)).upper().replace("O", "0")
    if len(text) > 1 and text[-1].isalpha() and text[-2].isdigit():
        text = text[:-1]
    return text or None


def transpositions(key: str) -> list[str]:
    """``key`` with each pair of adjacent characters swapped (one transposition), distinct, not ``key``."""
    out: list[str] = []
    for i in range(len(key) - 1):
        if key[i] != key[i + 1]:
            variant = key[:i] + key[i + 1] + key[i] + key[i + 2 :]
            if variant not in out:
                out.append(variant)
    return out


def similarity(a: str | None, b: str | None) -> float:
    """0..1 similarity of two summaries: rapidfuzz's normalised Indel ratio over the characters (Chinese
    has no spaces between words), ignoring case and white space; two empty summaries are alike."""
    a, b = _SPACE.sub("", (a or "").lower()), _SPACE.sub("", (b or "").lower())
    if not a and not b:
        return 1.0
    return fuzz.ratio(a, b) / 100.0


_DIGIT = {"零": 0, "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9}
_DIGIT.update(
    {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "〇": 0}
)
_SMALL = {"拾": 10, "十": 10, "佰": 100, "百": 100, "仟": 1000, "千": 1000}
_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}


class WordsError(ValueError):
    """The text is not an amount in Chinese upper-case words."""


def words_amount(text: str) -> Decimal:
    """An amount written in Chinese upper-case words (大写, ``壹万贰仟叁佰元整``) as a Decimal.

    Raises :class:`WordsError` for text that is not one."""
    s = text.strip().replace("圆", "元").replace("正", "整").removeprefix("人民币").removesuffix("整")
    negative = s.startswith("负")
    s = s.removeprefix("负")
    if not s:
        raise WordsError("empty")
    yuan_text, _, rest = s.partition("元")
    if not _ and any(c in s for c in "角分"):
        yuan_text, rest = "", s
    yuan = _integer(yuan_text) if yuan_text else 0
    cents = 0
    for mark, scale in (("角", 10), ("分", 1)):
        if mark in rest:
            before, _, rest = rest.partition(mark)
            before = before.lstrip("零")
            if len(before) != 1 or before not in _DIGIT:
                raise WordsError(f"cannot read {before + mark!r}")
            cents += _DIGIT[before] * scale
    if rest.strip("零"):
        raise WordsError(f"cannot read {rest!r}")
    value = Decimal(yuan) + Decimal(cents) / 100
    return -value if negative else value


def _integer(text: str) -> int:
    total = section = digit = 0
    for ch in text:
        if ch in _DIGIT:
            digit = _DIGIT[ch]
        elif ch in _SMALL:
            section += (digit or 1) * _SMALL[ch]
            digit = 0
        elif ch in _BIG:
            section += digit
            big = _BIG[ch]
            # 亿 after 万 (壹万亿) multiplies what came before it too
            total = (total + section) * big if big > 10_000 or total == 0 else total + section * big
            section = digit = 0
        else:
            raise WordsError(f"{ch!r} is not a Chinese numeral")
    return total + section + digit


def decimal(value: Any) -> Decimal | None:
    """A number as a Decimal (text with thousands separators accepted), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


__all__ = ["WordsError", "decimal", "normalise_reference", "similarity", "transpositions", "words_amount"]
