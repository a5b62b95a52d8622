"""Routing: is a question an initiative to classify ("IT or digital?"), a comparison, or a
knowledge question? (Off-topic questions are found later, by the weakness of the evidence.)

The "IT or digital?" decision is recognised by its structure, not by a list of phrasings: a
question asks for it when it offers the alternative itself ("IT or digital", "the IT roadmap
or the digital one", "IT, digital or both"), asks whether something counts as IT/digital
work, asks which bucket/roadmap/budget something belongs to, or opens with a classifying
verb. The initiative is what remains once the decision frame is taken out: the question is
cut into pieces (sentences, "lead-in:" parts, dashes); pieces that only carry the frame are
dropped; the scaffolding words at the edges of the rest (auxiliaries, "how would you
classify", "this initiative", "belong to the", "count as") are trimmed. Regular expressions
are used for that scaffolding only: it is a small, closed part of English grammar, whereas the
initiative can be anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["classify", "compare", "knowledge"]

_F = re.IGNORECASE | re.DOTALL
_IT = r"(?:IT|I\.T\.|it|It)"
# One noun may qualify either side of the alternative ("an IT project or a digital one").
_NOUN = (
    r"(?:\s+(?i:initiatives?|projects?|things?|work|items?|efforts?|investments?|roadmaps?|"
    r"budgets?|buckets?|portfolios?|categor(?:y|ies)|side|teams?|spend|programm?es?|changes?|"
    r"transformations?|strateg(?:y|ies)|ones?|matters?|topics?|issues?|jobs?|tasks?|"
    r"departments?|domains?|areas?))?"
)
_ART = r"(?:(?i:an?|the|our|more|mostly|rather|purely|primarily)\s+)?"
_OR = r"(?:\s*,\s*(?:or\s+)?|\s+or\s+|\s*/\s*)"
_BOTH = rf"(?:{_OR}{_ART}(?i:both|neither|something else|either)\b)?"
# What may follow the alternative: the end of a clause, not a noun it modifies ("digital
# marketing" is a discipline, not the IT-or-digital choice).
_END = r"(?=\s*(?:$|[?.!,:;)\]]|[—–-]\s|(?:or|and|for|in|to|on|here|then|initiative|project)\b))"
_ALTERNATIVE = re.compile(
    rf"(?:\b(?:(?i:is)\s+(?i:it|that|this)\s+)?{_ART}(?:{_IT}{_NOUN}{_OR}{_ART}(?i:digital)|(?i:digital){_NOUN}{_OR}{_ART}{_IT})"
    rf"{_NOUN}{_BOTH}{_END})",
    re.DOTALL,
)
_COUNTS_AS = re.compile(
    r"\b(?:count|counts|qualify|qualifies|be\s+(?:considered|classed|classified|treated|seen|booked|filed))"
    r"\s+(?:as|under)\s+(?:an?\s+)?(?:IT|I\.T\.|digital)(?:\s+(?:transformation|initiative|project|work|change))?\b",
    _F,
)
# Who takes a piece of work on: "which team should own X", "who should fund X".
_OWN = r"(?:(?:own|run|lead|fund|handle|deliver|sponsor|drive|manage)s?|pays?\s+for|takes?\s+on)\b"
_WHICH = re.compile(
    r"(?:\b(?:in|on|into|under|from|to)\s+)?\b(?:which|what)\s+"
    r"(?:roadmap|bucket|budget|category|portfolio|pile|column|side|team|label|box|camp|lane)s?\b"
    r"(?:\s+(?:does|do|should|would|will|is|are|could|can|must)\b)?"
    r"(?:\s+(?:you|we|i|they)\s+(?:put|file|place|see|book|assign|log|track)\b)?"
    rf"(?:\s+{_OWN})?",
    _F,
)
_VERB_LEAD = re.compile(
    r"^(?:(?:please|pls|can you|could you|would you|help me)\s+)?"
    r"(?:classify|categori[sz]e|(?:label|tag|bucket|triage|sort)(?=\s*(?::|this|these|that|the following|for me)))\b"
    r"|^how\s+(?:would|should|do|could)\s+(?:you|we|i)\s+(?:classify|categori[sz]e|label|tag|bucket)\b",
    _F,
)
_MENTIONS_IT_OR_DIGITAL = re.compile(r"\b(?:IT|I\.T\.|(?i:digital))\b")
_FRAME_NOUNS = (
    r"(?:roadmap|bucket|budget|category|portfolio|pile|column|side|team|label|box|camp|lane)s?"
)
_WH_LEAD = re.compile(
    r"^\s*(?:(?:what|which)(?!\s+" + _FRAME_NOUNS + r")|who|whom|whose|where|when|why|how)\b"
    r"(?!\s+(?:would|should|do|could)\s+(?:you|we|i)\s+(?:classify|categori[sz]e|label|tag|bucket))",
    _F,
)
# A wh-question that is itself the decision frame: "where does X belong/sit: IT or digital?",
# "who should own X, IT or digital?" (unlike "what is X", which asks about the subject).
_WH_FRAME = re.compile(
    r"^\s*(?:where\s+(?:does|do|should|would|will|could|can|must|is|are)\b.*\b"
    r"(?:belong|belongs|go|goes|sit|sits|fit|fits|land|lands|fall|falls|live|lives)\b"
    rf"|who\s+(?:should|would|will|does|do|must|is\s+going\s+to)\s+{_OWN})",
    _F,
)

# Scaffolding at the edges of a piece once the decision frame is removed.
_LEAD_SCAFFOLD = re.compile(
    r"^(?:"
    r"(?:quick|short|simple|small)\s+(?:one|question|q)|question|q|hey(?:\s+\w+)?|hi(?:\s+\w+)?|hello|ok(?:ay)?|so|well|"
    r"please|pls|thanks|sorry|also|and|but|"
    r"how\s+(?:would|should|do|could)\s+(?:you|we|i)\s+(?:classify|categori[sz]e|label|tag|bucket|see|treat|call)|"
    r"where\s+(?:does|do|should|would|will|could|can|must|is|are)|"
    r"(?:(?:can|could|would)\s+you\s+)?(?:tell\s+me|let\s+me\s+know|say)\s+(?:whether|if)|"
    r"i\s+(?:need|want|would\s+like|'d\s+like)\s+to\s+know\s+(?:whether|if)|"
    r"i\s+(?:wonder|am\s+wondering|was\s+wondering)\s+(?:whether|if)|"
    r"who\s+(?:should|would|will|does|do|must|is\s+going\s+to)\s+" + _OWN + r"|"
    r"(?:help\s+me\s+)?(?:label|tag|sort|triage|bucket)(?:\s+(?:this|these|it))?(?:\s+(?:one|for\s+me|please))?|"
    r"(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:classify|categori[sz]e|label|tag|bucket|say\s+(?:if|whether))|"
    r"(?:classify|categori[sz]e)(?:\s+(?:for\s+me|please))?|"
    r"(?:is|are|was|were|would|will|does|do|did|should|could|can|shall|might)"
    r"(?:\s+(?:we|you|i|they))?(?:\s+(?:say|call|consider|treat|file|put|classify|categori[sz]e|label|tag|count|book|class|see|deem|log|track|place|list))?|"
    r"(?:this|these|the\s+following|the\s+next)(?:\s+(?:initiative|project|item|one|idea|proposal|change|piece\s+of\s+work|work|plan)s?)?|"
    r"(?:that|those|our|my)\s+(?:initiative|project|item|one|idea|proposal|change|piece\s+of\s+work|work|plan)s?|"
    r"(?:this|that|it|here)\s+(?:is|one)|it'?s|here'?s|"
    r"whether|if"
    r")\b[\s,.:;!?—–-]*",
    _F,
)
_TRAIL_WORDS = frozenset(
    [
        "be",
        "is",
        "are",
        "was",
        "it",
        "this",
        "that",
        "count",
        "counts",
        "qualify",
        "qualifies",
        "sit",
        "sits",
        "go",
        "goes",
        "belong",
        "belongs",
        "fall",
        "falls",
        "land",
        "lands",
        "live",
        "lives",
        "fit",
        "fits",
        "filed",
        "considered",
        "classed",
        "classified",
        "treated",
        "seen",
        "booked",
        "put",
        "under",
        "on",
        "in",
        "to",
        "into",
        "as",
        "onto",
        "for",
        "with",
        "more",
        "of",
        "rather",
        "really",
        "like",
        "an",
        "a",
        "the",
        "our",
        "initiative",
        "project",
        "thing",
        "work",
        "come",
        "comes",
        "out",
        "from",
        "within",
    ]
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


def asks_for_decision(question: str) -> bool:
    """True when a question asks whether something is an IT or a digital initiative."""
    text = _tidy(question)
    if _ALTERNATIVE.search(text) or _COUNTS_AS.search(text) or _VERB_LEAD.match(text):
        return not _WH_LEAD.match(text) or bool(_VERB_LEAD.match(text) or _WH_FRAME.match(text))
    return bool(_WHICH.search(text) and _MENTIONS_IT_OR_DIGITAL.search(text))


def _pieces(text: str) -> list[tuple[str, bool]]:
    """(piece, is a lead-in) for the sentences and "lead-in:" parts of a question."""
    out: list[tuple[str, bool]] = []
    for sentence in re.split(r"(?<=[.?!])\s+(?=\S)|\n+|\s[—–]\s|\s-\s", text):
        parts = re.split(r":\s+", sentence)
        out.extend((part, i < len(parts) - 1) for i, part in enumerate(parts))
    return [(p, lead) for p, lead in out if _tidy(p)]


def _strip_frame(piece: str) -> tuple[str, bool]:
    """The piece without the decision frame and its scaffolding, and whether it held a frame."""
    framed = False
    for pattern in (_ALTERNATIVE, _COUNTS_AS, _WHICH):
        piece, n = pattern.subn(" ", piece)
        framed = framed or n > 0
    text = _tidy(piece)
    if _VERB_LEAD.match(text) or _WH_FRAME.match(text):
        framed = True
    for _ in range(6):
        stripped = _tidy(_LEAD_SCAFFOLD.sub("", text, count=1))
        if stripped == text:
            break
        text = stripped
    if framed:
        text = _trim_trailing_frame(text)
    return text, framed


# Words that end an initiative as often as they end a frame: stripped only where the frame
# shows itself around them ("X count as" → X, but "stock counts" stays; "on top of it" stays).
_LINK_VERBS = frozenset(["count", "counts", "qualify", "qualifies"])
_PRONOUNS = frozenset(["it", "this", "that"])
_PREPOSITIONS = frozenset(["of", "on", "in", "to", "for", "with", "from", "into", "onto", "under"])


def _trim_trailing_frame(text: str) -> str:
    """`text` without the scaffolding words a stripped frame leaves at its end."""
    words = text.split()
    dropped_preposition = False
    while words:
        word = words[-1].lower().strip(",.;:")
        before = words[-2].lower().strip(",.;:") if len(words) > 1 else ""
        if word not in _TRAIL_WORDS:
            break
        if word in _LINK_VERBS and not dropped_preposition:
            break
        if word in _PRONOUNS and before in _PREPOSITIONS:
            break  # "on top of it": the pronoun is the object of the initiative's preposition
        dropped_preposition = word in ("as", "under")
        words.pop()
    return _tidy(" ".join(words))


def _content_words(text: str) -> int:
    return sum(1 for w in re.findall(r"[\w'’/+-]+", text) if w.lower() not in _TRAIL_WORDS)


def extract_initiative(question: str) -> str:
    """The initiative named inside a classification question, without the question's frame
    (the text itself, tidied, when it holds no frame; "" when only the frame is left)."""
    pieces = [(*_strip_frame(piece), lead_in) for piece, lead_in in _pieces(_tidy(question))]
    kept: list[str] = []
    framed_rest: list[str] = []
    leftovers: list[str] = []
    for i, (text, framed, lead_in) in enumerate(pieces):
        later_content = any(_content_words(t) >= 2 for t, _, _ in pieces[i + 1 :])
        if lead_in and later_content:
            continue  # "Classify this initiative: …", "quick one: …"
        if _content_words(text) < 2 and len(text.split()) < 2:
            leftovers.append(text)
            continue
        (framed_rest if framed else kept).append(text)
    chosen = kept or framed_rest or [t for t in leftovers if t][:1]
    return _tidy(". ".join(chosen))


_NON_INITIATIVE_LEAD = re.compile(
    r"^\s*(?:what|who|whom|whose|where|when|why|how|which)\b|^\s*(?:is|are|was|were|do|does|did|can|could|will|would)\s+(?:you|i|there)\b",
    re.IGNORECASE,
)


def looks_like_initiative(text: str) -> bool:
    """False for text that cannot be an initiative: a question about something, a greeting,
    a word or two. (Whether it is near IT or digital work at all is the classifier's call.)"""
    if _content_words(text) < 2:
        return False
    return not _NON_INITIATIVE_LEAD.match(text)


_SIDE_LEAD = re.compile(
    r"^(?:(?:please\s+)?(?:explain|describe|compare|contrast|define|tell\s+me\s+about)\s+)?"
    r"(?:what(?:'s|s| is| are)?\s+)?(?:the\s+)?",
    re.IGNORECASE,
)


def _side(text: str) -> str:
    """One side of a comparison, without a leading "what's the"."""
    return _tidy(_SIDE_LEAD.sub("", _tidy(text)))


def route(question: str) -> Route:
    """Decide how to handle a question."""
    if asks_for_decision(question):
        initiative = extract_initiative(question)
        generic = re.fullmatch(
            r"(?:an?\s+|the\s+)?(?:IT|digital)?\s*(?:strategy|transformation|initiative|project)s?",
            initiative,
            re.IGNORECASE,
        )
        if not generic:  # an empty or non-initiative text is refused by the pipeline
            return Route("classify", initiative=initiative)
    # A follow-up's added context "(the earlier subject)" is not a comparison of its own.
    asked = re.sub(r"\s*\([^()]*\)\s*[?.!]*\s*$", "", question)
    for pattern in _COMPARE:
        match = pattern.search(asked)
        if match:
            a, b = _side(match.group("a")), _side(match.group("b"))
            # "IT transformation vs digital" means "digital transformation".
            if len(b.split()) == 1 and len(a.split()) > 1 and a.split()[-1].lower() != b.lower():
                b = f"{b} {a.split()[-1]}"
            if a and b and a.lower() != b.lower():
                return Route("compare", sides=(a, b))
    return Route("knowledge")
