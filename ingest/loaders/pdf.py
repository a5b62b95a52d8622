"""PDF through pypdf: the text layer page by page, the outline (bookmarks) as headings with
their depth, page headers/footers (lines repeated on most pages, page numbers) dropped, and
lines re-joined into paragraphs: pypdf returns the page's visual lines, so a paragraph ends
only at a short line or a bullet, and a word hyphenated across lines is joined again.
A PDF with pages but no text layer (a scan) is refused with "no text layer"."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ingest.loaders.shape import Blocks, Loaded, LoaderError, join_wrapped, typical_width

_DIGITS = re.compile(r"\d+")
EDGE_LINES = 3  # where a page's running header or footer can be, at its top or bottom
_PAGE_NUMBER = re.compile(r"(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?", re.IGNORECASE)


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text).casefold()


def _outline(reader: Any) -> dict[str, int]:
    """Normalised outline title -> depth (0 = top level)."""
    found: dict[str, int] = {}

    def visit(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                visit(item, depth + 1)
            else:
                title = str(getattr(item, "title", "") or "")
                if title.strip():
                    found.setdefault(_key(title), depth)

    try:
        visit(reader.outline, 0)
    except Exception:  # a broken outline must not lose the text
        return {}
    return found


def _page_lines(reader: Any) -> list[list[str]]:
    pages = []
    for page in reader.pages:
        text = page.extract_text() or ""
        pages.append([" ".join(line.split()) for line in text.splitlines()])
    return pages


def _running_key(line: str) -> str:
    """A line with its numbers blanked: "Page 2 of 9" and "Page 3 of 9" are one footer."""
    return _DIGITS.sub("#", line)


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Running headers and footers removed: lines among the first or last `EDGE_LINES` of a
    page that recur, numbers aside, on most pages; and bare page numbers there."""

    def edges(lines: list[str]) -> set[int]:
        return set(range(min(EDGE_LINES, len(lines)))) | set(
            range(max(0, len(lines) - EDGE_LINES), len(lines))
        )

    page_edges = [edges(lines) for lines in pages]
    counts = Counter(
        key
        for lines, at in zip(pages, page_edges, strict=True)
        for key in {_running_key(lines[i]) for i in at if lines[i]}
    )
    repeated = {key for key, n in counts.items() if len(pages) >= 3 and n > len(pages) / 2}
    return [
        [
            line
            for i, line in enumerate(lines)
            if i not in at
            or (_running_key(line) not in repeated and not _PAGE_NUMBER.fullmatch(line))
        ]
        for lines, at in zip(pages, page_edges, strict=True)
    ]


def to_blocks(pages: list[list[str]], outline: dict[str, int]) -> Blocks:
    """Visual lines of each page as paragraphs, headings and list items."""
    width = typical_width([line for lines in pages for line in lines])
    blocks = Blocks()
    run: list[str] = []  # lines between two headings; a paragraph may cross a page break

    def emit() -> None:
        for is_item, text in join_wrapped(run, width):
            blocks.item(text) if is_item else blocks.paragraph(text)
        run.clear()

    for lines in pages:
        for line in lines:
            if line and _key(line) in outline:
                emit()
                blocks.heading(outline[_key(line)] + 1, line)
            else:
                run.append(line)
    emit()
    return blocks


def load(data: bytes, path: Path) -> Loaded:
    """A PDF's text layer in the shared shape; title from its metadata or first heading."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoaderError("encrypted PDF (needs a password)")
        pages = _page_lines(reader)
        outline = _outline(reader)
        meta_title = str((reader.metadata or {}).get("/Title", "") or "").strip()
    except LoaderError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoaderError(f"cannot read PDF: {exc}") from exc
    if not any(line for lines in pages for line in lines):
        raise LoaderError(
            f"no text layer in {len(pages)} page(s) (a scanned PDF? run OCR on it first)"
        )
    blocks = to_blocks(_drop_running_lines(pages), outline)
    return Loaded(text=blocks.render(), title=meta_title or blocks.first_heading())
