"""Feedback that changes ranking: documents voted 👎 for similar past questions are demoted.

Votes live in the state database (shared by replicas). For each voted question this keeps a
net per-document count: +1 for every 👎 on an answer citing the document (half for
"incomplete", where the cited document was right but not enough), -1 for every 👍, each
scaled by the document's share of the answer's citations. At answer time the question is
compared with the voted questions by embedding; the counts of similar ones (weighted by
similarity) demote the matching documents' hits by a bounded factor, so repeated 👎 push a
document below its peers for that kind of question but never remove it. A 👍 only cancels
👎; it never promotes a document above what retrieval gave it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bot.answer.retrieve import Hit
from bot.runtime.feedback_store import FeedbackRecord, FeedbackStore
from bot.runtime.state import load_question_vectors, save_question_vectors

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0  # how often a process asks the database whether votes changed
# Cosine similarity between a new and a voted question: below SIMILAR_FROM a vote does not
# apply, from SIMILAR_FULL on it applies fully. Measured with MiniLM on the dev split's
# knowledge questions: pairs about different documents have a median of 0.42 and a 90th
# percentile of 0.61; rephrasings of one question score 0.85-0.94.
SIMILAR_FROM = 0.7
SIMILAR_FULL = 0.85
MAX_DEMOTION = 0.5  # a document's fused score is never cut by more than half
HALF_VOTES = 2.0  # net weighted 👎 at which half of MAX_DEMOTION applies
REASON_WEIGHT = {"incomplete": 0.5}  # other reasons (and none) weigh 1


@dataclass(frozen=True)
class _Signals:
    vectors: np.ndarray  # one row per voted question
    net: list[dict[str, float]]  # per question: document source -> net weighted 👎


def _shares(citations: list[dict[str, Any]]) -> dict[str, float]:
    """How much of an answer each cited document carries: its citations relative to the most
    cited one (1.0), so a vote weighs most on the document the answer leaned on."""
    counts = Counter(str(c["source"]) for c in citations if c.get("source"))
    top = max(counts.values(), default=0)
    return {source: n / top for source, n in counts.items()}


def _net_by_question(records: list[FeedbackRecord]) -> dict[str, dict[str, float]]:
    """Per voted question, the net weighted 👎 of each cited document."""
    out: dict[str, dict[str, float]] = {}
    for record in records:
        question = record.question.strip()
        shares = _shares(record.citations)
        if not question or not shares:
            continue
        weight = -1.0 if record.vote == "up" else REASON_WEIGHT.get(record.reason or "", 1.0)
        counts = out.setdefault(question, {})
        for source, share in shares.items():
            counts[source] = counts.get(source, 0.0) + weight * share
    return out


def demotion(net_votes: float) -> float:
    """The factor a document's score is multiplied by: 1 without net 👎, ≥ 1 - MAX_DEMOTION."""
    if net_votes <= 0:
        return 1.0
    return 1.0 - MAX_DEMOTION * net_votes / (net_votes + HALF_VOTES)


class FeedbackPrior:
    """Re-ranks retrieved hits with the 👍/👎 votes of similar past questions."""

    def __init__(
        self,
        open_store: Callable[[], FeedbackStore],
        embed: Callable[[list[str]], np.ndarray],
        model: Callable[[], str],
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._open_store = open_store
        self._embed = embed
        self._model = model
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._store: FeedbackStore | None = None
        self._version: tuple[int, float] | None = None
        self._signals: _Signals | None = None
        self._vectors: dict[str, np.ndarray] = {}  # question -> embedding, computed once
        self._checked = float("-inf")
        self._failing = False

    def _current(self) -> _Signals | None:
        """The signals as they are now; when they are due for a check, one background thread
        reloads them (embedding newly voted questions), so no request waits for it."""
        due = time.monotonic() - self._checked >= self.refresh_seconds
        if due and self._lock.acquire(blocking=False):
            self._checked = time.monotonic()
            threading.Thread(
                target=self._refresh_locked, name="kb-feedback-prior", daemon=True
            ).start()
        return self._signals

    def refresh(self) -> None:
        """Read the votes now and wait for them (start-up, tests, benchmarks)."""
        with self._lock:
            self._reload_logged()
            self._checked = time.monotonic()

    def _refresh_locked(self) -> None:
        try:
            self._reload_logged()
        finally:
            self._checked = time.monotonic()
            self._lock.release()

    def _reload_logged(self) -> None:
        try:
            self._reload()
            self._failing = False
        except Exception as exc:  # votes are a refinement: answer without them
            # once per outage at warning level, not every few seconds
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "feedback votes unavailable for ranking: %s", exc)
            self._failing = True

    def _reload(self) -> None:
        if self._store is None:
            self._store = self._open_store()
        version = self._store.votes_version()
        if version == self._version:
            return
        net = _net_by_question(self._store.records())
        questions = [q for q, counts in net.items() if any(v > 0 for v in counts.values())]
        missing = [q for q in questions if q not in self._vectors]
        if missing:  # another replica (or an earlier run) may have embedded them already
            model = self._model()
            self._vectors.update(load_question_vectors(self._store.engine, model, missing))
            new = [q for q in missing if q not in self._vectors]
            if new:
                embedded = dict(zip(new, self._embed(new), strict=True))
                save_question_vectors(self._store.engine, model, embedded)
                self._vectors.update(embedded)
        self._signals = (
            _Signals(np.stack([self._vectors[q] for q in questions]), [net[q] for q in questions])
            if questions
            else None
        )
        self._version = version

    def net_votes(self, question_vector: np.ndarray) -> dict[str, float]:
        """Net weighted 👎 per document for questions like this one (empty without votes)."""
        signals = self._current()
        if signals is None:
            return {}
        similarity = signals.vectors @ question_vector
        weights = np.clip((similarity - SIMILAR_FROM) / (SIMILAR_FULL - SIMILAR_FROM), 0, 1)
        out: dict[str, float] = {}
        for i in np.flatnonzero(weights):  # only the similar questions, not every voted one
            for source, votes in signals.net[i].items():
                out[source] = out.get(source, 0.0) + float(weights[i]) * votes
        return out

    def rerank(self, question_vector: np.ndarray, hits: list[Hit]) -> list[Hit]:
        """`hits` with voted-down documents demoted, best first (unchanged without votes)."""
        net = self.net_votes(question_vector)
        factors = {h.chunk.id: demotion(net.get(h.chunk.source, 0.0)) for h in hits}
        if all(f == 1.0 for f in factors.values()):
            return hits
        demoted = [replace(h, fused=h.fused * factors[h.chunk.id]) for h in hits]
        demoted.sort(key=lambda h: h.fused, reverse=True)
        return [replace(h, rank=rank) for rank, h in enumerate(demoted)]
