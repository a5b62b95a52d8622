"""Incremental indexing into Chroma.

Why not LangChain's `index()` with a record manager: its record manager is a separate SQL
database that must live beside the collection, which breaks the stateless server mode (the
Chroma server would hold the vectors, each client its own record book). Instead every chunk
carries its document's fingerprint in its Chroma metadata and chunk ids are deterministic, so
the collection itself is the record: an unchanged document embeds nothing, a changed one
replaces only its own chunks, a vanished one is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chromadb.api.models.Collection import Collection
from filelock import FileLock, Timeout

from bot.runtime.embeddings import embed_array
from bot.runtime.lexical import LexicalIndex
from bot.runtime.settings import Settings
from bot.runtime.store import Store, paged_get
from bot.runtime.text import row_as_sentence, units
from ingest.chunk import Chunk, chunk_text
from ingest.clean import CleaningRules, clean_text, load_rules
from ingest.load import LoadResult, Problem, RawDocument, load_paths

log = logging.getLogger(__name__)

PIPELINE_VERSION = "3"  # bump when cleaning or chunking changes in a way that alters chunks
EMBED_BATCH = 64
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
    embedded: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)
    per_file: dict[str, str] = field(default_factory=dict)  # source -> added|updated|unchanged…

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


def _metadata(chunk: Chunk, doc: RawDocument, doc_hash: str) -> dict[str, Any]:
    return {
        "source": chunk.source,
        "title": chunk.title,
        "section": chunk.section,
        "chunk_index": chunk.index,
        "tokens": chunk.tokens,
        "content_hash": chunk.content_hash,
        "doc_hash": doc_hash,
        "tags": ",".join(doc.tags),
        "url": doc.url,
    }


def _existing(collection: Collection, page: int) -> dict[str, tuple[str, set[str]]]:
    """source -> (doc_hash, chunk ids) of what the collection holds now."""
    found: dict[str, tuple[str, set[str]]] = {}
    got = paged_get(collection, include=["metadatas"], page=page)
    for chunk_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
        source = str(meta.get("source", ""))
        doc_hash, ids = found.get(source, (str(meta.get("doc_hash", "")), set()))
        if doc_hash != meta.get("doc_hash"):
            doc_hash = ""  # mixed fingerprints: an interrupted run; reprocess this document
        ids.add(chunk_id)
        found[source] = (doc_hash, ids)
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


def _upsert(
    collection: Collection,
    units_collection: Collection,
    store: Store,
    items: list[tuple[Chunk, dict[str, Any]]],
    progress: ProgressFn | None,
    lexical: LexicalIndex,
) -> int:
    """Embed and write chunks and their quotable units; returns the number of chunks."""
    done = 0
    for start in range(0, len(items), EMBED_BATCH):
        batch = items[start : start + EMBED_BATCH]
        unit_rows = []
        unit_texts = []
        for chunk, _ in batch:
            chunk_units = units(chunk.text)
            header = next((u.text for u in chunk_units if u.kind == "row"), None)
            for unit in chunk_units:
                if unit.kind == "heading":
                    continue
                unit_rows.append((f"{chunk.id}:{unit.position}", unit, chunk))
                # A bare row ("Ownership | CTO, IT department | …") embeds poorly; with its
                # header spelled out it reads as the sentence it stands for.
                unit_texts.append(
                    row_as_sentence(unit.text, header) if unit.kind == "row" else unit.text
                )
        texts = [c.embed_text() for c, _ in batch] + unit_texts
        vectors = embed_array(store.embeddings, texts)
        # Units first: a reader that sees a chunk can always find its sentences.
        if unit_rows:
            units_collection.upsert(
                ids=[uid for uid, _, _ in unit_rows],
                documents=[u.text for _, u, _ in unit_rows],
                embeddings=vectors[len(batch) :],  # type: ignore[arg-type]
                metadatas=[
                    {"chunk_id": c.id, "source": c.source, "position": u.position, "kind": u.kind}
                    for _, u, c in unit_rows
                ],
            )
        collection.upsert(
            ids=[c.id for c, _ in batch],
            documents=[c.text for c, _ in batch],
            embeddings=vectors[: len(batch)],  # type: ignore[arg-type]
            metadatas=[m for _, m in batch],  # type: ignore[misc]
        )
        lexical.upsert([(c.id, c.source, c.embed_text()) for c, _ in batch])
        done += len(batch)
        if progress:
            progress("embed", done, len(items))
    return done


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

    `prune` deletes chunks of documents no longer present; it defaults to on when ingesting
    the whole corpus and off when specific paths are given (so adding one file keeps the rest).
    """
    started = time.perf_counter()
    given = list(paths) if paths else []
    prune = (not given) if prune is None else prune
    with ingest_lock(settings):
        loaded: LoadResult = load_paths(
            given or [settings.corpus_dir], settings.corpus_dir, settings.max_file_bytes
        )
        report = IngestReport(problems=loaded.problems, missing_paths=loaded.missing_paths)
        rules = load_rules(settings.corpus_dir / "cleaning.toml")
        lexical = LexicalIndex(settings, store.name)
        if rebuild:
            store.drop()
            lexical.clear()
        collection = store.collection(create=True)
        assert collection is not None
        existing = _existing(collection, settings.read_page_size)

        pending: list[tuple[Chunk, dict[str, Any]]] = []
        stale_ids: list[str] = []
        for doc in loaded.documents:
            doc_hash = fingerprint(doc, rules, settings)
            old_hash, old_ids = existing.get(doc.source, ("", set()))
            if old_hash == doc_hash:
                report.unchanged += 1
                report.per_file[doc.source] = "unchanged"
                report.files += 1
                report.chunks += len(old_ids)
                continue
            try:
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
            new_ids = {c.id for c in chunks}
            pending.extend((c, _metadata(c, doc, doc_hash)) for c in chunks if c.id not in old_ids)
            stale_ids.extend(old_ids - new_ids)
            if old_ids:
                report.updated += 1
                report.per_file[doc.source] = "updated"
            else:
                report.added += 1
                report.per_file[doc.source] = "added"

        if prune:
            present = {d.source for d in loaded.documents}
            for source, (_, ids) in existing.items():
                if source not in present:
                    stale_ids.extend(ids)
                    report.deleted += 1
                    report.per_file[source] = "deleted"

        # New chunks go in before stale ones come out, so a query mid-ingest never sees a
        # document missing; a crash between the two leaves extra chunks that the next run
        # removes (their doc_hash no longer matches), never a half-indexed document.
        units_collection = store.units(create=True)
        assert units_collection is not None
        report.embedded = _upsert(collection, units_collection, store, pending, progress, lexical)
        if stale_ids:
            collection.delete(ids=stale_ids)
            units_collection.delete(where={"chunk_id": {"$in": stale_ids}})
            lexical.delete(stale_ids)
        if pending or stale_ids:  # a no-op ingest changes nothing a running server can see
            _stamp(collection)
    report.seconds = time.perf_counter() - started
    log.info(
        "ingest: %d files, %d chunks, +%d ~%d -%d =%d, embedded %d in %.2fs",
        report.files, report.chunks, report.added, report.updated, report.deleted,
        report.unchanged, report.embedded, report.seconds,
    )  # fmt: skip
    return report


def _stamp(collection: Collection) -> None:
    """Record a new index version so long-running readers know to refresh their BM25 index."""
    meta = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
    meta["index_version"] = time.time_ns()
    collection.modify(metadata=meta)
