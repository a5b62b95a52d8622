"""How specific each word of a question is: its rarity in general English (wordfreq), so
"pivot", "replication" or "laptop" carry the ask and "what", "get" or "work" carry little.
Rarity in the corpus cannot do this job: a filler word the corpus never uses would weigh as
much as a missing subject."""

from __future__ import annotations

import re
from functools import lru_cache

from wordfreq import zipf_frequency

from bot.runtime.terms import terms

COMMONEST = 7.0  # Zipf frequency of the commonest English words ("the" is 7.7)
MIN_WEIGHT = 0.5  # even a very common content word counts a little
_WORDS = re.compile(r"[\w'’-]+")

# Mixed-language questions ("Oye, según la base de conocimiento, who owns…"): a word common
# in another major language is scaffolding, not the subject, though English never uses it.
OTHER_LANGUAGES = ("es", "fr", "de", "it", "pt")
FOREIGN_COMMON = 4.5  # Zipf frequency from which a word counts as common in that language


@lru_cache(maxsize=20_000)
def _weight(word: str) -> float:
    zipf = zipf_frequency(word, "en")
    if zipf < FOREIGN_COMMON:  # the small lists load in a fraction of a second
        other = max(zipf_frequency(word, lang, wordlist="small") for lang in OTHER_LANGUAGES)
        zipf = other if other >= FOREIGN_COMMON else zipf
    return max(MIN_WEIGHT, COMMONEST - zipf)


def specificity(question: str) -> dict[str, float]:
    """Each content term of the question (as `terms()` spells it) weighted by its rarity in
    general English: Zipf 7 minus the word's Zipf frequency (unknown words weigh 7; words
    common in another major language weigh as common words)."""
    out: dict[str, float] = {}
    for word in _WORDS.findall(question):  # original case: terms() keeps "IT" apart from "it"
        for term in terms(word):
            out[term] = max(out.get(term, 0.0), _weight(word.lower()))
    return out
