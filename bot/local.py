"""The local, extractive answer backend: no LLM, every sentence quoted from the corpus.

Candidate units (sentences and table rows) of the retrieved chunks are scored by semantic
similarity to the question plus lexical overlap, then picked with maximal marginal relevance
so the answer does not repeat itself. Each picked unit is cited with [n]; its citation quote is
the unit itself, an exact substring of the chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.lexical import terms
from bot.retrieve import Hit, KnowledgeIndex, UnitRecord
from bot.schema import Citation

MAX_UNITS = 3
MMR_LAMBDA = 0.75
LEXICAL_WEIGHT = 0.35


@dataclass
class Scored:
    """A candidate unit with its score and the hit it came from."""

    unit: UnitRecord
    hit: Hit
    score: float


def lexical_overlap(question_terms: set[str], text: str) -> float:
    """Share of the question's content terms found in `text`."""
    if not question_terms:
        return 0.0
    return len(question_terms & set(terms(text))) / len(question_terms)


def score_units(
    question: str, qvec: np.ndarray, hits: list[Hit], index: KnowledgeIndex
) -> list[Scored]:
    """All quotable units of the hits, scored against the question, best first."""
    qterms = set(terms(question))
    out: list[Scored] = []
    for hit in hits:
        for unit in index.units_of(hit.chunk.id):
            if unit.kind == "heading" or len(unit.text.split()) < 4:
                continue
            semantic = float(index.unit_vectors[unit.row] @ qvec)
            lexical = lexical_overlap(qterms, unit.text)
            prior = 0.05 / (1 + hit.rank)  # a little trust in the fused chunk ranking
            out.append(Scored(unit, hit, semantic + LEXICAL_WEIGHT * lexical + prior))
    out.sort(key=lambda s: s.score, reverse=True)
    return out


def pick(candidates: list[Scored], index: KnowledgeIndex, k: int, floor: float) -> list[Scored]:
    """Up to `k` candidates by maximal marginal relevance, none below `floor`."""
    chosen: list[Scored] = []
    pool = [c for c in candidates if c.score >= floor][:30]
    while pool and len(chosen) < k:
        def mmr(c: Scored) -> float:
            if not chosen:
                return c.score
            redundancy = max(
                float(index.unit_vectors[c.unit.row] @ index.unit_vectors[s.unit.row]) for s in chosen
            )
            return MMR_LAMBDA * c.score - (1 - MMR_LAMBDA) * redundancy

        best = max(pool, key=mmr)
        pool.remove(best)
        if any(float(index.unit_vectors[best.unit.row] @ index.unit_vectors[s.unit.row]) > 0.92 for s in chosen):
            continue  # near-duplicate sentence
        chosen.append(best)
    return chosen


def render_row(unit_text: str, header: str | None) -> str:
    """A table row as a readable sentence: `Scope — IT Transformation: …; Digital …: …`."""
    cells = [c.strip() for c in unit_text.strip().strip("|").split("|")]
    if not header:
        return "; ".join(cells) + "."
    heads = [h.strip() for h in header.strip().strip("|").split("|")]
    pairs = [f"{h}: {c}" for h, c in zip(heads[1:], cells[1:], strict=False) if c]
    return f"{cells[0]} — " + "; ".join(pairs) + "."


class CitationBook:
    """Numbers chunks in order of first citation and remembers the quote for each."""

    def __init__(self) -> None:
        self.citations: list[Citation] = []
        self._by_chunk: dict[str, int] = {}

    def cite(self, scored: Scored) -> int:
        """The [n] for this unit's chunk (a new number the first time a chunk is cited)."""
        chunk = scored.hit.chunk
        if chunk.id not in self._by_chunk:
            n = len(self.citations) + 1
            self._by_chunk[chunk.id] = n
            self.citations.append(
                Citation(
                    n=n,
                    source=chunk.source,
                    title=chunk.title,
                    quote=scored.unit.text,
                    score=round(max(scored.score, 0.0), 4),
                    section=chunk.section,
                )
            )
        return self._by_chunk[chunk.id]


def sentence_for(scored: Scored, index: KnowledgeIndex) -> str:
    """Readable text of a unit (table rows spelled out with their header)."""
    if scored.unit.kind == "row":
        header = next((u.text for u in index.units_of(scored.unit.chunk_id) if u.kind == "row"), None)
        return render_row(scored.unit.text, None if header == scored.unit.text else header)
    text = scored.unit.text.strip()
    return text if re.search(r"[.!?\"”)]$", text) else text + "."


def compose(picked: list[Scored], index: KnowledgeIndex, book: CitationBook) -> str:
    """Sentences in reading order per source, each followed by its [n]."""
    ordered = sorted(picked, key=lambda s: (book.cite(s), s.unit.position))
    return " ".join(f"{sentence_for(s, index)} [{book.cite(s)}]" for s in ordered)
