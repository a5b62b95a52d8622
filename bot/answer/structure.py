"""Document structure the answer can use whole: lists (a lead line and its items), short
"Label: value" field lines, and the asks of a two-part question.

Read from the retrieved chunks' own text, line by line: the sentence units drop list items
that lack closing punctuation and short "Duration: 3 weeks" lines (they look like headings), yet
these are often the very answer. Hand-written because the cues are layout (bullet markers,
numbering, a lead line ending in a colon, consecutive "Label: text" paragraphs), which no
splitter exposes with exact, quotable line spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.answer.retrieve import Corpus, Hit
from bot.runtime.text import is_heading, is_table_row, sentences

_BULLET = re.compile(r"^\s*(?:[•●▪◦‣∙·*+–-]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+(?=\S)")
_LABELLED = re.compile(r"^(?P<label>[A-Z][^:.!?|]{1,48}?):\s+(?P<rest>\S.*)$")
_FIELD_MAX_WORDS = 8
_ITEM_MAX_WORDS = 40  # a longer item is cut to its first sentence
MAX_ITEMS = 10
# A second ask joined by a conjunction: "How long did it take, and which techniques…?"
_SECOND_ASK = re.compile(
    r"\s*(?:,\s*|;\s*)?\b(?:and|also|plus|as well as)\s+(?=(?:what|which|how|who|whom|when|where|why|"
    r"whether|does|do|did|is|are|was|were|can|could|should)\b)",
    re.IGNORECASE,
)
# Questions whose answer is a duration or date, or a number, and what such an answer holds.
_DURATION_ASK = re.compile(
    r"\bhow\s+(?:long|soon|often)\b|\bwhen\b|\bwhat\s+(?:year|date|day|time|duration|period|timeline)\b",
    re.IGNORECASE,
)
_NUMBER_ASK = re.compile(
    r"\bhow\s+(?:many|much|big|large|old)\b|\bwhat\s+(?:percentage|share|number|amount|size)\b",
    re.IGNORECASE,
)
_NUMBER = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|several)"
)
_DURATION = re.compile(
    rf"\b{_NUMBER}[\s-]+(?:days?|weeks?|months?|years?|quarters?|hours?|minutes?)\b|\b(?:19|20)\d\d\b|"
    r"\b(?:daily|weekly|monthly|quarterly|yearly|annually|January|February|March|April|May|June|"
    r"July|August|September|October|November|December)\b",
    re.IGNORECASE,
)
_NUMBERS = re.compile(rf"\b{_NUMBER}\b|\d", re.IGNORECASE)


def typed_answer(question: str, text: str) -> bool:
    """True when the question asks for a duration/date or a number and the text holds one."""
    if _DURATION_ASK.search(question):
        return bool(_DURATION.search(text))
    if _NUMBER_ASK.search(question):
        return bool(_NUMBERS.search(text))
    return False


@dataclass
class Block:
    """A list (lead line plus items) or a single field line, with the hit it is quoted from."""

    hit: Hit
    lead: str
    items: list[str] = field(default_factory=list)
    kind: str = "list"  # "list" | "field"

    @property
    def quote(self) -> str:
        """Verbatim text of the chunk to cite: the lead line, else the first item."""
        return self.lead or self.items[0]

    def embed_text(self) -> str:
        """What the block says, as one passage to compare with the question."""
        return f"{self.lead} " + "; ".join(_item_text(i) for i in self.items[:5])

    def render(self, marker: str) -> str:
        """Neutral text: the lead with its citation marker, then one "• item" line per item."""
        if self.kind == "field":
            text = self.items[0].strip()
            return (text if text[-1:] in ".!?" else text + ".") + f" {marker}"
        lead = self.lead.strip()
        if lead and not lead.endswith(":"):
            lead = f"{lead.rstrip('.')}:"
        items = "\n".join(f"• {_item_text(i)}" for i in self.items)
        return f"{lead} {marker}\n{items}" if lead else f"{items} {marker}"


def _item_text(line: str) -> str:
    text = _BULLET.sub("", line.strip(), count=1).strip()
    if len(text.split()) > _ITEM_MAX_WORDS:
        first = sentences(text)
        text = first[0] if first else text
    return text.rstrip(";,")


def _lines(hits: list[Hit]) -> list[tuple[str, Hit]]:
    """Lines of the retrieved chunks, neighbouring chunks of one source joined in order
    (the overlap between consecutive chunks appears once)."""
    out: list[tuple[str, Hit]] = []
    ordered = sorted(hits, key=lambda h: (h.chunk.source, h.chunk.index))
    previous: Hit | None = None
    for hit in ordered:
        adjacent = (
            previous is not None
            and previous.chunk.source == hit.chunk.source
            and hit.chunk.index == previous.chunk.index + 1
        )
        seen = previous.chunk.text if adjacent and previous else ""
        if not adjacent:
            out.append(("", hit))  # a boundary: no list runs across unrelated chunks
        for line in hit.chunk.text.splitlines():
            stripped = line.strip()
            if stripped and stripped not in seen:
                out.append((stripped, hit))
        previous = hit
    return out


def _is_item(line: str, neighbours: tuple[str, str]) -> bool:
    if line.endswith(":"):
        return False  # "2. Digital Strategy:" heads a section, it is not an item
    if _BULLET.match(line) and not is_table_row(line):
        return True
    # Consecutive "Label: text" paragraphs are the items of a list too.
    return bool(_LABELLED.match(line)) and any(bool(_LABELLED.match(n)) for n in neighbours)


def find_blocks(hits: list[Hit]) -> list[Block]:
    """Lists of two or more items and short field lines in the retrieved chunks."""
    lines = _lines(hits)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line, hit = lines[i]
        before = lines[i - 1][0] if i else ""
        after = lines[i + 1][0] if i + 1 < len(lines) else ""
        if line and _is_item(line, (before, after)):
            j = i
            items: list[str] = []
            while j < len(lines) and lines[j][0]:
                prev = lines[j - 1][0] if j else ""
                nxt = lines[j + 1][0] if j + 1 < len(lines) else ""
                if not _is_item(lines[j][0], (prev, nxt)):
                    break
                items.append(lines[j][0])
                j += 1
            lead = before if before and (before.endswith(":") or is_heading(before)) else ""
            if len(items) >= 2:
                lead_hit = lines[i - 1][1] if lead else hit
                blocks.append(Block(lead_hit, lead or "", items[:MAX_ITEMS]))
            i = max(j, i + 1)
            continue
        match = _LABELLED.match(line) if line else None
        if match and len(line.split()) <= _FIELD_MAX_WORDS and not line.endswith(":"):
            blocks.append(Block(hit, "", [line], kind="field"))
        i += 1
    return blocks


_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_COUNTED = re.compile(
    rf"\b(?P<n>\d{{1,2}}|{'|'.join(_COUNT_WORDS)})\s+(?:\w+\s+)?(?P<noun>[a-z]{{3,}}s)\b", re.I
)
_NUMBERED = re.compile(r"^\(?(?P<n>\d{1,2})[.)]\s+(?P<text>\S.{1,120})$")


def counted_ask(text: str) -> tuple[int, str] | None:
    """(N, noun) when the text names a count of things ("the three differences")."""
    match = _COUNTED.search(text)
    if not match:
        return None
    raw = match.group("n").lower()
    n = int(raw) if raw.isdigit() else _COUNT_WORDS[raw]
    return (n, match.group("noun").lower()[:5]) if 2 <= n <= 12 else None


def enumeration(question: str, hits: list[Hit]) -> Block | None:
    """For "what are the three X?": a line announcing that count of X ("There are 3
    fundamental differences…") and the numbered headings that follow it, even when each
    heading opens its own section ("1. …" … "3. …")."""
    asked = counted_ask(question)
    if asked is None:
        return None
    lines = _lines(hits)
    for i, (line, hit) in enumerate(lines):
        if counted_ask(line) != asked or _NUMBERED.match(line):
            continue
        items: list[str] = []
        for later, other in lines[i + 1 :]:
            if other.chunk.source != hit.chunk.source:
                break
            numbered = _NUMBERED.match(later)
            if numbered and int(numbered.group("n")) == len(items) + 1 and is_heading(later):
                items.append(later)
                if len(items) == asked[0]:
                    return Block(hit, line, items)
    return None


def asks(question: str) -> list[str]:
    """The asks of a question joined by a conjunction ("How long did it take, and which
    techniques were used?" → two asks); one ask otherwise."""
    parts = [p.strip(" ,;") for p in _SECOND_ASK.split(question) if p.strip(" ,;?")]
    if len(parts) != 2 or any(len(p.split()) < 2 for p in parts):
        return [question]
    return parts


_ART = r"(?:(?:an?|the|our|my|your)\s+)?"
_SIDE = r"[\w&/'’ -]{2,40}?"
_END = r"(?=\s*(?:[,?.!;:]|\s[—–-]\s|\bor\b|$))"
_WORDS = r"[\w&/'’-]+(?:\s+[\w&/'’-]+){0,2}"
# "do we need both X and Y", "X vs Y — …": a question about two things side by side.
_BOTH = re.compile(rf"\bboth\s+{_ART}(?P<a>{_SIDE})\s+and\s+{_ART}(?P<b>{_SIDE}){_END}", re.I)
_VERSUS = re.compile(rf"(?P<a>{_WORDS})\s+(?:vs\.?|versus)\s+{_ART}(?P<b>{_SIDE}){_END}", re.I)
_FUNCTION = re.compile(
    r"^.*\b(?:on|of|is|are|was|were|about|between|with|the|a|an|what|what's|whats|for)\s+", re.I
)


def paired_sides(question: str) -> tuple[str, str] | None:
    """The two things a "both X and Y" or "X vs Y" question sets side by side, if any."""
    match = _BOTH.search(question) or _VERSUS.search(question)
    if not match:
        return None
    a = _FUNCTION.sub("", match.group("a")).strip()  # "the bottom line on IT" → "IT"
    b = match.group("b").strip()
    return (a, b) if a and b and a.lower() != b.lower() else None


@dataclass
class Outline:
    """Where each sentence of a chunk sits: under which heading line, in which section."""

    heading_of: dict[str, str] = field(default_factory=dict)
    section_of: dict[str, list[str]] = field(default_factory=dict)


def outline(text: str) -> Outline:
    """The nearest heading of every sentence of a chunk and its section's sentences
    (a heading is a short line without closing punctuation, or one ending in a colon)."""
    out = Outline()
    heading, section = "", []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or is_table_row(stripped):
            continue
        if stripped.endswith(":") or (is_heading(stripped) and not _LABELLED.match(stripped)):
            heading, section = stripped, []
            continue
        for sentence in sentences(stripped):
            section.append(sentence)
            out.heading_of[sentence] = heading
            out.section_of[sentence] = section
    return out


def _continues(text: str) -> bool:
    """Whether a chunk ends inside a list, a lead line or labelled items (its structure may
    go on in the next chunk)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return bool(last) and (
        last.endswith(":") or bool(_BULLET.match(last)) or bool(_LABELLED.match(last))
    )


def _announces(text: str, asked: tuple[int, str] | None) -> bool:
    return asked is not None and any(counted_ask(line) == asked for line in text.splitlines())


def next_chunks(corpus: Corpus, hits: list[Hit], question: str = "") -> list[Hit]:
    """The chunk after each of the two best hits when that hit ends inside a list or a lead
    line (the list usually continues there); when such a hit announces the count of things
    the question asks for ("3 differences"), the few chunks after it (their numbered
    sections). Found by place in the sentence store, read through the corpus."""
    have = {(h.chunk.source, h.chunk.index) for h in hits}
    asked = counted_ask(question) if question else None
    out: list[Hit] = []
    for hit in hits[:2]:
        source, first = hit.chunk.source, hit.chunk.index + 1
        last = first + asked[0] + 1 if _announces(hit.chunk.text, asked) and asked else first
        if last == first and ((source, first) in have or not _continues(hit.chunk.text)):
            continue
        places = [
            p
            for p in corpus.sentences.chunk_ids_at(source, first, last)
            if (source, p[1]) not in have
        ]
        records = corpus.chunks([cid for cid, _ in places])
        for cid, index in places:
            if cid in records:
                out.append(Hit(records[cid], hit.fused * 0.9, 0.0, 0.0, len(hits) + len(out)))
                have.add((source, index))
    return out
