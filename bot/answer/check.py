"""Stage 4, check an LLM's output against the passages it was given: every [n] marker becomes
a citation whose quote is verbatim text of passage n; an out-of-range marker cites nothing."""

from __future__ import annotations

import numpy as np

from bot.answer.compose import abstain, first_sentence, score_units
from bot.answer.generate import NOT_COVERED, cited_numbers
from bot.answer.retrieve import Hit, KnowledgeIndex
from bot.runtime.schema import Answer, Citation


def cite_passages(
    text: str,
    kept: list[Hit],
    question: str,
    qvec: np.ndarray,
    index: KnowledgeIndex,
    default: list[int] | None = None,
) -> list[Citation]:
    """Citations for the [n] markers of an LLM's text; each quote is the passage's unit that
    best matches the question (verbatim chunk text, whatever the model wrote)."""
    citations = []
    for n in cited_numbers(text) or (default or []):
        if 1 <= n <= len(kept):
            hit = kept[n - 1]
            best = score_units(question, qvec, [hit], index)
            citations.append(
                Citation(
                    n=n,
                    source=hit.chunk.source,
                    title=hit.chunk.title,
                    quote=best[0].unit.text if best else first_sentence(hit, index),
                    score=round(hit.dense, 4),
                    section=hit.chunk.section,
                )
            )
    return citations


def checked_llm_answer(
    question: str,
    qvec: np.ndarray,
    text: str,
    kept: list[Hit],
    index: KnowledgeIndex,
    fallback_titles: list[str],
) -> Answer:
    """The LLM's answer with citations checked against its passages (or its abstention)."""
    if NOT_COVERED in text.lower():
        return abstain(kept, "openai", index, fallback_titles)
    citations = cite_passages(text, kept, question, qvec, index)
    return Answer(answer=text, citations=citations, backend="openai")
