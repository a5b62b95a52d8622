"""Stage 2c, does the evidence answer the ask? A question can be near the corpus' topic (it
names a product the documents mention, shares words with them) and still ask for something
they never say. Two measurements decide, both over the sentences of the best passages:

- joint coverage: how much of the question's *specific* vocabulary one sentence (with its
  document title and section) holds together. Words are weighted by how rare they are in
  general English (wordfreq), so "pivot", "replication" or "sponsor" carry the ask and
  "what", "actually" or "work" carry little. Rarity in the corpus cannot do this job: a
  filler word the corpus never uses would weigh as much as the missing subject.
- sentence similarity: the cosine of the question and its nearest such sentence.

Their weighted sum decides: a passage that covers the ask jointly or reads like an answer
passes; one that only shares the topic (one rare word here, another there) does not.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from bot.answer.calibration import Calibration
from bot.answer.evidence import asks_for_particular, states_particular
from bot.answer.retrieve import Hit, KnowledgeIndex
from bot.answer.specificity import specificity
from bot.runtime.terms import terms

SUPPORT_HITS = 3  # the passages that must answer the ask (as for particulars)


@dataclass(frozen=True)
class Relevance:
    """How well the best passages answer the question's ask."""

    coverage: float  # share of the question's specific words one sentence holds together
    similarity: float  # cosine of the question and its nearest sentence of those passages


def warm_in_background() -> None:
    """Read wordfreq's word lists (about a second, once per process) in a background thread,
    so that second is spent while the embedder loads, not on the first question's clock."""
    threading.Thread(
        target=specificity, args=("warm xyzzy",), name="wordfreq-warm", daemon=True
    ).start()


def relevance(
    question: str, vector: np.ndarray, hits: list[Hit], index: KnowledgeIndex
) -> Relevance:
    """Joint coverage and similarity of the best sentence units of the top passages."""
    weights = specificity(question)
    total = sum(weights.values())
    top = hits[:SUPPORT_HITS]
    if not top:
        return Relevance(0.0, 0.0)
    units = index.load_units([h.chunk.id for h in top])
    context = {h.chunk.id: set(terms(f"{h.chunk.title} {h.chunk.section}")) for h in top}
    coverage = 0.0
    for unit in units:
        bag = index.unit_terms[unit.row] | context[unit.chunk_id]
        coverage = max(coverage, sum(w for t, w in weights.items() if t in bag) / (total or 1))
    rows = [u.row for u in units]
    similarity = float(np.max(index.unit_vectors[rows] @ vector)) if rows else 0.0
    return Relevance(coverage if total else 1.0, similarity)


def answers_the_ask(found: Relevance, calibration: Calibration) -> bool:
    """Whether the passages answer the ask: a sentence reads close to the question, helped by
    how much of its specific vocabulary one sentence holds together. One weighted sum, not
    two separate bars: off-topic questions are low on both, answerable ones high on either."""
    joint = found.similarity + calibration.cover_weight * found.coverage
    return joint >= calibration.relevance_min


def should_abstain(
    question: str,
    vector: np.ndarray,
    score: float,
    hits: list[Hit],
    index: KnowledgeIndex,
    calibration: Calibration,
    check_ask: bool = True,
) -> bool:
    """The abstain decision: too little evidence, a question about our own particulars that
    no passage states, or passages that share the topic but do not answer the ask.
    `check_ask=False` skips the last check: for a follow-up, whose own words are not the ask
    (the conversation supplies the subject), and when only keyword hits are at hand."""
    if not hits or score < calibration.abstain_below:
        return True
    # "Who is our CIO?": only a passage stating such a particular answers it.
    if asks_for_particular(question) and not states_particular(question, hits):
        return True
    if not check_ask:
        return False
    return not answers_the_ask(relevance(question, vector, hits, index), calibration)
