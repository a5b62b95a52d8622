"""Recognise unchanged files without reading them, so a no-op re-ingest of a large corpus
takes seconds and reads neither the files nor Chroma.

A file is taken as unchanged, as make and rsync do, when its size and modification and change
times, and everything else that shapes its chunks (settings, cleaning rules, its manifest
entry, its path), are what they were when its document was last seen whole. Only then, and
only while the registry agrees with the collection (every row complete, chunk counts adding up
to the collection's count), is the file skipped; anything else is read, hashed and checked
against the collection as before. A changed time with the same content costs one read.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from bot.runtime.settings import Settings
from ingest.clean import CleaningRules
from ingest.load import ManifestEntry, manifest_entry, real_path
from ingest.registry import COMPLETE, Entry, FileStat

KEY_VERSION = "1"  # bump with the pipeline version's meaning or the key's parts


@dataclass(frozen=True)
class Candidate:
    """A file to ingest under a source name, with what identifies its current state."""

    path: Path
    source: str
    stat: str  # "size:mtime_ns:ctime_ns", taken before the file is read
    key: str  # hash of what else shapes the document's chunks

    def unchanged(self, entry: Entry | None, seen: FileStat | None) -> bool:
        """True when the document is complete in the registry and the file is as it was."""
        return (
            entry is not None
            and seen is not None
            and entry.state == COMPLETE
            and seen.doc_hash == entry.doc_hash
            and bool(self.stat)
            and seen.stat == self.stat
            and seen.key == self.key
        )

    def record(self, doc_hash: str) -> FileStat:
        """The row saying this file made the `doc_hash` version of its document."""
        return FileStat(self.source, self.stat, self.key, doc_hash)


def file_stat(path: Path) -> str | None:
    """Size and times of a file (through symlinks), or None if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def candidates(
    named: list[tuple[Path, str]],
    rules: CleaningRules,
    settings: Settings,
    pipeline_version: str,
    folders: dict[Path, Path] | None = None,
) -> list[Candidate]:
    """`Candidate`s of (path, source) pairs; a file that cannot be stat'ed gets stat ""."""
    base = "\x00".join(
        [
            KEY_VERSION,
            pipeline_version,
            repr(rules),
            str(settings.chunk_tokens),
            str(settings.chunk_overlap),
            settings.tokenizer_encoding,
            str(settings.max_file_bytes),
        ]
    )
    manifests: dict[Path, dict[str, ManifestEntry]] = {}
    out = []
    for path, source in named:
        entry = manifest_entry(path, manifests, folders)
        real = str(real_path(path, folders))
        key = "\x00".join([base, source, real, entry.title, entry.url, ",".join(entry.tags)])
        digest = hashlib.sha256(key.encode()).hexdigest()
        out.append(Candidate(path, source, file_stat(path) or "", digest))
    return out


def registry_agrees(entries: dict[str, Entry], collection_count: int) -> bool:
    """True when every registry row is complete and their chunks add up to the collection's
    count, so the registry can stand in for reading the collection."""
    return all(e.state == COMPLETE for e in entries.values()) and (
        sum(e.chunks for e in entries.values()) == collection_count
    )
