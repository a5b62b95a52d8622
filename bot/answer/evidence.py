"""Stage 2b, weigh the evidence: which reading of the question the knowledge base supports
best, and how strongly (the score that decides whether to answer or abstain)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from bot.answer.calibration import Calibration
from bot.answer.retrieve import Hit, KnowledgeIndex
from bot.runtime.lexical import terms
from bot.runtime.store import StoreUnavailableError
from bot.runtime.text import sentences

SUPPORT_HITS = 3  # the passages whose words must carry the question's specific ask

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
        if _unreachable(exc):  # a store that does not answer is not "no evidence"
            raise StoreUnavailableError(f"sentence search failed: {exc}") from exc
        log.warning("sentence search failed: %s", exc)
        return np.zeros(len(vectors))
    distances = result["distances"] or []
    return np.asarray([1.0 - float(d[0]) if d else 0.0 for d in distances])


def _unreachable(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(word in text for word in ("timeout", "timed out", "connect", "refused"))


def weigh_readings(
    readings: list[str], vectors: np.ndarray, index: KnowledgeIndex, calibration: Calibration
) -> Evidence:
    """The reading with the strongest evidence: its best sentence match plus how many of its
    terms the corpus knows at all."""
    best_unit = best_unit_similarity(vectors, index)
    all_terms = {t for reading in readings for t in terms(reading)}
    known = {t for t, df in index.corpus.document_frequency(sorted(all_terms)).items() if df}
    scores = []
    for reading, unit_score in zip(readings, best_unit, strict=True):
        qterms = set(terms(reading))
        coverage = len(qterms & known) / len(qterms) if qterms else 0.0
        scores.append(float(unit_score) + calibration.lexical_weight * (coverage - 1.0))
    best = int(np.argmax(scores))
    return Evidence(readings[best], vectors[best], scores[best])


# A question about this organisation's own particulars: a fact ask ("who/which/when/how
# much/what is…") scoped to us ("our", "my", "the company's", "did we"). Advice and yes/no
# questions ("should our team…", "does our strategy need…") are not fact asks.
_FACT_ASK = re.compile(
    r"^\s*(?:who|whom|whose|which|when|where|how\s+(?:much|many|long|often)|"
    r"what(?:'s|’s|\s+is|\s+are|\s+was|\s+were)(?!\s+(?:we|you|i)\b))\b",
    re.IGNORECASE,
)
_SCOPED = re.compile(
    r"\b(?:our|my|the\s+company['’]s|did\s+we|have\s+we|do\s+we\s+have|do\s+i\s+get)\b", re.I
)
_ADVICE = re.compile(r"\b(?:should|could|would|might|can|must|need)\b", re.IGNORECASE)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zà-ÿ'’-]+(?:\s+[A-Z][a-zà-ÿ'’-]+)+")
_NUMBER = re.compile(r"\d")
# "How much …?" asks for an amount: money (a currency sign or ISO code), a share or a
# magnitude, not just any digit ("There are 3 differences" states no amount).
_AMOUNT = re.compile(
    r"[$€£¥]\s?\d|\d[\d,.]*\s?(?:[A-Z]{3}\b|%|(?i:per\s?cent|thousand|million|billion|bn)\b)"
)
_WHEN = re.compile(
    r"\d|\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Monday|Tuesday|Wednesday|Thursday|Friday|weekly|monthly|quarterly|yearly)\b"
)
PARTICULAR_SHARE = 0.5  # of the question's terms, in the sentence with the particular


def asks_for_particular(question: str) -> bool:
    """True for a question about this organisation's own particulars (a name, a number,
    a date, a status): topical passages cannot answer it, only a passage that states one."""
    return bool(
        _FACT_ASK.match(question) and _SCOPED.search(question) and not _ADVICE.search(question)
    )


def _particular(question: str) -> re.Pattern[str]:
    lowered = question.lower().lstrip()
    if lowered.startswith(("who", "whom", "whose")):
        return _NAME
    if lowered.startswith("how much"):
        return _AMOUNT
    if lowered.startswith("how many"):
        return _NUMBER
    if lowered.startswith(("when", "how long", "how often")):
        return _WHEN
    return re.compile(f"{_NAME.pattern}|{_NUMBER.pattern}")


def states_particular(question: str, hits: list[Hit]) -> bool:
    """Whether a sentence of the best passages states the particular the question asks for
    (a name for "who", a number for "how much", a date for "when") and is about the question:
    with its title and section it holds at least half of the question's content terms."""
    qterms = set(terms(question))
    wanted = _particular(question)
    for hit in hits[:SUPPORT_HITS]:
        context = set(terms(f"{hit.chunk.title} {hit.chunk.section}"))
        for line in hit.chunk.text.splitlines():
            for sentence in sentences(line.strip()) if line.strip() else []:
                if not wanted.search(sentence):
                    continue
                share = len(qterms & (context | set(terms(sentence)))) / max(len(qterms), 1)
                if share >= PARTICULAR_SHARE:
                    return True
    return False
