"""Stage 3a, compose locally: the extractive backend, no LLM, every sentence quoted from the
corpus.

Candidate units (sentences and table rows) of the retrieved chunks are scored by semantic
similarity to the question plus lexical overlap, then picked with maximal marginal relevance
so the answer does not repeat itself. Each picked unit is cited with [n]; its citation quote is
the unit itself, an exact substring of the chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.answer.retrieve import Hit, KnowledgeIndex, UnitRecord
from bot.runtime.schema import Answer, Citation
from bot.runtime.terms import terms
from bot.runtime.text import row_as_sentence

MAX_UNITS = 5
MMR_LAMBDA = 0.75
LEXICAL_WEIGHT = 0.2
CHUNK_PRIOR = 0.2
MIN_PICKS = 3  # sentences an answer may have before the margin applies
PICK_MARGIN = 0.25  # sentences scoring this far below the best one are off the point
# Even among the first MIN_PICKS, a sentence this far below the best is padding ("Hive
# inspections happen every nine days" after the answer to "When is honey extracted?").
# Dev: 0.5 and 0.6 leave every figure unchanged, 0.4 costs seed citation precision 0.002.
FAR_MARGIN = 0.5
NEW_PASSAGE_COST = 0.03  # past the first sentence, citing one more passage must be worth it
# Sentences under a heading (or a question line, as in an FAQ) that reads like the question
# gain HEADING_WEIGHT × the heading's similarity above HEADING_FLOOR. Dev: 0.3 and 0.5 leave
# every figure unchanged, 1.0 costs seed citation precision 0.002.
HEADING_WEIGHT = 0.5
HEADING_FLOOR = 0.5
COVERAGE_WEIGHT = 0.15  # credit for question terms no chosen sentence states yet
CONTINUE_LEAD = 3  # the best sentences this many sentences are followed by their continuation


@dataclass
class Scored:
    """A candidate unit with its score and the hit it came from."""

    unit: UnitRecord
    hit: Hit
    score: float


def weighted_overlap(
    question_terms: set[str], unit_terms: frozenset[str], idf: dict[str, float]
) -> float:
    """IDF-weighted share of the question's terms found in a unit (and its section)."""
    total = sum(idf.get(t, 1.0) for t in question_terms)
    if not total:
        return 0.0
    return sum(idf.get(t, 1.0) for t in question_terms & unit_terms) / total


def score_units(
    question: str, qvec: np.ndarray, hits: list[Hit], index: KnowledgeIndex
) -> list[Scored]:
    """Quotable units of the retrieved chunks scored against the question, best first.

    Only the retrieved chunks' units are candidates (read from the units collection by chunk
    id), so the cost does not grow with the corpus; each gets a prior from the fused ranking.
    """
    candidates = index.load_units([h.chunk.id for h in hits]) if hits else []
    if not candidates:
        return []
    qterms = set(terms(question))
    index.idf.prefetch(qterms)  # one lookup for the question's terms, not one each
    semantic = index.unit_vectors @ qvec
    hit_of = {h.chunk.id: h for h in hits}
    top_fused = hits[0].fused or 1.0
    headers = {}
    for unit in candidates:
        if unit.kind == "row" and unit.chunk_id not in headers:
            headers[unit.chunk_id] = unit.row
    out: list[Scored] = []
    under: dict[str, float] = {}  # chunk id → nearness of its latest heading so far
    for unit in candidates:
        # Headings and questions are not answers; each heads the sentences after it.
        if unit.kind == "heading" or unit.text.endswith("?"):
            under[unit.chunk_id] = float(semantic[unit.row])
            continue
        if headers.get(unit.chunk_id) == unit.row or len(unit.text.split()) < 4:
            continue  # table headers and fragments are not answers either
        hit = hit_of.get(unit.chunk_id)
        prior = CHUNK_PRIOR * hit.fused / top_fused if hit else 0.0
        lexical = weighted_overlap(qterms, index.unit_terms[unit.row], index.idf)
        # A heading that reads like the question ("Who owns the cloud bill?") heads its answer.
        heading = HEADING_WEIGHT * max(0.0, under.get(unit.chunk_id, 0.0) - HEADING_FLOOR)
        score = float(semantic[unit.row]) + LEXICAL_WEIGHT * lexical + prior + heading
        out.append(Scored(unit, hit or _orphan_hit(index, unit), score))
    out.sort(key=lambda s: s.score, reverse=True)
    return out


def _orphan_hit(index: KnowledgeIndex, unit: UnitRecord) -> Hit:
    """A Hit for a unit whose chunk was not among the retrieved ones."""
    return Hit(index.by_id[unit.chunk_id], fused=0.0, dense=0.0, lexical=0.0, rank=99)


def roots(text: str) -> set[str]:
    """Content terms cut to five characters: the light stemmer leaves "measure"/"measured"
    apart, and coverage only needs to know the sentence speaks of the same thing."""
    return {t[:5] for t in terms(text)}


def pick(
    candidates: list[Scored], index: KnowledgeIndex, k: int, floor: float, question: str = ""
) -> list[Scored]:
    """Up to `k` candidates by maximal marginal relevance, none below `floor`.

    With the `question`, a candidate also earns credit for the question's terms it states
    that no chosen sentence states yet: the answer covers every part of the question instead
    of repeating the best-matching one. Past the first `MIN_PICKS`, a sentence scoring more
    than `PICK_MARGIN` below the best is off the point and left out; before, one more than
    `FAR_MARGIN` below.
    """
    chosen: list[Scored] = []
    top = max((c.score for c in candidates), default=0.0)
    pool = [c for c in candidates if c.score >= max(floor, top - FAR_MARGIN)][:30]
    weight: dict[str, float] = {}
    for t in terms(question):
        weight[t[:5]] = max(weight.get(t[:5], 0.0), index.idf.get(t, 1.0))
    total = sum(weight.values()) or 1.0
    covered: set[str] = set()
    own = {id(c): roots(c.unit.text) for c in pool} if weight else {}

    def coverage(c: Scored) -> float:
        if not weight:
            return 0.0
        return sum(weight[r] for r in (own[id(c)] & weight.keys()) - covered) / total

    while pool and len(chosen) < k:
        if len(chosen) >= MIN_PICKS:
            pool = [c for c in pool if c.score >= top - PICK_MARGIN]
            if not pool:
                break

        def mmr(c: Scored) -> float:
            gain = c.score + COVERAGE_WEIGHT * coverage(c)
            if not chosen:
                return gain
            if c.hit.chunk.id not in {s.hit.chunk.id for s in chosen}:
                gain -= NEW_PASSAGE_COST  # one more passage to cite and to check
            redundancy = max(
                float(index.unit_vectors[c.unit.row] @ index.unit_vectors[s.unit.row])
                for s in chosen
            )
            return MMR_LAMBDA * gain - (1 - MMR_LAMBDA) * redundancy

        best = max(pool, key=mmr)
        pool.remove(best)
        if any(
            float(index.unit_vectors[best.unit.row] @ index.unit_vectors[s.unit.row]) > 0.92
            for s in chosen
        ):
            continue  # near-duplicate sentence
        chosen.append(best)
        if weight:
            covered |= own[id(best)]
    return chosen


# A sentence that leans on the one before it ("It focuses on…", "However, the benefits…")
# says more about that sentence's subject than its own words show.
CONTINUES = re.compile(  # case-sensitive: "IT strategy…" opens a sentence of its own
    r"^(?:It|It['’]s|Its|This|These|They|Their|Such|That|Those|However|Moreover|Also|Instead|"
    r"In other words|As a result|For example|For instance)\b"
    r"|^(?:If|When|While|But|And|So|Yet|Because|Although)\b(?:\W+\w+){0,4}?\W+"
    r"(?:it|this|these|they|that|those)\b(?!\s+(?:IT|[A-Z]))"
)


def with_continuations(
    chosen: list[Scored], index: KnowledgeIndex, lead: int = CONTINUE_LEAD
) -> list[Scored]:
    """The chosen sentences, each of the first `lead` followed by the next sentence of its
    chunk when that one continues it (starts with a pronoun or a connective, or the chosen
    one ends in a colon that announces it: "…on the test split:" then the command); a chosen
    sentence that continues one not chosen comes after that one ("It…" needs its subject)."""
    have = {(c.hit.chunk.id, c.unit.position) for c in chosen}
    out: list[Scored] = []
    for i, c in enumerate(chosen):
        units = index.units_of(c.hit.chunk.id)
        if c.unit.kind == "sentence" and CONTINUES.match(c.unit.text):
            before = [u for u in units if u.position < c.unit.position]
            if (
                before
                and before[-1].kind == "sentence"
                and ((before[-1].chunk_id, before[-1].position) not in have)
            ):
                out.append(Scored(before[-1], c.hit, c.score))
                have.add((before[-1].chunk_id, before[-1].position))
        out.append(c)
        if i >= lead or c.unit.kind != "sentence":
            continue
        after = next((u for u in units if u.position > c.unit.position), None)
        if (
            after is not None
            and after.kind == "sentence"
            and (after.chunk_id, after.position) not in have
            and (CONTINUES.match(after.text) or c.unit.text.rstrip().endswith(":"))
        ):
            out.append(Scored(after, c.hit, c.score))
            have.add((after.chunk_id, after.position))
    return out


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


# A command line (shell operators, an option flag, a prompt): a full stop would be copied
# with it ("… --split test." is not the command).
_COMMAND = re.compile(r"&&|\|\||(?:^|\s)--?[a-z][\w-]*(?:\s|=|$)|^\$\s")


def sentence_for(scored: Scored, index: KnowledgeIndex) -> str:
    """Readable text of a unit (table rows spelled out with their header)."""
    if scored.unit.kind == "row":
        header = next(
            (u.text for u in index.units_of(scored.unit.chunk_id) if u.kind == "row"), None
        )
        return row_as_sentence(scored.unit.text, header)
    text = re.sub(r"^(?:[•●▪◦‣∙·*+–-]|\d{1,2}[.)])\s+", "", scored.unit.text.strip())  # list marker
    closed = re.search(r"[.!?:;\"”)]$", text) or _COMMAND.search(text)
    return text if closed else text + "."


def compose(picked: list[Scored], index: KnowledgeIndex, book: CitationBook) -> str:
    """The best sentence (and the sentences right after it that were picked) first, then
    the rest in reading order per source, each followed by its [n]."""
    if not picked:
        return ""
    best = picked[0]
    book.cite(best)
    ordered = sorted(picked, key=lambda s: (book.cite(s), s.unit.position))
    start = ordered.index(best)
    end = start + 1
    while (
        end < len(ordered)
        and ordered[end].hit.chunk.id == best.hit.chunk.id
        and ordered[end].unit.position == ordered[end - 1].unit.position + 1
    ):
        end += 1
    ordered = ordered[start:end] + ordered[:start] + ordered[end:]
    return " ".join(f"{sentence_for(s, index)} [{book.cite(s)}]" for s in ordered)


NOT_IN_KB = "The knowledge base does not cover this"
Search = Callable[[str, np.ndarray, int], list[Hit]]
Embed = Callable[[list[str]], np.ndarray]


def first_sentence(hit: Hit, index: KnowledgeIndex) -> str:
    """The first quotable sentence of a hit's chunk (its text's start if it has none)."""
    found = [u for u in index.units_of(hit.chunk.id) if u.kind != "heading"]
    return found[0].text if found else hit.chunk.text[:200]


def abstain(
    hits: list[Hit],
    backend: str,
    index: KnowledgeIndex,
    fallback_titles: Callable[[], list[str]],
    degraded: bool = False,
) -> Answer:
    """The plain "not covered" answer, listing the nearest topics and material."""
    topics = list(dict.fromkeys(h.chunk.title for h in hits))[:3] or fallback_titles()[:3]
    citations = [
        Citation(
            n=i + 1,
            source=h.chunk.source,
            title=h.chunk.title,
            quote=first_sentence(h, index),
            score=round(h.dense, 4),
            section=h.chunk.section,
        )
        for i, h in enumerate(hits[:3])
    ]
    listed = "; ".join(topics)
    text = f"{NOT_IN_KB}. It covers topics such as: {listed}" + (
        "" if listed[-1:] in ".?!" else "."
    )
    return Answer(
        answer=text, citations=citations, abstained=True, backend=backend, degraded=degraded
    )  # type: ignore[arg-type]
