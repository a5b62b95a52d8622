"""Plain `.txt` files: decoded as they are (UTF-8, else cp1252 with a warning); the cleaner
and chunker read their lines directly. Hand-written: decoding needs no library."""

from __future__ import annotations

from pathlib import Path

from ingest.loaders.shape import Loaded


def decode(data: bytes) -> tuple[str, tuple[str, ...]]:
    """Text of `data` and warnings: UTF-8 (BOM dropped), else cp1252."""
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), ("not valid UTF-8; decoded as cp1252",)


def load(data: bytes, path: Path) -> Loaded:
    """A text file as it is."""
    text, warnings = decode(data)
    return Loaded(text=text, warnings=warnings)
