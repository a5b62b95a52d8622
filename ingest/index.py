"""Incremental, crash-safe indexing into Chroma.

Why not LangChain's `index()` with a record manager: its record manager is a separate SQL
database that must agree with the collection, and nothing repairs the two when a run dies
between them. Here the collection itself is the record: chunk ids are deterministic and every
chunk carries its document's fingerprint and chunk count, so an unchanged document embeds
nothing, a changed one replaces only its own chunks, a vanished one is deleted, and a document
with missing or mixed chunks (a run killed mid-way) is seen as partial and redone. The registry
in the state database (ingest/registry.py) adds what the collection cannot say: which documents
a run was writing when it died, which were added by path, and their titles for `kb status`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.models.Collection import Collection
from filelock import FileLock, Timeout

from bot.runtime.lexical import LexicalIndex
from bot.runtime.sentences import SentenceStore, StoredUnit
from bot.runtime.settings import Settings
from bot.runtime.store import Store, paged_get
from ingest.chunk import Chunk, chunk_text
from ingest.clean import CleaningRules, clean_text, load_rules
from ingest.embed import UnitRow, embed_chunks
from ingest.load import LoadResult, Problem, RawDocument, iter_files, load_files, source_name
from ingest.loaders import FORMAT_NAMES
from ingest.migrate import move_legacy_units
from ingest.registry import COMPLETE, WRITING, Entry, Registry
from ingest.unchanged import candidates, registry_agrees

log = logging.getLogger(__name__)

PIPELINE_VERSION = "4"  # bump when cleaning or chunking changes in a way that alters chunks
EMBED_BATCH = 64  # chunks written together (a document is never split) and embedded per call
TARGETED_READ_MAX = 1000  # documents to check; above it, one paged read of the collection
WRITE_BATCH = 4000  # rows per Chroma write, under its maximum batch size
ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


class IngestError(RuntimeError):
    """Ingestion could not run at all (lock held, store unavailable…)."""


@dataclass
class IngestReport:
    """What one ingest run did."""

    files: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    repaired: int = 0  # documents found partial (an interrupted run) and rewritten
    embedded: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)
    per_file: dict[str, str] = field(default_factory=dict)  # source -> added|updated|unchanged…
    formats: dict[str, int] = field(default_factory=dict)  # loaded files per format
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds (benchmarks)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the time spent inside the block to `timings[stage]`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started

    @property
    def skipped(self) -> dict[str, int]:
        """Files not ingested, per reason category ("empty", "unsupported type"…)."""
        return dict(sorted(Counter(p.kind for p in self.problems if p.fatal).items()))

    @property
    def ok(self) -> bool:
        """False when a given path did not exist or nothing could be ingested."""
        return not self.missing_paths and (self.files > 0 or self.chunks > 0)


def fingerprint(doc: RawDocument, rules: CleaningRules, settings: Settings) -> str:
    """Hash of everything that determines a document's chunks."""
    parts = [
        PIPELINE_VERSION,
        doc.raw_sha256,
        doc.title,
        ",".join(doc.tags),
        repr(rules),
        str(settings.chunk_tokens),
        str(settings.chunk_overlap),
        settings.tokenizer_encoding,
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def chunks_of(doc: RawDocument, rules: CleaningRules, settings: Settings) -> list[Chunk]:
    """Clean and chunk one document."""
    return chunk_text(
        clean_text(doc.text, rules),
        source=doc.source,
        title=doc.title,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
        encoding=settings.tokenizer_encoding,
    )


def _metadata(chunk: Chunk, doc: RawDocument, doc_hash: str, count: int) -> dict[str, Any]:
    return {
        "source": chunk.source,
        "title": chunk.title,
        "section": chunk.section,
        "chunk_index": chunk.index,
        "tokens": chunk.tokens,
        "content_hash": chunk.content_hash,
        "doc_hash": doc_hash,
        "doc_chunks": count,  # lets the collection alone tell a whole document from a partial
        "tags": ",".join(doc.tags),
        "url": doc.url,
    }


@dataclass
class Held:
    """What the collection holds of one document."""

    hashes: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    counts: set[int] = field(default_factory=set)  # the doc_chunks each chunk claims

    def whole(self, doc_hash: str) -> bool:
        """True when every chunk of the `doc_hash` version is there and nothing else."""
        return self.hashes == {doc_hash} and self.counts == {len(self.ids)}


def _existing(collection: Collection, sources: list[str] | None = None) -> dict[str, Held]:
    """source -> what the collection holds of it (of `sources`, or all; read page by page)."""
    found: dict[str, Held] = {}
    if sources is None:
        got = paged_get(collection, include=["metadatas"])
    else:
        got = {"ids": [], "metadatas": []}
        for part in _batched(sources, 100):
            some = paged_get(collection, where={"source": {"$in": part}}, include=["metadatas"])
            got["ids"] += some["ids"]
            got["metadatas"] += some["metadatas"]
    for chunk_id, meta in zip(got["ids"], got["metadatas"], strict=True):
        held = found.setdefault(str(meta.get("source", "")), Held())
        held.ids.add(chunk_id)
        held.hashes.add(str(meta.get("doc_hash", "")))
        held.counts.add(int(meta.get("doc_chunks", -1)))  # -1: written before counts existed
    return found


@contextmanager
def ingest_lock(settings: Settings, wait_seconds: float = 30.0):  # type: ignore[no-untyped-def]
    """Hold the ingest lock; a second ingest waits, then refuses with a clear message."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.data_dir / "ingest.lock"))
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout as exc:
        raise IngestError(
            f"another `kb ingest` is running on {settings.data_dir} "
            f"(waited {wait_seconds:.0f}s); try again when it has finished"
        ) from exc
    try:
        yield
    finally:
        lock.release()


@dataclass
class _Work:
    """One document to (re)write."""

    doc: RawDocument
    doc_hash: str
    chunks: list[Chunk]
    old_ids: set[str]
    pinned: bool

    def entry(self, state: str) -> Entry:
        return Entry(
            source=self.doc.source,
            title=self.doc.title,
            path=str(self.doc.path.resolve()),
            url=self.doc.url,
            format=self.doc.path.suffix.lower().lstrip("."),
            doc_hash=self.doc_hash,
            chunks=len(self.chunks),
            state=state,
            pinned=self.pinned,
        )


def _batched(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Indexes:
    """What an ingest writes besides Chroma, all in the state database."""

    registry: Registry
    lexical: LexicalIndex
    sentences: SentenceStore

    @classmethod
    def open(cls, settings: Settings, store: Store) -> Indexes:
        return cls(
            Registry(settings),
            LexicalIndex(settings, store.name),
            SentenceStore(settings, store.name),
        )


def _write(
    store: Store,
    index: Indexes,
    group: list[_Work],
    report: IngestReport,
    on_embedded: Callable[[int], None] = lambda n: None,
) -> int:
    """Embed and write a group of whole documents; returns the number of chunks embedded.

    Order matters for crash safety: the registry says 'writing' before Chroma is touched and
    'complete' after; units (in the sentence store) go in before their chunks (a reader that
    sees a chunk finds its sentences); new chunks go in before stale ones come out, so a reader never sees a document
    missing. A run killed anywhere in between leaves a 'writing' row or a partial document,
    which the next run redoes.
    """
    collection = store.collection(create=True)
    assert collection is not None
    with report.timed("registry"):
        index.registry.put(w.entry(WRITING) for w in group)
    todo = [(w, c) for w in group for c in w.chunks if c.id not in w.old_ids]
    chunk_vecs, rows, unit_vecs = _embed(store, [c for _, c in todo], report, on_embedded)
    with report.timed("sentence units"):
        index.sentences.upsert(_units_by_chunk(rows, unit_vecs, [c for _, c in todo]))
    for part in _batched(list(range(len(todo))), WRITE_BATCH):
        with report.timed("chroma chunks"):
            collection.upsert(
                ids=[todo[i][1].id for i in part],
                documents=[todo[i][1].text for i in part],
                embeddings=chunk_vecs[part],  # type: ignore[arg-type]
                metadatas=[_metadata(todo[i][1], todo[i][0].doc, todo[i][0].doc_hash, len(todo[i][0].chunks)) for i in part],  # type: ignore[misc]
            )  # fmt: skip
        # The lexical index holds what a chunk is embedded with (its first line, title ›
        # section, feeds the sentence-level term counts).
        with report.timed("lexical"):
            index.lexical.upsert([(todo[i][1].id, todo[i][1].source, todo[i][1].embed_text()) for i in part])  # fmt: skip
    # Chunks whose text did not change keep their vectors but take the new fingerprint, so the
    # next run sees the document as unchanged (not "updated, embedded 0" forever).
    kept = [(w, c) for w in group for c in w.chunks if c.id in w.old_ids]
    with report.timed("chroma chunks"):
        for part in _batched(kept, WRITE_BATCH):
            collection.update(
                ids=[c.id for _, c in part],
                metadatas=[_metadata(c, w.doc, w.doc_hash, len(w.chunks)) for w, c in part],  # type: ignore[misc]
            )
            index.lexical.upsert(
                [(c.id, c.source, c.embed_text()) for _, c in part]
            )  # repairs a crash
        for w in group:
            new_ids = [c.id for c in w.chunks]
            stale = sorted(w.old_ids - set(new_ids))
            if stale:
                collection.delete(ids=stale)
                index.lexical.delete(stale)
            if stale or len(w.old_ids) < len(new_ids):  # also sweeps units a crash left behind
                index.sentences.delete_source(w.doc.source, keep=new_ids)
    with report.timed("registry"):
        index.registry.put(w.entry(COMPLETE) for w in group)
    return len(todo)


def _embed(
    store: Store, chunks: list[Chunk], report: IngestReport, on_embedded: Callable[[int], None]
) -> tuple[np.ndarray, list[UnitRow], np.ndarray]:
    """Vectors of a group's chunks and units, `EMBED_BATCH` chunks per call, so the progress
    bar moves inside a long document too (`on_embedded(n)` after each call)."""
    parts = []
    for part in _batched(chunks, EMBED_BATCH):
        with report.timed("embed"):
            parts.append(embed_chunks(store.embeddings, part))
        on_embedded(len(part))
    if not parts:
        return np.zeros((0, 0), np.float32), [], np.zeros((0, 0), np.float32)
    return (
        np.concatenate([p[0] for p in parts]),
        [row for p in parts for row in p[1]],
        np.concatenate([p[2] for p in parts]),
    )


def _units_by_chunk(
    rows: list[UnitRow], vectors: np.ndarray, chunks: list[Chunk]
) -> list[tuple[str, str, int, list[StoredUnit]]]:
    """(chunk id, source, chunk index, units) of every chunk, units in position order (none for
    a chunk without quotable units: its row still says where it stands in its document)."""
    grouped: dict[str, list[StoredUnit]] = {c.id: [] for c in chunks}
    for row, vec in zip(rows, vectors, strict=True):
        unit = row.unit
        grouped[row.chunk.id].append(StoredUnit(unit.text, unit.kind, unit.position, vec))
    return [(c.id, c.source, c.index, grouped[c.id]) for c in chunks]


def _delete_sources(store: Store, index: Indexes, sources: list[str]) -> None:
    """Remove documents from Chroma, the sentence store and the lexical index, then from the
    registry (in that order, so a crash in between leaves a row that the next prune deletes
    again)."""
    collection = store.collection(create=True)
    assert collection is not None
    for part in _batched(sources, 100):
        collection.delete(where={"source": {"$in": part}})
    for source in sources:
        index.sentences.delete_source(source)
        index.lexical.delete_source(source)
    index.registry.forget(sources)


def _pinned_files(entries: dict[str, Entry], report: IngestReport) -> list[tuple[Path, str]]:
    """(path, source) of documents added by path earlier, to be re-read from where they were.

    A path outside the corpus is named relative to the working directory; the name it was
    first indexed under is kept, so its chunk ids and citations stay the same.
    """
    pinned = [e for e in entries.values() if e.pinned]
    present = [e for e in pinned if Path(e.path).is_file()]
    for e in pinned:
        if e not in present:
            report.problems.append(
                Problem(
                    e.path,
                    f"added by path but now missing; kept in the index "
                    f"(`kb remove {e.path}` drops it)",
                    fatal=False,
                )
            )
    return [(Path(e.path), e.source) for e in present]


def ingest(
    paths: Iterable[Path] | None,
    settings: Settings,
    store: Store,
    *,
    rebuild: bool = False,
    prune: bool | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Bring the collection in line with the files under `paths` (default: the corpus).

    `prune` deletes documents no longer present; it defaults to on when ingesting the whole
    corpus and off when specific paths are given. Files given by path from outside the corpus
    are pinned: a plain `kb ingest` keeps (and refreshes) them until `kb remove PATH`.
    """
    started = time.perf_counter()
    given = list(paths) if paths else []
    prune = (not given) if prune is None else prune
    corpus_root = settings.corpus_dir.resolve()
    with ingest_lock(settings):
        index = Indexes.open(settings, store)
        registry = index.registry
        if rebuild:
            store.drop()
            registry.clear()
            index.lexical.clear()
            index.sentences.clear()
        moved = move_legacy_units(store, index.sentences, progress)
        collection = store.collection(create=True)
        assert collection is not None
        report = IngestReport()
        with report.timed("registry"):
            entries = registry.all()
            seen = registry.stats()
            trusted = registry_agrees(entries, collection.count())
        rules = load_rules(settings.corpus_dir / "cleaning.toml")
        found = LoadResult()
        with report.timed("scan"):
            files = iter_files(given or [settings.corpus_dir], found)
            folders: dict[Path, Path] = {}
            named = [(p, source_name(p, settings.corpus_dir, folders)) for p in files]
            if not given:
                taken = {s for _, s in named}
                named += [(p, s) for p, s in _pinned_files(entries, report) if s not in taken]
            cands = candidates(named, rules, settings, PIPELINE_VERSION, folders)
        quick: set[str] = set()
        for c in cands:
            entry = entries.get(c.source)
            newly_pinned = (
                bool(given)
                and entry is not None
                and not entry.pinned
                and not c.path.resolve().is_relative_to(corpus_root)
            )
            if trusted and not newly_pinned and c.unchanged(entry, seen.get(c.source)):
                quick.add(c.source)
                report.unchanged += 1
                report.per_file[c.source] = "unchanged"
                report.files += 1
                report.chunks += entries[c.source].chunks
        slow = [c for c in cands if c.source not in quick]
        by_path = {str(c.path.resolve()): c for c in slow}
        with report.timed("load"):
            load_files([c.path for c in slow], settings.corpus_dir, settings.max_file_bytes, found, progress)  # fmt: skip
        report.problems = found.problems + report.problems
        report.missing_paths = found.missing_paths
        formats = Counter(found.formats)
        suffixes = (Path(s).suffix.lower() for s in quick)
        formats.update(FORMAT_NAMES.get(x, x.lstrip(".")) for x in suffixes)
        report.formats = dict(sorted(formats.items()))
        documents: dict[str, RawDocument] = {}
        for doc in found.documents:
            c = by_path.get(str(doc.path.resolve()))
            doc = dataclasses.replace(doc, source=c.source) if c else doc
            documents.setdefault(doc.source, doc)
        kept = set(documents) | quick | {s for s, e in entries.items() if e.pinned}
        with report.timed("read collection"):
            # Only the documents read need the collection's view, unless the registry cannot
            # be trusted to stand in for it (then everything is read, as before).
            wanted = sorted(set(documents) | (set(entries) - kept)) if prune else sorted(documents)
            full = not trusted or len(wanted) > TARGETED_READ_MAX
            existing = _existing(collection) if full else _existing(collection, wanted)

        work: list[_Work] = []
        settle: list[Entry] = []  # registry rows to bring in line without touching Chroma
        hashes: dict[str, str] = {}
        for n, doc in enumerate(documents.values(), start=1):
            if progress:
                progress("chunk", n, len(documents))
            doc_hash = hashes[doc.source] = fingerprint(doc, rules, settings)
            held = existing.get(doc.source, Held())
            entry = entries.get(doc.source)
            pinned = (entry is not None and entry.pinned) or (
                bool(given) and not doc.path.resolve().is_relative_to(corpus_root)
            )
            if held.whole(doc_hash) and (entry is None or entry.state == COMPLETE):
                report.unchanged += 1
                report.per_file[doc.source] = "unchanged"
                report.files += 1
                report.chunks += len(held.ids)
                done = _Work(doc, doc_hash, [], held.ids, pinned).entry(COMPLETE)
                done = dataclasses.replace(done, chunks=len(held.ids))
                if entry != done:
                    settle.append(done)
                continue
            try:
                with report.timed("clean+chunk"):
                    chunks = chunks_of(doc, rules, settings)
            except Exception as exc:  # one bad document must not stop the others
                log.exception("cannot chunk %s", doc.source)
                report.problems.append(Problem(str(doc.path), f"cannot process: {exc}"))
                continue
            if not chunks:
                report.problems.append(Problem(str(doc.path), "no text left after cleaning"))
                continue
            report.files += 1
            report.chunks += len(chunks)
            work.append(_Work(doc, doc_hash, chunks, held.ids, pinned))
            if held.hashes == {doc_hash} or (entry is not None and entry.doc_hash == doc_hash):
                status = "repaired"  # the same version, left partial by an interrupted run
            else:
                status = "updated" if held.ids else "added"
            setattr(report, status, getattr(report, status) + 1)
            report.per_file[doc.source] = status

        gone: list[str] = []
        if prune:
            gone = sorted((set(existing) | set(entries)) - kept)
            for source in gone:
                if source in existing:
                    report.deleted += 1
                    report.per_file[source] = "deleted"

        registry.put(settle)
        total = sum(1 for w in work for c in w.chunks if c.id not in w.old_ids)
        done = 0

        def on_embedded(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress("embed", done, total)

        if progress:
            progress("embed", 0, total)
        group: list[_Work] = []
        for n, w in enumerate(work):
            group.append(w)
            if sum(len(g.chunks) for g in group) >= EMBED_BATCH or n == len(work) - 1:
                report.embedded += _write(store, index, group, report, on_embedded)
                group = []
        if gone:
            _delete_sources(store, index, gone)
        # Last, so a run that dies earlier leaves no row claiming a file was seen whole.
        registry.put_stats(
            by_path[str(doc.path.resolve())].record(hashes[source])
            for source, doc in documents.items()
            if report.per_file.get(source) in ("unchanged", "added", "updated", "repaired")
            and str(doc.path.resolve()) in by_path
        )
        if work or gone or moved:
            _stamp(collection)  # an ingest that changed nothing changes nothing readers see
    report.seconds = time.perf_counter() - started
    log.info(
        "ingest: %d files, %d chunks, +%d ~%d -%d =%d repaired %d, embedded %d in %.2fs",
        report.files, report.chunks, report.added, report.updated, report.deleted,
        report.unchanged, report.repaired, report.embedded, report.seconds,
    )  # fmt: skip
    return report


def remove(paths: Iterable[Path], settings: Settings, store: Store) -> list[str]:
    """Remove documents (files, or every document under a folder) from the index on purpose.

    A path is matched by the name it was indexed under and by its absolute path, so a file
    added from outside the corpus is found whatever the working directory. Returns the
    sources removed.
    """
    with ingest_lock(settings):
        index = Indexes.open(settings, store)
        entries = index.registry.all()
        collection = store.collection()
        held = set(_existing(collection)) if collection is not None else set()
        known = held | set(entries)
        wanted: set[str] = set()
        for path in paths:
            absolute = path.resolve()
            name = source_name(path, settings.corpus_dir)
            for source in known:
                entry = entries.get(source)
                where = Path(entry.path) if entry and entry.path else None
                if (
                    source == name
                    or source.startswith(name.rstrip("/") + "/")
                    or (where is not None and (where == absolute or where.is_relative_to(absolute)))
                ):
                    wanted.add(source)
        if wanted:
            _delete_sources(store, index, sorted(wanted))
            if collection is not None:
                _stamp(collection)
    return sorted(wanted)


def _stamp(collection: Collection) -> None:
    """Record a new index version so long-running readers know to refresh their BM25 index."""
    meta = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
    meta["index_version"] = time.time_ns()
    collection.modify(metadata=meta)
