"""Load corpus files (.txt, .md, .html) from directories or paths, with per-file problems
reported instead of raised, so one broken file never stops the rest."""

from __future__ import annotations

import hashlib
import logging
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm"}
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


@dataclass(frozen=True)
class Problem:
    """Why one file or path was not ingested (or was ingested with a caveat)."""

    path: str
    reason: str
    fatal: bool = True  # False = a warning; the file was still loaded


@dataclass
class LoadResult:
    """Documents loaded plus the problems met on the way."""

    documents: list[RawDocument] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)


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


def source_name(path: Path, corpus_dir: Path) -> str:
    """The citation path of a file: `corpus/<file>` inside the corpus, else relative to cwd."""
    path = path.resolve()
    corpus_dir = corpus_dir.resolve()
    if path.is_relative_to(corpus_dir):
        return f"{corpus_dir.name}/{path.relative_to(corpus_dir).as_posix()}"
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _decode(data: bytes, path: Path, problems: list[Problem]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(Problem(str(path), "not valid UTF-8; decoded as cp1252", fatal=False))
        return data.decode("cp1252", errors="replace")


def html_to_text(html: str) -> str:
    """Visible text of an HTML page, one block element a line; scripts and styles dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "head"]):
        tag.decompose()
    for table_row in soup.find_all("tr"):
        cells = [c.get_text(" ", strip=True) for c in table_row.find_all(["td", "th"])]
        table_row.replace_with(soup.new_string("\n" + " | ".join(cells) + " |\n"))
    blocks = "p div li h1 h2 h3 h4 h5 h6 br section article header footer tr table ul ol"
    for tag in soup.find_all(blocks.split()):
        tag.insert_before("\n")
        tag.insert_after("\n")
    return soup.get_text()


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
        result.problems.append(Problem(str(path), "empty file"))
        return
    if size > max_bytes:
        result.problems.append(
            Problem(
                str(path), f"{size:,} bytes exceeds the limit of {max_bytes:,} (KB_MAX_FILE_BYTES)"
            )
        )
        return
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        result.problems.append(Problem(str(path), "binary file (contains NUL bytes)"))
        return
    text = _decode(data, path, result.problems)
    if path.suffix.lower() in {".html", ".htm"}:
        text = html_to_text(text)
    if not text.strip():
        result.problems.append(Problem(str(path), "no text content"))
        return
    folder = path.resolve().parent
    manifest = read_manifest(folder)
    entry = manifest.get(path.name, ManifestEntry())
    result.documents.append(
        RawDocument(
            path=path,
            source=source_name(path, corpus_dir),
            title=entry.title or _title_from_text(text, path.stem),
            text=text,
            raw_sha256=hashlib.sha256(data).hexdigest(),
            tags=entry.tags,
            url=entry.url,
        )
    )


def iter_files(paths: Iterable[Path], result: LoadResult) -> list[Path]:
    """Supported files under `paths` (recursively, sorted); missing paths are recorded."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            result.missing_paths.append(str(path))
            result.problems.append(Problem(str(path), "no such file or directory"))
        elif path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and p.name not in IGNORED_NAMES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files.extend(found)
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(path)
        else:
            result.problems.append(
                Problem(str(path), f"unsupported file type {path.suffix or '(none)'!r}")
            )
    return list(dict.fromkeys(files))


def load_paths(paths: Iterable[Path], corpus_dir: Path, max_bytes: int) -> LoadResult:
    """Load every supported file under `paths`."""
    result = LoadResult()
    for path in iter_files(paths, result):
        try:
            load_file(path, corpus_dir, max_bytes, result)
        except OSError as exc:
            result.problems.append(Problem(str(path), f"cannot read: {exc.strerror or exc}"))
    for problem in result.problems:
        log.warning("%s: %s", problem.path, problem.reason)
    return result
