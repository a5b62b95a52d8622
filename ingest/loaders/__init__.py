"""One loader per file format, each turning a file's bytes into the plain-text shape the
cleaner and chunker parse (see `shape.py`). `loader_for` picks a file's loader by suffix."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from ingest.loaders.shape import Loaded, LoaderError

Loader = Callable[[bytes, Path], Loaded]

# suffix -> module in this package; imported on first use, so a corpus of text files never
# loads the PDF or Word libraries.
_MODULES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
}
SUPPORTED_SUFFIXES = frozenset(_MODULES)

# The format name shown in `kb ingest`'s per-format counts.
FORMAT_NAMES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
}


def loader_for(suffix: str) -> Loader | None:
    """The loader of files ending in `suffix` (any case), or None if unsupported."""
    module = _MODULES.get(suffix.lower())
    if module is None:
        return None
    return importlib.import_module(f"ingest.loaders.{module}").load  # type: ignore[no-any-return]


__all__ = ["FORMAT_NAMES", "SUPPORTED_SUFFIXES", "Loaded", "Loader", "LoaderError", "loader_for"]
