"""Data quality: declarative rules, history-aware anomaly checks of payment documents, findings and the
hold-for-review (待复核) verdict.

May use ``expr`` and the narrow :class:`History` interface the store implements (nothing else of ours):
the scheme's blocks are read through the Protocols of :mod:`.config`. The engine calls a
:class:`Checker` before any target call; a blocking finding holds the record.

Layout: :mod:`.verdict` (findings), :mod:`.rules` (declarative rules), :mod:`.anomaly` (payment checks),
:mod:`.history` (the interface), :mod:`.checker` (a batch), :mod:`.text` (numbers, summaries, 大写),
:mod:`.stats` (modified z, Benford, volume), :mod:`.values` (reading content).
"""

from ferry.quality.anomaly import Payment, PaymentChecks
from ferry.quality.checker import Checker, Prepared
from ferry.quality.history import Fact, History, PastFact
from ferry.quality.stats import BenfordResult, VolumeVerdict, benford, modified_z, volume_anomaly
from ferry.quality.text import normalise_reference, similarity, transpositions, words_amount
from ferry.quality.verdict import Assessment, Decision, Finding, Verdict

__all__ = [
    "Assessment",
    "BenfordResult",
    "Checker",
    "Decision",
    "Fact",
    "Finding",
    "History",
    "PastFact",
    "Payment",
    "PaymentChecks",
    "Prepared",
    "Verdict",
    "VolumeVerdict",
    "benford",
    "modified_z",
    "normalise_reference",
    "similarity",
    "transpositions",
    "volume_anomaly",
    "words_amount",
]
