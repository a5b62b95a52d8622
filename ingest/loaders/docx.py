"""Word `.docx` through python-docx: paragraphs and tables in document order; "Title" and
"Heading N" styles become headings of that level, list paragraphs (a "List…" style or Word
numbering) `- ` items at their indent level, a short paragraph set wholly in bold a
sub-heading, tables pipe rows. Title from the document
properties, else the "Title" paragraph, else the first heading."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from ingest.loaders.shape import Blocks, Loaded, LoaderError


def _heading_level(style: str) -> int | None:
    if style == "Title":
        return 1
    if style.startswith("Heading"):
        digits = style.removeprefix("Heading").strip()
        return int(digits) if digits.isdigit() else 1
    return None


def _list_depth(paragraph: Any, style: str) -> int | None:
    """Nesting level of a list paragraph (0 = top), or None for a plain paragraph."""
    ppr = paragraph._p.pPr  # python-docx exposes numbering only through the XML element
    numbering = ppr.numPr if ppr is not None else None
    if numbering is not None and numbering.ilvl is not None:
        return int(numbering.ilvl.val)
    if numbering is not None:
        return 0
    if style.startswith("List"):
        last = style.split()[-1]
        return int(last) - 1 if last.isdigit() else 0
    return None


def _all_bold(paragraph: Any) -> bool:
    """A paragraph whose every run with text is bold (a heading typed without a style)."""
    runs = [run for run in paragraph.runs if run.text.strip()]
    return bool(runs) and all(run.bold for run in runs)


def load(data: bytes, path: Path) -> Loaded:
    """A Word document in the shared shape."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoaderError(f"cannot read Word document: {exc}") from exc
    blocks = Blocks()
    title = (document.core_properties.title or "").strip()
    for part in document.iter_inner_content():
        if isinstance(part, Table):
            for row in part.rows:
                cells = [cell.text for cell in row.cells]
                blocks.row(list(dict.fromkeys(cells)) if len(set(cells)) < len(cells) else cells)
            blocks.end_group()
            continue
        if not isinstance(part, Paragraph) or not part.text.strip():
            continue
        style = part.style.name if part.style is not None else ""
        level = _heading_level(style or "")
        if level is not None:
            if style == "Title" and not title:
                title = part.text.strip()
            blocks.heading(level, part.text)
            continue
        depth = _list_depth(part, style or "")
        if depth is not None:
            blocks.item(part.text, depth)
        elif not (_all_bold(part) and blocks.label(part.text)):
            blocks.paragraph(part.text)
    return Loaded(text=blocks.render(), title=title or blocks.first_heading())
