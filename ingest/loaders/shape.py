"""The plain-text shape every loader emits, which `ingest.clean` and `ingest.chunk` parse:

- a heading is one line `#`…`######` + space + text, its level from the document's markup;
- a paragraph is one line (soft wraps joined, inline markup reduced to its text), with a
  blank line between blocks;
- a list item is one line `- text`, indented two spaces per nesting level, items consecutive;
- a table row is one line `cell | cell | … |`, rows consecutive;
- a line of code is its own line (commands stay quotable); one starting with `#` is indented
  by a space so that it is not read as a heading.

Hand-written because no library emits this exact shape; each loader uses a parser library for
the format itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Markup often leaves a space before closing punctuation ("<a>open()</a>\n," -> "open() ,")
# or after an opening bracket; prose never wants it.
_SPACE_BEFORE = re.compile(r"(?<=\S)\s+(?=[,.;:!?)\]](?:\s|$))")
_SPACE_AFTER = re.compile(r"(?<=[(\[])\s+")


class LoaderError(Exception):
    """The file cannot be turned into text; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Loaded:
    """A loaded file: its text in the shared shape, a title if the format has one, warnings."""

    text: str
    title: str = ""
    warnings: tuple[str, ...] = ()


def inline(text: str) -> str:
    """One line of text: whitespace runs (including soft line breaks) collapsed to a space,
    none before closing punctuation or after an opening bracket."""
    text = " ".join(text.split())
    return _SPACE_AFTER.sub("", _SPACE_BEFORE.sub("", text))


MAX_LABEL_WORDS = 10


@dataclass
class Blocks:
    """Collects blocks in reading order and renders them in the shared shape."""

    _blocks: list[tuple[str, list[str]]] = field(default_factory=list)
    _level: int = 0  # level of the last real heading

    def heading(self, level: int, text: str) -> None:
        text = inline(text).strip("#").strip()
        if text:
            self._level = max(1, min(level, 6))
            self._add("heading", f"{'#' * self._level} {text}")

    def label(self, text: str) -> bool:
        """A short paragraph set wholly in bold, as authors write a sub-heading without
        heading markup: a heading one level below the last real one. False (nothing added)
        when `text` reads as a sentence or is too long for a heading."""
        text = inline(text)
        if not text or len(text.split()) > MAX_LABEL_WORDS or text[-1] in ".!?;,":
            return False
        level = min(self._level + 1, 6)
        self._add("heading", f"{'#' * level} {text.strip('#').strip()}")
        return True

    def paragraph(self, text: str) -> None:
        text = inline(text)
        if text:
            self._add("paragraph", text)

    def item(self, text: str, depth: int = 0) -> None:
        text = inline(text)
        if text:
            self._add("list", f"{'  ' * depth}- {text}", join=True)

    def row(self, cells: list[str]) -> None:
        cells = [inline(c).replace("|", "/") for c in cells]
        if any(cells):
            self._add("table", " | ".join(cells) + " |", join=True)

    def code(self, text: str) -> None:
        lines = [line.strip() for line in text.strip("\n").splitlines() if line.strip()]
        for line in lines:
            # A shell comment ("# install") must not read as a heading: indent it one space.
            self._add("code", f" {line}" if line.startswith("#") else line, join=True)

    def end_group(self) -> None:
        """End the current list or table, so the next one starts a new block."""
        self._blocks.append(("break", []))

    def _add(self, kind: str, line: str, join: bool = False) -> None:
        last = self._blocks[-1] if self._blocks else None
        if join and last is not None and last[0] == kind:
            last[1].append(line)
        else:
            self._blocks.append((kind, [line]))

    def render(self) -> str:
        parts = ["\n".join(lines) for kind, lines in self._blocks if kind != "break" and lines]
        return "\n\n".join(parts) + "\n" if parts else ""

    def first_heading(self) -> str:
        for kind, lines in self._blocks:
            if kind == "heading":
                return lines[0].lstrip("#").strip()
        return ""


# A list item at the start of a visual line: a bullet symbol or "1." / "a)".
LIST_START = re.compile(r"^(?:[•◦▪▫●○■□‣⁃*–-]|\d{1,2}[.)]|[a-z][.)])\s+")
# A visual line shorter than this share of the text's full line ends its paragraph.
SHORT_LINE = 0.7


def typical_width(lines: list[str]) -> int:
    """Length of a full visual line: a high percentile of the longer lines' lengths."""
    lengths = sorted(len(line) for line in lines if len(line) > 20)
    if not lengths:
        return 80
    return lengths[min(len(lengths) - 1, int(len(lengths) * 0.8))]


def join_wrapped(lines: list[str], width: int) -> list[tuple[bool, str]]:
    """Visual lines re-joined into (is_list_item, text) paragraphs.

    A paragraph ends at a blank line, at a line shorter than SHORT_LINE of `width` (its last
    line, or a heading), or before a line starting a list item; a word hyphenated across a line
    break is joined again. Hand-written: layout-based unwrapping is a few lines, and the text
    splitters in LangChain split text, they do not re-join it.
    """
    out: list[tuple[bool, str]] = []
    current: list[str] = []
    item = False

    def flush() -> None:
        nonlocal item
        text = ""
        for part in current:
            if text.endswith("-") and part[:1].islower() and not text.endswith(" -"):
                text = text[:-1] + part
            else:
                text = f"{text} {part}" if text else part
        if text:
            out.append((item, text))
        current.clear()
        item = False

    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            flush()
            continue
        start = LIST_START.match(line)
        if start:
            flush()
            item = True
            line = line[start.end() :]
        current.append(line)
        if len(line) < SHORT_LINE * width:
            flush()
    flush()
    return out
