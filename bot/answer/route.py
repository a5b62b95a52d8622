"""Routing: is a question an initiative to classify ("IT or digital?"), a comparison, or a
knowledge question? (Off-topic questions are found later, by the weakness of the evidence.)

Hand-written patterns: the phrasings of the classification question are a small closed set
of English frames, and a regex tells us exactly where the initiative text sits inside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["classify", "compare", "knowledge"]

_F = re.IGNORECASE | re.DOTALL
_IT = r"(?:IT|I\.T\.|it)"
# Phrases that ask for the IT-versus-digital decision, anywhere in a question.
_CLASSIFY_SIGNALS = [
    re.compile(
        rf"\b{_IT}\s*(?:initiative|strategy|roadmap|project|thing)?\s*(?:,|or|/)\s*(?:a\s+|an\s+|the\s+)?digital\b(?!\s+marketing)",
        _F,
    ),
    re.compile(
        rf"\bdigital\s*(?:initiative|strategy|roadmap|project)?\s*(?:,|or|/)\s*(?:an\s+|the\s+)?{_IT}\b(?!\s+(?:is|was)\b)",
        _F,
    ),
    re.compile(
        r"\b(?:count|qualify|be considered|be classed)\s+as\s+(?:an?\s+)?(?:digital|IT)\s+(?:transformation|initiative|project)",
        _F,
    ),
    re.compile(r"^\s*(?:please\s+)?(?:classify|categori[sz]e|label|tag)\b", _F),
    re.compile(r"\bhow\s+would\s+you\s+(?:categori[sz]e|classify|label)\b", _F),
    re.compile(r"\bwhich\s+bucket\b", _F),
]
# Frames with the initiative in a known place; first match wins.
_FRAMES = [
    re.compile(
        rf"^(?:is|are|would|does|will)\s+(?P<x>.+?)\s+(?:be\s+)?(?:an?\s+)?{_IT}\s+(?:initiative\s*)?(?:or|,)\s+(?:an?\s+)?digital\b",
        _F,
    ),
    re.compile(
        r"^(?:is|are|would|does|will)\s+(?P<x>.+?)\s+(?:count|qualify|be considered|be classed)\s+as\b",
        _F,
    ),
    re.compile(
        rf"^(?:should|do|can|would)\s+we\s+(?:file|put|classify|treat|count|book)\s+(?P<x>.+?)\s+(?:under|as|in)\s+(?:the\s+)?{_IT}\b",
        _F,
    ),
    re.compile(rf"^does\s+(?P<x>.+?)\s+belong\s+(?:to|in|under)\s+(?:the\s+)?{_IT}\b", _F),
    re.compile(r"^how\s+would\s+you\s+(?:categori[sz]e|classify|label)\s+(?P<x>.+?)[?.!]*$", _F),
    re.compile(rf"^{_IT}\s+or\s+digital\s*(?:\?|:|-|–|—)\s*(?P<x>.+)$", _F),
    re.compile(r"^(?:please\s+)?(?:classify|categori[sz]e|label|tag)\b[^:]*:\s*(?P<x>.+)$", _F),
    re.compile(
        rf"^(?P<x>.+?)\s*(?:—|–|-|:|\.|,|\?)\s*(?:is\s+(?:it|that|this)\s+)?(?:an?\s+)?{_IT}\s*(?:initiative|strategy)?\s*(?:,|or)\s+(?:a\s+)?digital\b.*$",
        _F,
    ),
]
_LEADS = re.compile(
    r"^(?:(?:quick one|q|question|hey|hi|ok|so|we(?:'re| are) planning this|for the [^:]+?(?:deck|review|report)[^:]*|"
    r"i need to tag this (?:project|initiative))\s*[:,.?]|which bucket[^?]*\?)\s*",
    _F,
)
_TRAILING = re.compile(
    rf"(?:\.|\?|,)?\s*(?:is\s+(?:that|it|this)\s+)?(?:an?\s+)?{_IT}\s+(?:initiative|strategy)?,?\s*(?:or\s+)?(?:a\s+)?digital\b.*$",
    _F,
)
_COMPARE = [
    re.compile(
        r"\bhow\s+(?:does|do|is|are)\s+(?:the\s+)?(?P<aspect>[\w -]{2,30}?)\s+(?:differ|different)\s+(?:between|for)\s+(?:an?\s+|the\s+)?(?P<a>.+?)\s+(?:and|&|vs\.?|versus)\s+(?:an?\s+|the\s+)?(?P<b>[^?.!]+)",
        _F,
    ),
    re.compile(
        r"\bdiff(?:erence|erences|\.)?\s+(?:between|of)\s+(?:an?\s+|the\s+)?(?P<a>.+?)\s+(?:and|&|vs\.?|versus)\s+(?:an?\s+|the\s+)?(?P<b>[^?.!]+)",
        _F,
    ),
    re.compile(
        r"\bhow\s+(?:is|are|does|do)\s+(?:an?\s+|the\s+)?(?P<a>.+?)\s+differ(?:ent)?\s+from\s+(?:an?\s+|the\s+)?(?P<b>.+?)[?.!]*$",
        _F,
    ),
    re.compile(
        r"\bcompare\s+(?:an?\s+|the\s+)?(?P<a>.+?)\s+(?:and|with|to|vs\.?)\s+(?:an?\s+|the\s+)?(?P<b>.+?)[?.!]*$",
        _F,
    ),
    re.compile(
        r"^(?:what(?:'s| is)\s+)?(?:an?\s+|the\s+)?(?P<a>[\w &/-]{2,40}?)\s+(?:vs\.?|versus)\s+(?:an?\s+|the\s+)?(?P<b>[\w &/-]{2,40}?)[?.!]*$",
        _F,
    ),
]


@dataclass(frozen=True)
class Route:
    """What kind of question this is, with the parts later steps need."""

    kind: Kind
    initiative: str = ""
    sides: tuple[str, str] | None = None


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" \t\n\"'“”‘’:;,.?!—–-")
    return text


_SIDE_LEAD = re.compile(r"^(?:what(?:'s|s| is| are)?\s+)?(?:the\s+)?", re.IGNORECASE)


def _side(text: str) -> str:
    """One side of a comparison, without a leading "what's the"."""
    return _tidy(_SIDE_LEAD.sub("", _tidy(text)))


def extract_initiative(question: str) -> str:
    """The initiative named inside a classification question (the question itself if unsure)."""
    text = _tidy(question)
    for _ in range(2):
        text = _LEADS.sub("", text).strip()
    for frame in _FRAMES:
        match = frame.match(text)
        if match and len(_tidy(match.group("x")).split()) >= 2:
            return _tidy(_LEADS.sub("", match.group("x")))
    stripped = _TRAILING.sub("", text)
    return _tidy(stripped) or _tidy(question)


def route(question: str) -> Route:
    """Decide how to handle a question."""
    if any(signal.search(question) for signal in _CLASSIFY_SIGNALS):
        initiative = extract_initiative(question)
        generic = re.fullmatch(
            r"(?:an?\s+|the\s+)?(?:IT|digital)?\s*(?:strategy|transformation|initiative|project)s?",
            initiative,
            re.IGNORECASE,
        )
        question_like = re.match(r"(?:what|who|where|which|when|why|how)\b", initiative, re.I)
        if initiative and not generic and not question_like and len(initiative.split()) >= 2:
            return Route("classify", initiative=initiative)
    for pattern in _COMPARE:
        match = pattern.search(question)
        if match:
            a, b = _side(match.group("a")), _side(match.group("b"))
            # "IT transformation vs digital" means "digital transformation".
            if len(b.split()) == 1 and len(a.split()) > 1 and a.split()[-1].lower() != b.lower():
                b = f"{b} {a.split()[-1]}"
            if a and b and a.lower() != b.lower():
                return Route("compare", sides=(a, b))
    return Route("knowledge")


# Questions about this company's own facts (its budget, policies, people, project status…).
# The knowledge base holds general reference articles, never such facts, so these are
# declined even when they share words with the corpus ("our digital marketing budget").
_INTERNAL_FACT = [
    re.compile(
        r"\b(?:our|my|the company's|the team's)\s+(?:[\w-]+\s+){0,3}(?:budget|spend|policy|policies|password|"
        r"salary|salaries|headcount|deadline|sla|vpn|wifi|wi-fi|laptop|account|login|office|holiday|"
        r"calendar|expenses?|tickets?|invoice|payroll|org chart|phone number|email address)s?\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bwho\s+(?:is|are|was)\s+(?:our|the|my)\s+(?:[\w-]+\s+){0,3}(?:head|cio|cto|ceo|cdo|cmo|manager|"
        r"director|lead|owner|contact|admin)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:status|progress|timeline)\s+of\s+(?:our|my|the)\b", re.IGNORECASE),
    re.compile(
        r"\b(?:last|this|next)\s+(?:quarter|month|week|sprint)\b|\b(?:tomorrow|yesterday)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bhow\s+(?:do|can|should)\s+i\s+(?:reset|reach|contact|request|book|log\s*in|install|get\s+access)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bwhich\s+[\w-]+\s+did\s+we\b|\bdid\s+we\s+(?:pick|choose|select|buy|sign|hire)\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"^\s*(?:can|could|would)\s+you\s+(?:please\s+)?(?:book|schedule|send|order|create|open|file)\b",
        re.IGNORECASE,
    ),
]


def asks_for_internal_fact(question: str) -> bool:
    """True for requests about this company's own facts or for actions, not knowledge."""
    return any(p.search(question) for p in _INTERNAL_FACT)
