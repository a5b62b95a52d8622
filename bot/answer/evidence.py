"""Stage 2b, weigh the evidence: which reading of the question the knowledge base supports
best, and how strongly (the score that decides whether to answer or abstain)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.answer.calibration import Calibration
from bot.answer.retrieve import KnowledgeIndex
from bot.answer.route import asks_for_internal_fact
from bot.runtime.lexical import terms


@dataclass
class Evidence:
    """The best-supported reading of a question, its vector and its evidence score."""

    question: str
    vector: np.ndarray
    score: float


def weigh_readings(
    readings: list[str], vectors: np.ndarray, index: KnowledgeIndex, calibration: Calibration
) -> Evidence:
    """The reading with the strongest evidence: its best sentence match plus how many of its
    terms the corpus knows at all; questions about company-internal facts score below the bar."""
    best_unit = (
        (vectors @ index.unit_vectors.T).max(axis=1)
        if len(index.units)
        else np.zeros(len(readings))
    )
    scores = []
    for reading, unit_score in zip(readings, best_unit, strict=True):
        qterms = set(terms(reading))
        coverage = len(qterms & index.bm25.vocabulary) / len(qterms) if qterms else 0.0
        scores.append(float(unit_score) + calibration.lexical_weight * (coverage - 1.0))
    best = int(np.argmax(scores))
    if asks_for_internal_fact(readings[best]):
        scores[best] = min(scores[best], calibration.abstain_below - 1.0)
    return Evidence(readings[best], vectors[best], scores[best])
