"""Numbers and figures the checks compare: references, summaries, 大写 amounts, modified z, Benford, volume."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from ferry.quality import (
    benford,
    modified_z,
    normalise_reference,
    transpositions,
    volume_anomaly,
    words_amount,
)
from ferry.quality.text import WordsError, similarity
from ferry.sandbox.dingtalk.payment import money_upper


def test_reference_normalisation() -> None:
    assert normalise_reference(" inv-2026 O417a ") == "INV20260417"
    assert normalise_reference("FP/2026.001") == "FP2026001"
    assert normalise_reference("--") is None
    assert normalise_reference("A") == "A"  # a lone letter is not a suffix
    assert transpositions("1123") == ["1213", "1132"]


def test_words_amount_reads_what_dingtalk_writes() -> None:
    """Every amount the DingTalk sandbox's MoneyField writes in words reads back to itself."""
    rng = random.Random(14)
    for _ in range(3000):
        amount = Decimal(rng.choice([rng.randrange(1, 10**12), rng.randrange(1, 1000), 100_000_000])) / 100
        assert words_amount(money_upper(amount)) == amount, money_upper(amount)
    assert words_amount("人民币壹亿零贰拾万元整") == Decimal("100200000")
    assert words_amount("伍角") == Decimal("0.5")
    with pytest.raises(WordsError):
        words_amount("一千块")


def test_summary_similarity() -> None:
    assert similarity("支付服务器租赁费 11月", "支付服务器租赁费11月 请尽快") > 0.8
    assert similarity("Server Rent", "server rent") == 1.0
    assert similarity("支付服务器租赁费", "办公用品采购") < 0.4
    assert similarity(None, "") == 1.0


def test_modified_z_score() -> None:
    history = [100.0, 102.0, 98.0, 101.0, 99.0, 100.0]
    z = modified_z(130.0, history)
    assert z is not None and z > 3.5
    assert modified_z(100.0, [5.0, 5.0, 5.0]) is None  # MAD 0: the cap decides


def test_benford_conformity() -> None:
    rng = random.Random(3)
    # log-uniform amounts over several orders of magnitude follow Benford's law
    natural = [Decimal(str(round(10 ** rng.uniform(2, 7), 2))) for _ in range(5000)]
    assert benford(natural).conformity in ("close", "acceptable")
    # amounts just under an approval limit of 5,000 do not
    gamed = [Decimal(rng.randrange(4500, 5000)) for _ in range(2000)]
    result = benford(gamed)
    assert result.conformity == "nonconforming" and result.counts[3] == 2000
    assert benford([Decimal(1)] * 10).conformity == "too few"


def test_volume_anomaly() -> None:
    past = [40, 42, 38, 45, 41, 39, 44]
    assert volume_anomaly(past, 43).anomaly is None
    assert volume_anomaly(past, 3).anomaly == "low"
    assert volume_anomaly(past, 160).anomaly == "high"
    assert volume_anomaly([1, 0, 2], 5).anomaly is None  # a quiet hour is not an alert
    assert volume_anomaly([], 10).anomaly is None
