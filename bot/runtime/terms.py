"""The one tokenizer shared by lexical search, sentence scoring and the lexical index's
per-unit statistics: lowercased words, stopwords dropped, lightly stemmed."""

from __future__ import annotations

import re
from functools import lru_cache

from bot.runtime.text import SECTION_SEP, units

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each either few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just let me more most my myself no nor not now of off on once only
    or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours
    yourself yourselves tell explain describe define definition mean means meaning please
    whats what's kb vs versus difference differences different compare comparison
    """.split()  # noqa: SIM905 - one word list, readable; a literal would be 150 lines
)
# "it" is a stopword but "IT" (information technology) is the corpus' key term: keep uppercase IT.
_IT_TOKEN = re.compile(
    r"\bIT\b|\b[Ii][Tt](?=\s+(?:strateg|transform|department|team|professional|infrastructure"
    r"|system|operation|service|budget|modern|plan|leader|staff|function|role|initiative|project))"
)


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match plurals and -ing/-ed forms."""
    for suffix, repl in (
        ("ership", ""),
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


@lru_cache(maxsize=20_000)
def terms(text: str) -> tuple[str, ...]:
    """Content terms of `text`: lowercased, stopwords dropped, lightly stemmed. Remembered:
    the same sentences and chunks are read question after question."""
    text = _IT_TOKEN.sub(" itx ", text)
    return tuple(stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1)


def unit_bags(body: str) -> list[set[str]]:
    """The term sets of a chunk's quotable units, from its indexed text (title › section line,
    then the chunk): each unit's words plus its section's, a table row's plus its header's."""
    head, _, chunk = body.partition("\n")
    section = head.split(SECTION_SEP, 1)[1] if SECTION_SEP in head else ""
    found = [u for u in units(chunk) if u.kind != "heading"]
    header = next((u.text for u in found if u.kind == "row"), "")
    return [set(terms(f"{section} {u.text} {header if u.kind == 'row' else ''}")) for u in found]
