"""PowerPoint `.pptx` through python-pptx: each slide's title as a heading, its text boxes'
paragraphs as `- ` items at their outline level, its tables as pipe rows."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from ingest.loaders.shape import Blocks, Loaded, LoaderError


def load(data: bytes, path: Path) -> Loaded:
    """A slide deck in the shared shape; title from its properties or the first slide."""
    from pptx import Presentation

    try:
        deck = Presentation(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoaderError(f"cannot read PowerPoint file: {exc}") from exc
    blocks = Blocks()
    for slide in deck.slides:
        title_shape = slide.shapes.title
        if title_shape is not None and title_shape.text_frame.text.strip():
            blocks.heading(1, title_shape.text_frame.text)
        for shape in slide.shapes:
            if shape == title_shape:
                continue
            if shape.has_table:
                for row in shape.table.rows:
                    blocks.row([cell.text for cell in row.cells])
                blocks.end_group()
            elif shape.has_text_frame:
                for paragraph in shape.text_frame.paragraphs:
                    text = "".join(run.text for run in paragraph.runs)
                    blocks.item(text, paragraph.level)
                blocks.end_group()
    title = (deck.core_properties.title or "").strip()
    return Loaded(text=blocks.render(), title=title or blocks.first_heading())
