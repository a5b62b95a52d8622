"""Stage 3c, classify an initiative: refuse text that is not one, then the LLM's structured
verdict (checked like an answer) or the local corpus-grounded classifier, within the
request's deadline; an LLM failure falls back to the local verdict, degraded."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.answer.check import checked_rationale
from bot.answer.classify import InitiativeClassifier
from bot.answer.deadline import Deadline, DeadlineExceeded
from bot.answer.generate import LlmError
from bot.answer.respond import degrade
from bot.answer.retrieve import KnowledgeIndex
from bot.answer.route import looks_like_initiative
from bot.answer.verdict import classification_answer, local_verdict_answer, not_an_initiative
from bot.runtime.schema import Answer

if TYPE_CHECKING:
    from bot.answer.pipeline import KnowledgeBot

log = logging.getLogger(__name__)


def classify_initiative(bot: KnowledgeBot, initiative: str, backend: str, dl: Deadline) -> Answer:
    """The classification Answer for `initiative` (or the plain "not an initiative" reply)."""
    index, reason = _index_within(bot, dl)
    if not is_initiative(bot, initiative, bot.classifier(index)):
        return not_an_initiative(initiative)
    if backend == "openai":
        try:
            return _classify_llm(bot, initiative, dl)
        except Exception as exc:
            log.warning("LLM classification failed, falling back to local: %s", exc)
            known = isinstance(exc, LlmError | DeadlineExceeded)
            llm_reason = (
                str(exc) if known else f"the LLM classification failed ({type(exc).__name__})"
            )
            return degrade(_classify_local(bot, initiative, index, reason), llm_reason)
    return _classify_local(bot, initiative, index, reason)


def is_initiative(bot: KnowledgeBot, text: str, classifier: InitiativeClassifier) -> bool:
    """Whether text reads as an initiative and lies anywhere near IT or digital work."""
    if not looks_like_initiative(text):
        return False
    vector = bot.embed([text])[0]
    return classifier.nearness(vector) >= bot.calibration.initiative_floor


def _index_within(bot: KnowledgeBot, dl: Deadline) -> tuple[KnowledgeIndex, str | None]:
    """A working set over the index, or (and why) none is to be had within the deadline."""
    try:
        return bot._wait(bot.index, dl, "the vector store"), None
    except DeadlineExceeded as exc:
        return bot.index(), exc.reason


def _classify_local(
    bot: KnowledgeBot, initiative: str, index: KnowledgeIndex, reason: str | None
) -> Answer:
    classifier, index = bot.classifier_and_index()  # prototypes in memory: no store call
    verdict = classifier.classify(initiative, bot.embed)
    result = local_verdict_answer(initiative, verdict, classifier, index)
    return degrade(result, reason) if reason else result


def _classify_llm(bot: KnowledgeBot, initiative: str, dl: Deadline) -> Answer:
    qvec = bot.embed([initiative])[0]
    hits = bot._wait(
        lambda: bot.retriever.search(initiative, qvec, bot.settings.top_k),
        dl,
        "the vector store",
    )
    result, kept = bot._llm_client().classify(initiative, hits, dl)
    index = bot.index()
    rationale, citations = checked_rationale(result.rationale, kept, index, bot.embed)
    return classification_answer(
        initiative, result.label, result.confidence, rationale, citations, "openai"
    )
