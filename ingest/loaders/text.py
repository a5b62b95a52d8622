"""Plain `.txt` files: decoded (UTF-8, else cp1252 with a warning) and read line by line by
the cleaner and chunker. A hard-wrapped file (every line within a margin, paragraphs spread
over several lines) has its paragraphs re-joined first, so that a sentence is never cut at a
line break; a file written one paragraph per line is passed through unchanged."""

from __future__ import annotations

from pathlib import Path

from ingest.loaders.shape import Loaded, join_wrapped, typical_width

# A file is hard-wrapped when no line is longer than this and most text lines continue on
# the next line.
WRAP_MARGIN = 100
MIN_WRAPPED_LINES = 5


def decode(data: bytes) -> tuple[str, tuple[str, ...]]:
    """Text of `data` and warnings: UTF-8 (BOM dropped), else cp1252."""
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), ("not valid UTF-8; decoded as cp1252",)


def is_hard_wrapped(lines: list[str]) -> bool:
    """True when `lines` look wrapped at a margin rather than written a paragraph a line."""
    text_lines = [i for i, line in enumerate(lines) if line.strip()]
    if len(text_lines) < MIN_WRAPPED_LINES or max(len(lines[i]) for i in text_lines) > WRAP_MARGIN:
        return False
    continued = sum(1 for i in text_lines if i + 1 < len(lines) and lines[i + 1].strip())
    return continued * 2 > len(text_lines)


def unwrap(text: str) -> str:
    """`text` with hard-wrapped paragraphs joined into one line each (list items kept)."""
    lines = text.splitlines()
    if not is_hard_wrapped(lines):
        return text
    paragraphs = join_wrapped(lines, typical_width(lines))
    return "\n\n".join(f"- {t}" if item else t for item, t in paragraphs) + "\n"


def load(data: bytes, path: Path) -> Loaded:
    """A text file, hard-wrapped paragraphs re-joined."""
    text, warnings = decode(data)
    return Loaded(text=unwrap(text), warnings=warnings)
