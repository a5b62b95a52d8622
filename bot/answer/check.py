"""Stage 4, check an LLM's answer against the passages it was given.

The model's [n] markers are not trusted: every sentence is matched (embedding similarity) to
the quotable units of the passages. A supported sentence is cited with the passage that
supports it (the model's own number when that passage does) and quoted verbatim; a sentence
no passage supports gets no marker and no quote. An answer with no supported sentence is
rejected, and the pipeline answers locally instead (degraded, with the reason).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.answer.compose import abstain
from bot.answer.prompt import NOT_COVERED, cited_numbers
from bot.answer.retrieve import Hit, KnowledgeIndex, UnitRecord
from bot.runtime.schema import Answer, Citation
from bot.runtime.text import sentences

Embed = Callable[[list[str]], np.ndarray]

# Cosine similarity (MiniLM) from which a sentence counts as supported by a passage unit.
# Paraphrases of a unit score about 0.6-0.9, sentences on another topic below 0.4.
SUPPORT_FLOOR = 0.55
_MARKER = re.compile(r"\s*\[\d{1,3}\]")
_END = re.compile(r"^(.*?)([.!?…:;]*)$", re.S)


class UnsupportedAnswer(ValueError):
    """No sentence of the LLM's answer is supported by its passages."""


@dataclass
class Support:
    """The passage (1-based) and unit that best support one sentence, and how well."""

    n: int
    unit: UnitRecord
    score: float


def _candidates(kept: list[Hit], index: KnowledgeIndex) -> list[tuple[int, UnitRecord]]:
    return [
        (n, unit)
        for n, hit in enumerate(kept, 1)
        for unit in index.units_of(hit.chunk.id)
        # headings, questions and fragments state nothing that could support a claim
        if unit.kind != "heading" and not unit.text.endswith("?") and len(unit.text.split()) >= 4
    ]


def support_of(
    claims: list[str], kept: list[Hit], index: KnowledgeIndex, embed: Embed
) -> list[list[Support]]:
    """For each claim, its supporting units (score ≥ floor), best first."""
    units = _candidates(kept, index)
    if not claims or not units:
        return [[] for _ in claims]
    sims = embed(claims) @ index.unit_vectors[[u.row for _, u in units]].T
    out = []
    for row in sims:
        order = np.argsort(-row)
        out.append(
            [
                Support(units[j][0], units[j][1], float(row[j]))
                for j in order
                if row[j] >= SUPPORT_FLOOR
            ]
        )
    return out


def _with_marker(sentence: str, n: int) -> str:
    body, end = _END.match(sentence).groups()  # type: ignore[union-attr]
    return f"{body.rstrip()} [{n}]{end}"


def repair(
    text: str, kept: list[Hit], index: KnowledgeIndex, embed: Embed, finish_reason: str | None
) -> tuple[str, list[Citation]]:
    """The answer re-cited sentence by sentence; `UnsupportedAnswer` if nothing is supported."""
    lines = [sentences(line.strip()) if line.strip() else [] for line in text.splitlines()]
    if finish_reason == "length" and lines and lines[-1] and lines[-1][-1][-1:] not in ".!?…":
        lines[-1].pop()  # cut off by the token limit: drop the unfinished sentence
    flat = [s for line in lines for s in line]
    claims = [_MARKER.sub("", s).strip() for s in flat]
    # A lead-in ("The objectives are:") or a fragment claims nothing itself: left uncited.
    checkable = [i for i, c in enumerate(claims) if len(c.split()) >= 4 and not c.endswith(":")]
    found = support_of([claims[i] for i in checkable], kept, index, embed)
    support = dict(zip(checkable, found, strict=True))
    book: dict[int, Citation] = {}
    out_lines, i = [], 0
    for line in lines:
        parts = []
        for sentence in line:
            claim, options = claims[i], support.get(i, [])
            wanted = [n for n in cited_numbers(sentence) if 1 <= n <= len(kept)]
            chosen = next((s for s in options if s.n in wanted), options[0] if options else None)
            if chosen is None:
                parts.append(claim)
            else:
                hit = kept[chosen.n - 1]
                book.setdefault(
                    chosen.n,
                    Citation(
                        n=chosen.n,
                        source=hit.chunk.source,
                        title=hit.chunk.title,
                        quote=chosen.unit.text,
                        score=round(chosen.score, 4),
                        section=hit.chunk.section,
                    ),
                )
                parts.append(_with_marker(claim, chosen.n))
            i += 1
        out_lines.append(" ".join(parts))
    if not book:
        raise UnsupportedAnswer("the LLM's answer is not supported by the passages it was given")
    repaired = re.sub(r"\n{3,}", "\n\n", "\n".join(out_lines)).strip()
    return repaired, sorted(book.values(), key=lambda c: c.n)


def checked_rationale(
    rationale: str, kept: list[Hit], index: KnowledgeIndex, embed: Embed
) -> tuple[str, list[Citation]]:
    """A classification's rationale re-cited like an answer; one no passage supports keeps
    its words but loses its markers and gets no quote."""
    try:
        return repair(rationale, kept, index, embed, "stop")
    except UnsupportedAnswer:
        return _MARKER.sub("", rationale).strip(), []


def checked_llm_answer(
    text: str,
    kept: list[Hit],
    index: KnowledgeIndex,
    embed: Embed,
    fallback_titles: Callable[[], list[str]],
    finish_reason: str | None = "stop",
) -> Answer:
    """The LLM's answer re-cited against its passages, or its abstention; raises
    `UnsupportedAnswer` when the local answer should replace it."""
    if NOT_COVERED in text.lower():
        return abstain(kept, "openai", index, fallback_titles)
    repaired, citations = repair(text, kept, index, embed, finish_reason)
    return Answer(answer=repaired, citations=citations, backend="openai")
