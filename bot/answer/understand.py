"""Stage 1, understand the question: validate and normalise it, turn a follow-up into
standalone readings, and split long or padded questions into their parts."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable

from bot.runtime.schema import Turn
from bot.runtime.terms import terms

log = logging.getLogger(__name__)

# "IT" in capitals is the acronym ("what about IT strategy?"), never the pronoun.
_PRONOUN = re.compile(r"\b(?!IT\b|ITS\b)(?i:it|its|it's|this|that|they|them|their|these|those)\b")
_FOLLOW_UP_LEAD = re.compile(
    r"^\s*(and|also|so|what about|how about|and what about|ok and)\b", re.IGNORECASE
)
_QUESTION_LEAD = re.compile(
    r"^\s*(?:(?:so|and|ok|hey)[, ]+)?(?:what(?:'s| is| are| does| do| drives| defines| causes| makes)?|"
    r"who(?:'s| is| owns| runs| leads)?|how (?:is|are|does|do)|"
    r"why (?:is|are|does|do)|tell me about|explain|define|describe)\s+(?:the\s+|an?\s+)?",
    re.IGNORECASE,
)
MAX_READINGS_FROM_PARTS = 8


class QuestionError(ValueError):
    """A question that cannot be answered as given (empty, too long…)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def clean_question(question: str) -> str:
    """Normalise user text: Unicode NFKC, no control characters, Slack/HTML markup removed."""
    text = unicodedata.normalize("NFKC", question.encode("utf-8", "replace").decode("utf-8"))
    text = re.sub(r"<[@#!][^>]*>", " ", text)  # Slack mentions, channels, specials
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL)
    text = re.sub(r"</?[a-zA-Z][^>]*>", " ", text)  # HTML tags
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def validate_question(question: object, max_chars: int) -> str:
    """The cleaned question, or QuestionError saying what is wrong."""
    if not isinstance(question, str):
        raise QuestionError("invalid_question", "the question must be a string")
    if len(question) > max_chars:
        raise QuestionError(
            "question_too_long",
            f"the question is {len(question):,} characters; the limit is "
            f"{max_chars:,} (KB_MAX_QUESTION_CHARS)",
        )
    cleaned = clean_question(question)
    if not cleaned:
        raise QuestionError("empty_question", "the question is empty")
    return cleaned


_DO_SUPPORT = re.compile(
    r"^(?:did|does|do|will|would|can|could|should|has|have|had)\s+(?P<subject>.+?)\s+\w+$",
    re.IGNORECASE,
)


def subject_of(question: str) -> str:
    """The topic of a question ("What is digital transformation?" → "digital transformation";
    "What did the assessment find?" → "the assessment": with an auxiliary, the last word is
    the main verb)."""
    subject = _QUESTION_LEAD.sub("", question.strip()).strip(" ?.!")
    support = _DO_SUPPORT.match(subject)
    return support.group("subject") if support else subject


def _replace_pronoun(question: str, subject: str) -> str:
    def swap(match: re.Match[str]) -> str:
        return f"{subject}'s" if match.group(0).lower() in {"its", "their"} else subject

    return _PRONOUN.sub(swap, question, count=1)


_ORDINALS = {
    "first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
    "fifth": 4, "5th": 4, "sixth": 5, "6th": 5, "last": -1, "final": -1,
}  # fmt: skip
_ORDINAL = re.compile(
    rf"\b(?:the\s+)?(?P<nth>{'|'.join(_ORDINALS)})(?:\s+(?P<noun>[a-z]+))?\b", re.IGNORECASE
)
_ANY_ONE = {"one", "item", "point", "bit", "part", "option", "thing"}
_INLINE = re.compile(r"(?:^|\s)\(?\d{1,2}\)\s+(.+?)(?=,?\s+(?:and\s+)?\(?\d{1,2}\)\s|$)", re.S)
_LINE = re.compile(r"^\s*(?:[•*-]|\d{1,2}[.)])\s+(.+)$", re.M)


def listed_items(text: str) -> list[str]:
    """The items an answer listed ("1) A, 2) B", or one "• item" per line), else its
    sentences; citation markers dropped."""
    text = re.sub(r"\s*\[\d+\]", "", text).strip()
    for pattern in (_INLINE, _LINE):
        items = [i.strip(" ,;.") for i in pattern.findall(text)]
        if len(items) >= 2:
            return items
    return [p.strip() for p in re.split(r"(?<=[.!?])\s+", text) if p.strip()]


def _resolve_ordinal(question: str, history: list[Turn]) -> str | None:
    """ "explain the second one" → "explain <the second item of the last answer>"; the
    ordinal stands alone, or names a kind of thing the conversation spoke of ("the second
    difference" after "the three differences")."""
    answer = next((t.content for t in reversed(history) if t.role == "assistant"), "")
    said = {w[:5] for turn in history[-2:] for w in re.findall(r"[a-z]{3,}", turn.content.lower())}
    for match in _ORDINAL.finditer(question):
        noun = (match.group("noun") or "").lower()
        if noun and noun not in _ANY_ONE and noun[:5] not in said:
            continue  # "the first step of a plan" asks about something else
        end = match.end()
        items = listed_items(answer) if answer else []
        nth = _ORDINALS[match.group("nth").lower()]
        if len(items) < 2 or nth >= len(items):
            return None
        rest = f"{question[: match.start()]} {question[end:]}"
        if not terms(rest):  # "explain the second one": the item is the whole question
            return items[nth]
        return f"{question[: match.start()]}{items[nth]}{question[end:]}".strip()
    return None


def _is_follow_up(question: str) -> bool:
    return bool(
        _PRONOUN.search(question) or _FOLLOW_UP_LEAD.match(question) or len(terms(question)) <= 3
    )


def conversation_subject(history: list[Turn]) -> str:
    """The topic of the conversation: the subject of the last question, or, when that was a
    follow-up itself ("how often should it be updated?"), of the question it followed."""
    users = [i for i, turn in enumerate(history) if turn.role == "user"]
    if not users:
        return ""
    previous = clean_question(history[users[-1]].content)
    if _is_follow_up(previous) and len(users) > 1:
        earlier = conversation_subject(history[: users[-1]])
        if earlier:
            return earlier
    return subject_of(previous)


def condense_locally(question: str, history: list[Turn]) -> list[str]:
    """Standalone readings of a follow-up, most likely first ("and who owns it?" →
    "and who owns digital transformation?"; "explain the second one" → the second item of
    the previous answer)."""
    ordinal = _resolve_ordinal(question, history)
    if ordinal:  # "explain the second one" asks about that item, not the list again
        return [ordinal]
    subject = conversation_subject(history)
    if not subject:
        return [question]
    readings = []
    if _PRONOUN.search(question):
        readings.append(_replace_pronoun(question, subject))
    readings.append(f"{question.rstrip(' ?')} ({subject})?")
    if not _is_follow_up(question):
        readings.append(question)  # may well stand on its own
    return readings


def question_parts(question: str) -> list[str]:
    """The sentences of a long or multi-part question (padding and injected instructions
    then cannot drown the real question)."""
    parts = [p.strip() for p in re.split(r"(?<=[.?!:;])\s+|\n+", question) if len(p.split()) >= 3]
    if len(parts) <= 1:
        return []
    # Questions first, then the end (where a padded question usually sits), then the start.
    ordered = [p for p in parts if p.endswith("?")] + parts[::-1][:3] + parts[:3]
    return list(dict.fromkeys(ordered))[:MAX_READINGS_FROM_PARTS]


def standalone_readings(
    question: str,
    history: list[Turn] | None,
    condense: Callable[[str, list[Turn]], str] | None = None,
) -> list[str]:
    """Query readings to try, the primary (used for routing) first. `condense` (the LLM's
    rewrite of a follow-up) is tried first when given; the local readings follow it."""
    readings = [question]
    if history:
        readings = condense_locally(question, history)
        if condense is not None:
            try:
                readings = [str(condense(question, history)), *readings]
            except Exception as exc:
                log.warning("condense via LLM failed, condensing locally: %s", exc)
    readings += question_parts(readings[0])
    return list(dict.fromkeys(readings))
