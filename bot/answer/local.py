"""Stage 3a, the local answer as a whole: what the question's shape asks for (a definition,
a number, a list, two asks) answered from the scored sentences and the document's structure,
or both sides of a comparison."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from bot.answer.compose import (
    CHUNK_PRIOR,
    CONTINUES,
    LEXICAL_WEIGHT,
    MAX_UNITS,
    CitationBook,
    Embed,
    Scored,
    Search,
    abstain,
    compose,
    pick,
    roots,
    score_units,
    weighted_overlap,
    with_continuations,
)
from bot.answer.retrieve import Hit, KnowledgeIndex, UnitRecord
from bot.answer.route import Route
from bot.answer.structure import (
    Block,
    Outline,
    asks,
    enumeration,
    find_blocks,
    outline,
    paired_sides,
    typed_answer,
)
from bot.runtime.schema import Answer
from bot.runtime.terms import terms

BLOCK_MARGIN = 0.05  # a list/field answers whole when it scores this close to the best sentence
SHAPE_BONUS = 0.1  # a defining sentence for "what is X?", a number for "how long/many…?"
HEADING_BONUS = 0.15  # a sentence under a heading the question names ("examples" → "Examples:")
LEAD_BONUS = 0.3  # a list whose lead line the question names answers it whole
RELATE_MAX = 2  # sentences relating the two sides that open a comparison
RELATE_TOP = 5  # a sentence naming both sides opens a comparison when it ranks this high
SECTION_SENTENCES = 4  # the best sentence's section is quoted whole up to this many sentences
DEFINITION_UNITS = 3  # sentences besides continuations when the best one defines the subject
FIRST_PERSON_PENALTY = 0.1  # anecdotes ("For years, I've observed…") make poor answers
_FIRST_PERSON = re.compile(r"\b(?:I|I['’](?:ve|m|d|ll)|me|my)\b")
_DEFINITION_ASK = re.compile(
    r"^\s*(?:(?:so|and|ok)[, ]+)?(?:what(?:'s|’s| is| are)|define|explain what|describe what|"
    r"what does)\s+(?:an?\s+|the\s+)?(?P<subject>.+?)(?:\s+(?:really|actually|exactly|mean|is|are|"
    r"in plain (?:terms|english|words)|in simple terms))*\s*[?.!]*$",
    re.IGNORECASE,
)
_DEFINES = re.compile(r"^.{0,80}?\b(?:is|are|refers to|means|describes|can be defined as)\b", re.I)


def _relates(text: str, side_roots: list[set[str]]) -> bool:
    """Whether a sentence opens on one side and names the other ("X transforms…, while Y…"),
    not one that only talks about the comparison ("we were asked about X and Y")."""
    if CONTINUES.match(text):
        return False  # "It encompasses…" leans on a sentence the answer does not show
    opening = roots(" ".join(text.split()[:6]))
    return all(r <= roots(text) for r in side_roots) and any(r <= opening for r in side_roots)


def _compare(
    question: str,
    qvec: np.ndarray,
    hits: list[Hit],
    sides: list[str],
    index: KnowledgeIndex,
    search: Search,
    embed: Embed,
    top_k: int,
    floor: float,
    book: CitationBook,
    used: set[str],
) -> str:
    """Both sides of a comparison, each from sentences about that side (empty if none)."""
    parts = []
    # A comparison-table row that matches the question answers both sides at once
    # ("Scope — IT Transformation: Internal systems…; Digital Transformation: …").
    overall = score_units(question, qvec, hits, index)
    row = next((s for s in overall[:3] if s.unit.kind == "row"), None)
    relating = [row] if row is not None else []
    if not relating:  # else sentences that speak of both sides ("X …, while Y …")
        side_roots = [roots(side) for side in sides]
        relating = [s for s in overall[:RELATE_TOP] if _relates(s.unit.text, side_roots)]
        relating = pick(relating, index, RELATE_MAX, floor)
    if relating:
        parts.append(compose(relating, index, book))
        used.update(s.unit.text for s in relating)
    side_vectors = embed([f"{side}: {question}" for side in sides])
    for side, svec in zip(sides, side_vectors, strict=True):
        side_hits = search(side, svec, top_k)
        seen = {h.chunk.id for h in side_hits}  # the question's own passages may tell it too
        side_hits += [h for h in hits if h.chunk.id not in seen]
        ranked = [
            s
            for s in score_units(side, svec, side_hits, index)
            if s.unit.text not in used and s.unit.kind != "row"  # rows speak for both sides
        ]
        # Each side is best told by what it is: its defining sentence first.
        ranked = _shape_adjusted(f"What is {side}?", ranked, {})
        # Prefer sentences that have this side as their subject ("IT transformation is…").
        side_terms = set(terms(side))
        about_side = [
            s
            for s in ranked
            if side_terms and side_terms <= set(terms(" ".join(s.unit.text.split()[:6])))
        ]
        chosen = with_continuations(pick(about_side or ranked, index, 2, floor, question), index)
        used.update(s.unit.text for s in chosen)
        if chosen:
            parts.append(f"{side[:1].upper()}{side[1:]}: {compose(chosen, index, book)}")
    return "\n".join(parts)


def answer_locally(
    question: str,
    qvec: np.ndarray,
    hits: list[Hit],
    decision: Route,
    index: KnowledgeIndex,
    *,
    search: Search,
    embed: Embed,
    top_k: int,
    floor: float,
    fallback_titles: Callable[[], list[str]],
    next_chunks: list[Hit] | None = None,
) -> Answer:
    """The extractive answer: quoted sentences (or both sides of a comparison), or abstain."""
    book = CitationBook()
    texts: list[str] = []
    used: set[str] = set()
    # "What are the three X?": the announced, numbered X first, whole.
    listed = enumeration(question, hits + (next_chunks or []))
    if listed is not None:
        n = book.cite(
            Scored(UnitRecord(listed.hit.chunk.id, listed.quote, "block", -1, -1), listed.hit, 1.0)
        )
        texts.append(listed.render(f"[{n}]"))
        used.update([listed.lead, *listed.items])
    sides = decision.sides if decision.kind == "compare" else paired_sides(question)
    if sides:
        compared = _compare(
            question, qvec, hits, list(sides), index, search, embed, top_k, floor, book, used
        )
        if compared:
            return Answer(
                answer="\n".join([*texts, compared]), citations=book.citations, backend="local"
            )
    parts = asks(question)
    vectors = [qvec] if len(parts) == 1 else list(embed(parts))
    # Lists of the best chunks only: each new list costs an embedding on the request path.
    found = find_blocks(hits[:BLOCK_HITS] + (next_chunks or []))
    blocks = sorted(found, key=lambda b: b.hit.rank)[:MAX_BLOCKS]  # the best chunks' first
    block_vectors = (
        index.corpus.text_vectors([b.embed_text() for b in blocks], embed) if blocks else None
    )
    for part, pvec in zip(parts, vectors, strict=True):
        if len(parts) > 1:  # each ask keeps the whole question's subject in view
            pvec = pvec + 0.5 * qvec
            pvec = pvec / (np.linalg.norm(pvec) or 1.0)
        k = MAX_UNITS if len(parts) == 1 else 2
        text = _answer_ask(
            part, pvec, hits, index, book, blocks, block_vectors, k, floor, used, question
        )
        if text:
            texts.append(text)
    if not texts:
        return abstain(hits, "local", index, fallback_titles)
    return Answer(answer="\n".join(texts), citations=book.citations, backend="local")


SHAPE_TOP = 60
BLOCK_HITS = 6
MAX_BLOCKS = 6  # only the best candidates can be lifted into the answer: adjust those


def _shape_adjusted(
    question: str, candidates: list[Scored], outlines: dict[str, Outline]
) -> list[Scored]:
    """Scores adjusted for what the question's shape asks for, best first."""
    qterms = set(terms(question))
    candidates = candidates[:SHAPE_TOP]  # score_units returns them best first
    subject = _definition_subject(question)
    for c in candidates:
        text = c.unit.text
        if _defines(subject, text):
            c.score += SHAPE_BONUS
        if typed_answer(question, text):
            c.score += SHAPE_BONUS
        if _FIRST_PERSON.search(text):
            c.score -= FIRST_PERSON_PENALTY
        shape = outlines.get(c.hit.chunk.id)
        heading = set(terms(shape.heading_of.get(text, ""))) if shape else set()
        if heading:
            c.score += HEADING_BONUS * len(heading & qterms) / len(heading)
    return sorted(candidates, key=lambda c: c.score, reverse=True)


def _definition_subject(question: str) -> set[str]:
    """The terms of what a "what is X" / "define X" question asks about (empty otherwise)."""
    definition = _DEFINITION_ASK.match(question)
    return set(terms(definition.group("subject"))) if definition else set()


def _defines(subject: set[str], text: str) -> bool:
    """Whether `text` defines the `subject` of a definition question."""
    return (
        bool(subject)
        and bool(_DEFINES.match(text))
        and subject <= set(terms(" ".join(text.split()[:8])))
    )


def _with_section(
    chosen: list[Scored], candidates: list[Scored], outlines: dict[str, Outline], limit: int
) -> list[Scored]:
    """The best sentence's short section whole (its other sentences join the answer)."""
    if not chosen or chosen[0].hit.chunk.id not in outlines:
        return chosen
    section = outlines[chosen[0].hit.chunk.id].section_of.get(chosen[0].unit.text, [])
    if len(section) > SECTION_SENTENCES:
        return chosen
    have = {c.unit.text for c in chosen}
    siblings = [
        c
        for c in candidates
        if c.unit.text in section
        and c.unit.text not in have
        and c.hit.chunk.id == chosen[0].hit.chunk.id
        and not _FIRST_PERSON.search(c.unit.text)  # an anecdote is not part of the answer
    ]
    return (chosen[:1] + siblings + chosen[1:])[: max(limit, 1 + len(siblings))]


def _block_scores(
    question: str,
    qvec: np.ndarray,
    hits: list[Hit],
    blocks: list[Block],
    vectors: np.ndarray | None,
    index: KnowledgeIndex,
    whole: str,
) -> list[tuple[float, Block]]:
    """Blocks scored like sentences (semantic + lexical + chunk prior), best first; `whole`
    is the whole question (a field must share a term with it)."""
    if not blocks or vectors is None:
        return []
    qterms = set(terms(question))
    whole_terms = set(terms(whole))
    top_fused = hits[0].fused or 1.0
    out = []
    for block, vector in zip(blocks, vectors, strict=True):
        chunk = block.hit.chunk
        bag = frozenset(terms(f"{chunk.title} {chunk.section} {block.embed_text()}"))
        lexical = weighted_overlap(qterms, bag, index.idf)
        score = (
            float(vector @ qvec)
            + LEXICAL_WEIGHT * lexical
            + CHUNK_PRIOR * block.hit.fused / top_fused
        )
        lead = set(terms(block.lead))
        if lead:  # a list whose lead line names the ask ("Key findings:" for "the findings")
            score += LEAD_BONUS * len(lead & qterms) / len(lead)
        if block.kind == "field":
            # A short "Label: value" line answers only a how-long/how-many ask about its own
            # document; then it is the answer ("Duration: 3 weeks").
            if not typed_answer(question, block.items[0]) or not whole_terms & bag:
                continue
            score += 1.0
        out.append((score, block))
    out.sort(key=lambda sb: sb[0], reverse=True)
    return out


def _answer_ask(
    question: str,
    qvec: np.ndarray,
    hits: list[Hit],
    index: KnowledgeIndex,
    book: CitationBook,
    blocks: list[Block],
    block_vectors: np.ndarray | None,
    k: int,
    floor: float,
    used: set[str],
    whole: str,
) -> str:
    """One ask of the `whole` question answered: a matching list or field line whole, with
    the best sentences."""
    outlines = {h.chunk.id: outline(h.chunk.text) for h in hits}
    candidates = [
        c
        for c in _shape_adjusted(question, score_units(question, qvec, hits, index), outlines)
        if c.unit.text not in used
    ]
    best_sentence = candidates[0].score if candidates else 0.0
    scored_blocks = _block_scores(question, qvec, hits, blocks, block_vectors, index, whole)
    block = None
    if scored_blocks:
        score, top = scored_blocks[0]
        if score >= max(floor, best_sentence - BLOCK_MARGIN) and top.quote not in used:
            block = (score, top)
    pieces: list[tuple[float, str]] = []
    if block is not None:
        score, top = block
        inside = " ".join(top.items) + top.lead
        candidates = [c for c in candidates if c.unit.text not in inside]
        unit = UnitRecord(top.hit.chunk.id, top.quote, "block", -1, -1)
        n = book.cite(Scored(unit, top.hit, score))
        pieces.append((score, top.render(f"[{n}]")))
        used.update([top.quote, top.lead, *top.items])
        # A list answers its ask whole; in a question of several asks, that ask is done.
        k = (0 if whole != question else min(k - 1, 2)) if top.kind == "list" else k - 1
    if (
        block is None
        and candidates
        and _defines(_definition_subject(question), candidates[0].unit.text)
    ):
        k = min(k, DEFINITION_UNITS)  # a definition, then what most nearly adds to it
    chosen = pick(candidates, index, k, floor, question) if k > 0 else []
    chosen = _with_section(chosen, candidates, outlines, k + 1)
    chosen = with_continuations(chosen, index)
    used.update(c.unit.text for c in chosen)
    if chosen:
        pieces.append((chosen[0].score, compose(chosen, index, book)))
    pieces.sort(key=lambda p: p[0], reverse=True)
    return "\n".join(text for _, text in pieces)
