"""One request's evidence, gathered within its deadline, and the LLM answer streamed, checked
and (on any failure) replaced by the local answer with the reason said in the stream too."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.answer.calibration import Calibration
from bot.answer.check import UnsupportedAnswer, checked_llm_answer
from bot.answer.deadline import Deadline, DeadlineExceeded, bounded, direct
from bot.answer.evidence import Evidence, weigh_readings
from bot.answer.generate import LlmBackend
from bot.answer.llm_client import LlmError
from bot.answer.retrieve import Hit, KnowledgeIndex, pool_size
from bot.runtime.schema import Answer, Turn

log = logging.getLogger(__name__)

Search = Callable[..., list[Hit]]  # (query, vector, k[, dense, lexical_ahead]) → hits
Wait = Callable[..., Any]  # `bounded` (Chroma server) or `direct` (embedded Chroma)
OFFLINE = "Here is the offline answer instead."


@dataclass
class Gathered:
    """What one request knows once retrieval is done."""

    deadline: Deadline
    index: KnowledgeIndex
    evidence: Evidence
    hits: list[Hit]
    search: Search  # for later searches (comparisons): Chroma while time is left, else BM25
    stalled: str | None = None  # why retrieval fell back to BM25 (the store did not answer)

    def titles(self) -> list[str]:
        """Titles of the first documents (named when kb abstains with no hits; read only
        then)."""
        corpus = self.index.corpus
        firsts = [chunk_id for _, _, chunk_id in corpus.lexical.sources(limit=3)]
        found = corpus.cached_chunks(firsts) if self.stalled else corpus.chunks(firsts)
        return [found[c].title for c in firsts if c in found]


def lexical_hits(
    index: KnowledgeIndex, query: str, k: int, read_through: bool = False
) -> list[Hit]:
    """BM25-only hits from the lexical index: the fallback when Chroma does not answer in
    time. Only chunks already in memory, unless `read_through` (embedded Chroma, which cannot
    hang) allows reading them."""
    ranked = [(cid, score) for cid, score in index.corpus.lexical.search(query, 4 * k) if score > 0]
    ids = [cid for cid, _ in ranked]
    found = index.corpus.chunks(ids) if read_through else index.corpus.cached_chunks(ids)
    ranked = [(cid, score) for cid, score in ranked if cid in found][:k]
    if not ranked:
        return []
    top = ranked[0][1]
    index.chunk_map.update({cid: found[cid] for cid, _ in ranked})
    return [
        Hit(found[cid], score / top, 0.0, score / top, rank)
        for rank, (cid, score) in enumerate(ranked)
    ]


def deadline_search(
    search: Search, index: KnowledgeIndex, deadline: Deadline, wait: Wait = bounded
) -> Search:
    """`search` bounded by the deadline, falling back to BM25 once it has run out."""

    def run(query: str, vector: np.ndarray, k: int) -> list[Hit]:
        try:
            return wait(lambda: search(query, vector, k), deadline, "the vector store")
        except DeadlineExceeded:
            return lexical_hits(index, query, k)

    return run


def gather(
    readings: list[str],
    vectors: np.ndarray,
    deadline: Deadline,
    current_index: Callable[[], KnowledgeIndex],
    search: Search,
    last_index: KnowledgeIndex,
    calibration: Calibration,
    top_k: int,
    wait: Wait = bounded,
    lexical_ahead: Future[Any] | None = None,
) -> Gathered:
    """The best reading's evidence and hits, each Chroma call bounded by the deadline; when
    Chroma does not answer in time, BM25 over `last_index` (the index in memory) instead, and
    `stalled` says why (the answer is then degraded)."""
    stalled = None
    # Embedded Chroma runs in this process and cannot freeze: past the deadline it may still be
    # read directly. A server may hang, so then only what is in memory is used.
    read_through = wait is direct
    try:
        index = wait(current_index, deadline, "the vector store")
        evidence = wait(
            lambda: weigh_readings(readings, vectors, index, calibration, pool_size(top_k)),
            deadline,
            "the vector store",
        )
        ahead = lexical_ahead if evidence.question == readings[0] else None  # started for it
        hits = wait(
            lambda: search(evidence.question, evidence.vector, top_k, evidence.dense, ahead),
            deadline,
            "the vector store",
        )
    except DeadlineExceeded as exc:
        stalled = f"{exc.reason}; answered from keyword search only"
        index = last_index
        if read_through:
            evidence = weigh_readings(readings, vectors, index, calibration, pool_size(top_k))
        else:  # no sentence search without the store: keyword hits decide
            evidence = Evidence(readings[0], vectors[0], calibration.abstain_below)
        hits = lexical_hits(index, evidence.question, top_k, read_through)
    return Gathered(
        deadline, index, evidence, hits, deadline_search(search, index, deadline, wait), stalled
    )


def degrade(result: Answer, reason: str) -> Answer:
    """Mark an answer as the fallback, with the reason."""
    result.degraded = True
    result.degraded_reason = reason
    return result


def words(text: str) -> Iterator[str]:
    """A finished answer as stream pieces (word by word)."""
    yield from (piece for piece in re.split(r"(?<=\s)", text) if piece)


def llm_answer(
    llm: LlmBackend,
    gathered: Gathered,
    question: str,
    history: list[Turn] | None,
    embed: Callable[[list[str]], np.ndarray],
    local: Callable[[], Answer],
) -> Iterator[str | Answer]:
    """The LLM's answer as it streams, then the checked `Answer`. When the model fails, runs
    out of time, is cancelled, or its answer cannot be supported by the passages, the stream
    says so and continues with the local answer (degraded, with the reason)."""
    sent: list[str] = []
    try:
        chat, kept = llm.stream(question, history, gathered.hits, gathered.deadline)
        for piece in chat:
            sent.append(piece)
            yield piece
        text = "".join(sent).strip()
        if not text:
            raise LlmError("the LLM sent an empty answer")
        result = checked_llm_answer(
            text, kept, gathered.index, embed, gathered.titles, chat.finish_reason
        )
        if result.abstained:
            yield ("\n\n" if sent else "") + result.answer
        yield result
        return
    except (LlmError, UnsupportedAnswer) as exc:
        reason = str(exc)
    except Exception as exc:  # a bug or an unexpected client error: still answer
        log.exception("LLM answer failed unexpectedly")
        reason = f"the LLM call failed ({type(exc).__name__})"
    log.warning("LLM answer replaced by the local answer: %s", reason)
    if not sent:
        notice = f"(The language model could not answer: {reason}. {OFFLINE})\n\n"
    else:
        notice = f"\n\n(The language model's answer was not usable: {reason}. {OFFLINE})\n\n"
    yield notice
    result = degrade(local(), reason)
    yield from words(result.answer)
    yield result
