"""Stage 2b, weigh the evidence: which reading of the question the knowledge base supports
best, and how strongly (the score that decides whether to answer or abstain)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from bot.answer.calibration import Calibration
from bot.answer.retrieve import KnowledgeIndex
from bot.answer.route import asks_for_internal_fact
from bot.runtime.lexical import terms

log = logging.getLogger(__name__)


@dataclass
class Evidence:
    """The best-supported reading of a question, its vector and its evidence score."""

    question: str
    vector: np.ndarray
    score: float


def best_unit_similarity(vectors: np.ndarray, index: KnowledgeIndex) -> np.ndarray:
    """Each vector's cosine similarity to its nearest sentence unit of the corpus, through
    Chroma's vector index of the units collection (one query for all readings)."""
    coll, count = index.corpus.handle("units")
    if coll is None or not count or not len(vectors):
        return np.zeros(len(vectors))
    try:
        result = coll.query(
            query_embeddings=np.asarray(vectors).tolist(),
            n_results=1,
            include=["distances"],  # type: ignore[list-item]
        )
    except Exception as exc:  # empty collection, or another process mid-ingest
        log.warning("sentence search failed: %s", exc)
        return np.zeros(len(vectors))
    distances = result["distances"] or []
    return np.asarray([1.0 - float(d[0]) if d else 0.0 for d in distances])


def weigh_readings(
    readings: list[str], vectors: np.ndarray, index: KnowledgeIndex, calibration: Calibration
) -> Evidence:
    """The reading with the strongest evidence: its best sentence match plus how many of its
    terms the corpus knows at all; questions about company-internal facts score below the bar."""
    best_unit = best_unit_similarity(vectors, index)
    all_terms = {t for reading in readings for t in terms(reading)}
    known = {t for t, df in index.corpus.document_frequency(sorted(all_terms)).items() if df}
    scores = []
    for reading, unit_score in zip(readings, best_unit, strict=True):
        qterms = set(terms(reading))
        coverage = len(qterms & known) / len(qterms) if qterms else 0.0
        scores.append(float(unit_score) + calibration.lexical_weight * (coverage - 1.0))
    best = int(np.argmax(scores))
    if asks_for_internal_fact(readings[best]):
        scores[best] = min(scores[best], calibration.abstain_below - 1.0)
    return Evidence(readings[best], vectors[best], scores[best])
