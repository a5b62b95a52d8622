"""Split chunk text into quotable units: sentences, list items and table rows.

Each unit is an exact substring of the chunk, so any unit can be cited verbatim. Hand-written
because the units must be exact spans (LangChain's splitters rewrite whitespace) and the
corpus mixes prose, "Label: text" items and pipe-table rows that a generic splitter mangles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_BOUNDARY = re.compile(r"(?<=[.!?])(?P<close>[\"”’)]?)\s+(?=[\"“(‘]?[A-Z0-9])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "Mr.", "Dr.", "Inc.", "Ltd.", "U.S.")
_NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s+")


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
    """Short lines without closing punctuation: headings and sub-item labels like `Focus:`."""
    stripped = line.strip()
    words = stripped.split()
    if not words or len(words) > 12 or stripped[-1] in '.!?"”':
        return False
    return ", " not in stripped or bool(_NUMBERED.match(stripped))


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph, as exact substrings."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_BOUNDARY.finditer(paragraph):
        end = match.start() + len(match.group("close"))
        candidate = paragraph[start:end].strip()
        if candidate.endswith(_ABBREVIATIONS) or len(candidate.split()) < 3:
            continue  # not a real boundary (or a fragment worth keeping with what follows)
        pieces.append(candidate)
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


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
            for sentence in split_sentences(stripped):
                out.append(Unit(sentence, "sentence", len(out)))
    return out


def row_as_sentence(row: str, header: str | None) -> str:
    """A table row spelled out with its header: `Scope — IT Transformation: …; Digital …: …`."""
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    if not header or header.strip() == row.strip():
        return "; ".join(cells) + "."
    heads = [h.strip() for h in header.strip().strip("|").split("|")]
    pairs = [f"{h}: {c}" for h, c in zip(heads[1:], cells[1:], strict=False) if c]
    return f"{cells[0]} — " + "; ".join(pairs) + "."
