"""Text shapes shared by ingest and the answer pipeline: the one sentence splitter, quotable
units (sentences, list items, table rows) and the contextual text a chunk is embedded with.

Hand-written because every sentence must be an exact span of its text (citations quote chunks
verbatim, and LangChain's splitters rewrite whitespace), and the corpora mix prose,
"Label: text" items and pipe-table rows that a generic splitter mangles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTION_SEP = " › "

# A sentence ends at ., ! or ? (plus closing quotes/brackets) followed by whitespace. Lower-case
# starts count too: scraped text often loses a capital ("concepts. success criteria ...").
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*(?P<sep>\s+)(?=\S)")
_ABBREVIATIONS = frozenset(
    [
        *("e.g.", "i.e.", "vs.", "cf.", "approx.", "fig.", "no."),
        *("mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr."),
    ]
)
_ABBREVIATIONS_BEFORE_LOWER = frozenset(["etc.", "inc.", "ltd.", "co.", "corp.", "al."])
_INITIAL = re.compile(r"[A-Z]\.|(?:[A-Za-z]\.){2,}")
_LIST_NUMBER = re.compile(r"\d{1,3}[.)]")
_NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s+")
MIN_SENTENCE_WORDS = 3  # a shorter piece is kept with the sentence that follows it


def contextual_text(title: str, section: str, text: str) -> str:
    """A chunk as embedded and indexed: title and section path give it context."""
    head = f"{title}{SECTION_SEP}{section}" if section else title
    return f"{head}\n{text}"


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk as stored: its text and everything needed to cite it."""

    id: str
    text: str
    source: str
    title: str
    section: str
    index: int

    def embed_text(self) -> str:
        """The text that is embedded and indexed lexically: title and section give context."""
        return contextual_text(self.title, self.section, self.text)


def split_sentences(body: str) -> list[tuple[str, str]]:
    """(sentence, separator after it) pairs whose concatenation is exactly `body`."""
    pieces: list[tuple[str, str]] = []
    start = 0
    for match in _BOUNDARY.finditer(body):
        end = match.start("sep")
        if not _is_boundary(body, start, end, body[match.end()]):
            continue
        pieces.append((body[start:end], match.group("sep")))
        start = match.end()
    if start < len(body):
        pieces.append((body[start:], ""))
    return pieces


def _is_boundary(body: str, start: int, end: int, next_char: str) -> bool:
    last_word = body[start:end].rsplit(" ", 1)[-1].lstrip("\"'“‘([")
    lowered = last_word.lower()
    if lowered in _ABBREVIATIONS or _INITIAL.fullmatch(last_word):
        return False
    if lowered in _ABBREVIATIONS_BEFORE_LOWER and not next_char.isupper():
        return False
    # "1. Focus:" — a list number opening the line, not a one-word sentence.
    return not (start == 0 and end == len(last_word) and _LIST_NUMBER.fullmatch(last_word))


def sentences(paragraph: str) -> list[str]:
    """Whole sentences of one paragraph, as exact substrings; fragments of fewer than
    `MIN_SENTENCE_WORDS` words stay with the sentence that follows them."""
    out: list[str] = []
    start = pos = 0
    for sentence, sep in split_sentences(paragraph):
        pos += len(sentence) + len(sep)
        piece = paragraph[start : pos - len(sep)].strip()
        if len(piece.split()) >= MIN_SENTENCE_WORDS:
            out.append(piece)
            start = pos
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


@dataclass(frozen=True)
class Unit:
    """A quotable span of a chunk."""

    text: str
    kind: str  # "sentence" | "row" | "heading"
    position: int  # order within the chunk


def is_table_row(line: str) -> bool:
    """True for a pipe-table row such as `Scope | Internal systems | Organization-wide |`."""
    return line.count("|") >= 2


def is_heading(line: str) -> bool:
    """Short lines without closing punctuation: headings and sub-item labels like `Focus:`.

    A line starting in lower case or ending in ";" is not one: it is a command or code line
    (`python3 -m venv env`, `PRAGMA optimize;`), which stays quotable; nor is a list item.
    """
    stripped = line.strip()
    words = stripped.split()
    if not words or len(words) > 12 or stripped[-1] in '.!?"”;' or stripped[0].islower():
        return False
    if stripped[0] in "-•*" and len(words) > 1:  # a list item ("- memcpy()") is content
        return False
    return ", " not in stripped or bool(_NUMBERED.match(stripped))


def units(text: str) -> list[Unit]:
    """Quotable units of a chunk's text, in order."""
    out: list[Unit] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if is_table_row(stripped):
            out.append(Unit(stripped, "row", len(out)))
        elif is_heading(stripped):
            out.append(Unit(stripped, "heading", len(out)))
        else:
            for sentence in sentences(stripped):
                out.append(Unit(sentence, "sentence", len(out)))
    return out


def row_as_sentence(row: str, header: str | None) -> str:
    """A table row spelled out with its header: `Scope — IT Transformation: …; Digital …: …`."""
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    if not header or header.strip() == row.strip():
        return _closed("; ".join(cells))
    heads = [h.strip() for h in header.strip().strip("|").split("|")]
    pairs = [f"{h}: {c}" for h, c in zip(heads[1:], cells[1:], strict=False) if c]
    return _closed(f"{cells[0]} — " + "; ".join(pairs))


def _closed(text: str) -> str:
    """`text` ending in a full stop, unless it ends in one already (a last cell that is a
    sentence: "…network)." must not become "…network)..")."""
    return text if text.endswith((".", "!", "?")) else text + "."
