"""Find and load corpus files, accounting for every one: each file under the given paths is
either loaded through its format's loader (`ingest/loaders/`) or recorded as a `Problem` saying
why not (unsupported type, empty, binary, too big, no text, a symlink leaving the corpus root,
unreadable), so one broken file never stops the rest and none disappears silently."""

from __future__ import annotations

import hashlib
import logging
import os
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders import FORMAT_NAMES, SUPPORTED_SUFFIXES, LoaderError, loader_for
from ingest.loaders.html import html_to_text

__all__ = ["SUPPORTED_SUFFIXES", "html_to_text"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.toml"
IGNORED_NAMES = {MANIFEST_NAME, "cleaning.toml", "README.md"}


@dataclass(frozen=True)
class RawDocument:
    """A file's text as loaded, before cleaning."""

    path: Path
    source: str  # stable id and citation path, e.g. "corpus/000_a56ff1d7635db02c.txt"
    title: str
    text: str
    raw_sha256: str
    tags: tuple[str, ...] = ()
    url: str = ""
    format: str = ""  # "text", "markdown", "html", "pdf", "docx", "pptx"


@dataclass(frozen=True)
class Problem:
    """Why one file or path was not ingested (or was ingested with a caveat)."""

    path: str
    reason: str
    fatal: bool = True  # False = a warning; the file was still loaded
    kind: str = "unreadable"  # the summary's category, e.g. "empty", "unsupported type"


@dataclass
class LoadResult:
    """Documents loaded plus the problems met on the way."""

    documents: list[RawDocument] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)

    @property
    def formats(self) -> dict[str, int]:
        """Loaded documents per format, e.g. {"html": 30, "pdf": 1}."""
        return dict(sorted(Counter(d.format for d in self.documents).items()))

    @property
    def skipped(self) -> dict[str, int]:
        """Skipped files per reason category, e.g. {"empty": 1, "unsupported type": 2}."""
        return dict(sorted(Counter(p.kind for p in self.problems if p.fatal).items()))


@dataclass(frozen=True)
class ManifestEntry:
    """Title, URL and tags of one document from `manifest.toml`."""

    title: str = ""
    url: str = ""
    tags: tuple[str, ...] = ()


def read_manifest(folder: Path) -> dict[str, ManifestEntry]:
    """Entries of `folder/manifest.toml` keyed by path relative to `folder` (empty if absent)."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        log.warning("ignoring malformed manifest %s: %s", path, exc)
        return {}
    entries = {}
    for name, entry in (data.get("documents") or {}).items():
        entries[name] = ManifestEntry(
            title=str(entry.get("title", "")),
            url=str(entry.get("source_url", entry.get("url", ""))),
            tags=tuple(str(t) for t in entry.get("tags", [])),
        )
    return entries


def real_path(path: Path, folders: dict[Path, Path] | None = None) -> Path:
    """`path.resolve()`; with `folders` (a cache per scan), each folder is resolved once and a
    file that is not a symlink is its real folder plus its name. Why: Python's resolve costs an
    lstat per path component, and a scan of thousands of files paid it several times per file."""
    if folders is None or path.is_symlink():
        return path.resolve()
    folder = path.parent
    if folder not in folders:
        folders[folder] = folder.resolve()
    return folders[folder] / path.name


def manifest_entry(
    path: Path,
    cache: dict[Path, dict[str, ManifestEntry]] | None = None,
    folders: dict[Path, Path] | None = None,
) -> ManifestEntry:
    """The manifest entry of a file (from the manifest next to it); `cache` keeps read
    manifests by folder, `folders` resolved folders (see `real_path`)."""
    folder = real_path(path, folders).parent if not path.is_symlink() else path.absolute().parent
    if cache is None:
        return read_manifest(folder).get(path.name, ManifestEntry())
    if folder not in cache:
        cache[folder] = read_manifest(folder)
    return cache[folder].get(path.name, ManifestEntry())


def source_name(path: Path, corpus_dir: Path, folders: dict[Path, Path] | None = None) -> str:
    """The citation path of a file: `corpus/<file>` inside the corpus, else relative to cwd
    (`folders`: a cache of resolved folders, see `real_path`)."""
    path = real_path(path, folders)
    if folders is None:
        corpus_dir = corpus_dir.resolve()
    else:
        corpus_dir = folders.setdefault(corpus_dir, corpus_dir.resolve())
    if path.is_relative_to(corpus_dir):
        return f"{corpus_dir.name}/{path.relative_to(corpus_dir).as_posix()}"
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


# Text formats are checked for NUL bytes; the container formats are binary by nature.
_TEXT_FORMATS = {".txt", ".md", ".markdown", ".html", ".htm"}


def _title_from_text(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= 120 else fallback
    return fallback


def load_file(path: Path, corpus_dir: Path, max_bytes: int, result: LoadResult) -> None:
    """Load one file into `result` (a document, or a problem saying why not)."""
    size = path.stat().st_size
    if size == 0:
        result.problems.append(Problem(str(path), "empty file", kind="empty"))
        return
    if size > max_bytes:
        reason = f"{size:,} bytes exceeds the limit of {max_bytes:,} (KB_MAX_FILE_BYTES)"
        result.problems.append(Problem(str(path), reason, kind="too big"))
        return
    suffix = path.suffix.lower()
    loader = loader_for(suffix)
    if loader is None:
        reason = f"unsupported file type {path.suffix or '(none)'!r}"
        result.problems.append(Problem(str(path), reason, kind="unsupported type"))
        return
    data = path.read_bytes()
    if suffix in _TEXT_FORMATS and b"\x00" in data[:8192]:
        reason = "binary file (contains NUL bytes)"
        result.problems.append(Problem(str(path), reason, kind="binary"))
        return
    try:
        loaded = loader(data, path)
    except LoaderError as exc:
        result.problems.append(Problem(str(path), str(exc), kind="no text"))
        return
    except Exception as exc:  # a parser bug on one odd file must not stop the others
        log.warning("cannot load %s", path, exc_info=True)
        reason = f"cannot load: {type(exc).__name__}: {exc}"
        result.problems.append(Problem(str(path), reason, kind="unreadable"))
        return
    for warning in loaded.warnings:
        result.problems.append(Problem(str(path), warning, fatal=False, kind="warning"))
    if not loaded.text.strip():
        result.problems.append(Problem(str(path), "no text content", kind="no text"))
        return
    entry = manifest_entry(path)
    result.documents.append(
        RawDocument(
            path=path,
            source=source_name(path, corpus_dir),
            title=entry.title or loaded.title or _title_from_text(loaded.text, path.stem),
            text=loaded.text,
            raw_sha256=hashlib.sha256(data).hexdigest(),
            tags=entry.tags,
            url=entry.url,
            format=FORMAT_NAMES.get(suffix, suffix.lstrip(".")),
        )
    )


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _walk(root: Path, result: LoadResult) -> list[Path]:
    """Files under the folder `root`, sorted; symlinks leaving `root` are refused.

    Hidden files and folders (".git", ".DS_Store") and the corpus' own configuration files
    are not documents and are passed over silently.
    """
    real_root = root.resolve()
    files: list[Path] = []
    seen_dirs: set[Path] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        here = Path(folder)
        real = here.resolve()
        if not real.is_relative_to(real_root) or real in seen_dirs:
            # a linked folder outside the root (or a loop): refuse it, with one line
            if not real.is_relative_to(real_root):
                result.problems.append(_outside(here))
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = here / name
            if name.startswith(".") or name in IGNORED_NAMES:
                continue
            if _hidden(path, root):
                continue
            resolved = real / name if not path.is_symlink() else path.resolve()
            if not resolved.is_relative_to(real_root):
                result.problems.append(_outside(path))
                continue
            if not path.exists():
                reason = "broken symlink (its target does not exist)"
                result.problems.append(Problem(str(path), reason, kind="unreadable"))
                continue
            if not path.is_file():  # a FIFO or socket would block or fail on read
                reason = "not a regular file"
                result.problems.append(Problem(str(path), reason, kind="unsupported type"))
                continue
            files.append(path)
    return files


def _outside(path: Path) -> Problem:
    reason = "symlink to a target outside the corpus root; not followed"
    return Problem(str(path), reason, kind="outside root")


def iter_files(paths: Iterable[Path], result: LoadResult) -> list[Path]:
    """Every file under `paths` (recursively, sorted, each real file once); missing paths and
    symlinks leaving their folder are recorded as problems."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            result.missing_paths.append(str(path))
            result.problems.append(Problem(str(path), "no such file or directory", kind="missing"))
        elif path.is_dir():
            files.extend(_walk(path, result))
        else:
            files.append(path)  # named on purpose: loaded whatever its suffix says
    unique: dict[Path, Path] = {}
    folders: dict[Path, Path] = {}
    for path in files:
        unique.setdefault(real_path(path, folders), path)
    return list(unique.values())


def load_paths(
    paths: Iterable[Path],
    corpus_dir: Path,
    max_bytes: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> LoadResult:
    """Load every file under `paths`; the others are in `problems`, one each.

    `progress("load", done, total)` is called after each file.
    """
    result = LoadResult()
    load_files(iter_files(paths, result), corpus_dir, max_bytes, result, progress)
    return result


def load_files(
    files: list[Path],
    corpus_dir: Path,
    max_bytes: int,
    result: LoadResult,
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Load `files` (found by `iter_files`) into `result`; `progress("load", done, total)`."""
    for done, path in enumerate(files, start=1):
        if progress:
            progress("load", done, len(files))
        try:
            load_file(path, corpus_dir, max_bytes, result)
        except OSError as exc:
            reason = f"cannot read: {exc.strerror or exc}"
            result.problems.append(Problem(str(path), reason, kind="unreadable"))
    for problem in result.problems:  # the CLI prints them; logged at INFO so not twice
        log.info("%s: %s", problem.path, problem.reason)
