"""Stage 2b, weigh the evidence: which reading of the question the knowledge base supports
best, and how strongly (the score that decides whether to answer or abstain)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from bot.answer.calibration import Calibration
from bot.answer.retrieve import Corpus, Dense, Hit, KnowledgeIndex, nearest_chunks, pool_size
from bot.answer.specificity import specificity
from bot.runtime.store import StoreUnavailableError
from bot.runtime.terms import terms
from bot.runtime.text import sentences

SUPPORT_HITS = 3  # the passages whose words must carry the question's specific ask

log = logging.getLogger(__name__)


@dataclass
class Evidence:
    """The best-supported reading of a question, its vector and its evidence score."""

    question: str
    vector: np.ndarray
    score: float
    dense: Dense | None = None  # the reading's nearest chunks, reused by the search


UNIT_POOL = 18  # nearest chunks per reading whose sentences are compared with it


def best_unit_similarity(vectors: np.ndarray, nearest: list[Dense], corpus: Corpus) -> np.ndarray:
    """Each vector's cosine similarity to its nearest sentence unit among the units of its
    `UNIT_POOL` nearest chunks. Those units are read (and cached) for the answer anyway, so
    this costs no second vector query; the best sentence of a question whose chunks are not
    near it does not count as support either."""
    out = np.zeros(len(vectors))
    tops = [sorted(found, key=found.__getitem__, reverse=True)[:UNIT_POOL] for found in nearest]
    units = corpus.units([cid for top in tops for cid in top])
    for row, top in enumerate(tops):
        rows = [u.vector for cid in top for u in units.get(cid, [])]
        if rows:
            out[row] = float(np.max(np.vstack(rows) @ np.asarray(vectors[row], np.float32)))
    return out


def _unreachable(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(word in text for word in ("timeout", "timed out", "connect", "refused"))


def weigh_readings(
    readings: list[str],
    vectors: np.ndarray,
    index: KnowledgeIndex,
    calibration: Calibration,
    pool: int = pool_size(6),
) -> Evidence:
    """The reading with the strongest evidence: its best sentence match plus how much of its
    specific vocabulary the corpus knows at all. One vector query finds every reading's
    `pool` nearest chunks; the chosen reading's are kept for its search."""
    try:
        nearest: list[Dense] | None = nearest_chunks(index.corpus, vectors, pool)
    except Exception as exc:  # another process mid-ingest, or the store is down
        if _unreachable(exc):  # a store that does not answer is not "no evidence"
            raise StoreUnavailableError(f"vector search failed: {exc}") from exc
        log.warning("vector search failed: %s", exc)
        nearest = None
    best_unit = (
        best_unit_similarity(vectors, nearest, index.corpus) if nearest else np.zeros(len(vectors))
    )
    weights = [specificity(reading) for reading in readings]
    all_terms = {t for weight in weights for t in weight}
    known = {t for t, df in index.corpus.document_frequency(sorted(all_terms)).items() if df}
    scores = []
    for weight, unit_score in zip(weights, best_unit, strict=True):
        # Terms count by how specific they are: a question is not weaker evidence because the
        # corpus never says "get" or "gives", as it is when it never names "laptop".
        total = sum(weight.values())
        coverage = sum(w for t, w in weight.items() if t in known) / total if total else 0.0
        scores.append(float(unit_score) + calibration.lexical_weight * (coverage - 1.0))
    best = int(np.argmax(scores))
    return Evidence(readings[best], vectors[best], scores[best], nearest[best] if nearest else None)


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
_PLACE = re.compile(r"\b(?i:from|at|in|on|to|through|via|inside)\s+(?i:the|our|your|an?)\s+\w")
_NAME_OR_NUMBER = re.compile(f"{_NAME.pattern}|{_NUMBER.pattern}")
_NAME_NUMBER_OR_PLACE = re.compile(f"{_NAME.pattern}|{_NUMBER.pattern}|{_PLACE.pattern}")
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
    if lowered.startswith("where"):  # a place is often no name: "from the service desk"
        return _NAME_NUMBER_OR_PLACE
    return _NAME_OR_NUMBER


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
