"""Stage 3c, classify an initiative: refuse text that is not one, then the LLM's structured
verdict (checked like an answer) or the local corpus-grounded classifier, within the
request's deadline; an LLM failure falls back to the local verdict, degraded.

What this stage needs from the pipeline comes in one small explicit object, `Classifying`,
rather than by reaching into `KnowledgeBot`: the embedder, the classifier with the working set
its prototypes were read into, a fresh working set, retrieval, the deadline-bounded wait for
store calls, the LLM client and the not-an-initiative floor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from bot.answer.check import checked_rationale
from bot.answer.classify import InitiativeClassifier
from bot.answer.deadline import Deadline, DeadlineExceeded
from bot.answer.generate import LlmBackend, LlmError
from bot.answer.respond import degrade
from bot.answer.retrieve import Hit, KnowledgeIndex
from bot.answer.route import looks_like_initiative
from bot.answer.verdict import classification_answer, local_verdict_answer, not_an_initiative
from bot.runtime.schema import Answer

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Classifying:
    """The pipeline's ports that classifying uses."""

    embed: Callable[[list[str]], np.ndarray]
    # The classifier and the working set its prototypes were read into (in memory).
    classifier: Callable[[], tuple[InitiativeClassifier, KnowledgeIndex]]
    index: Callable[[], KnowledgeIndex]
    search: Callable[[str, np.ndarray], list[Hit]]  # the question's passages (top k)
    wait: Callable[[Callable[[], Any], Deadline, str], Any]  # a store call within the deadline
    llm: Callable[[], LlmBackend]
    initiative_floor: float


def classify_initiative(port: Classifying, initiative: str, backend: str, dl: Deadline) -> Answer:
    """The classification Answer for `initiative` (or the plain "not an initiative" reply)."""
    port = replace(port, embed=_embedding_once(port.embed))  # each stage embeds the initiative
    classifier, _ = port.classifier()  # prototypes in memory: no store call
    if not is_initiative(port, initiative, classifier):
        return not_an_initiative(initiative)
    reason = _store_reachable(port, dl)
    if backend == "openai":
        try:
            return _classify_llm(port, initiative, dl)
        except Exception as exc:
            log.warning("LLM classification failed, falling back to local: %s", exc)
            known = isinstance(exc, LlmError | DeadlineExceeded)
            llm_reason = (
                str(exc) if known else f"the LLM classification failed ({type(exc).__name__})"
            )
            return degrade(_classify_local(port, initiative, reason), llm_reason)
    return _classify_local(port, initiative, reason)


def _embedding_once(
    embed: Callable[[list[str]], np.ndarray],
) -> Callable[[list[str]], np.ndarray]:
    """`embed` remembering its vectors for one request (the refusal check, the verdict and
    the LLM path all start from the initiative's vector; one embedding is ~40% of a request)."""
    memo: dict[str, np.ndarray] = {}

    def embed_once(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, np.asarray(embed(missing), dtype=np.float32), strict=True))
        return np.stack([memo[t] for t in texts]) if texts else np.asarray(embed([]))

    return embed_once


def is_initiative(port: Classifying, text: str, classifier: InitiativeClassifier) -> bool:
    """Whether text reads as an initiative and lies anywhere near IT or digital work."""
    if not looks_like_initiative(text):
        return False
    return classifier.nearness(port.embed([text])[0]) >= port.initiative_floor


def _store_reachable(port: Classifying, dl: Deadline) -> str | None:
    """None, or why the vector store could not be reached within the deadline (the local
    verdict then says it is degraded)."""
    try:
        port.wait(port.index, dl, "the vector store")
        return None
    except DeadlineExceeded as exc:
        return exc.reason


def _classify_local(port: Classifying, initiative: str, reason: str | None) -> Answer:
    classifier, index = port.classifier()
    verdict = classifier.classify(initiative, port.embed)
    result = local_verdict_answer(initiative, verdict, classifier, index)
    return degrade(result, reason) if reason else result


def _classify_llm(port: Classifying, initiative: str, dl: Deadline) -> Answer:
    qvec = port.embed([initiative])[0]
    hits = port.wait(lambda: port.search(initiative, qvec), dl, "the vector store")
    result, kept = port.llm().classify(initiative, hits, dl)
    rationale, citations = checked_rationale(result.rationale, kept, port.index(), port.embed)
    return classification_answer(
        initiative, result.label, result.confidence, rationale, citations, "openai"
    )
