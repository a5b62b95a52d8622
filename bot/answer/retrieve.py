"""Hybrid retrieval: dense search in Chroma plus BM25 over the same chunks, fused by weighted
reciprocal rank fusion, with near-duplicate chunks removed.

`KnowledgeIndex` is the in-memory view of the collection (chunk texts, BM25, sentence vectors).
It is rebuilt from Chroma whenever the collection's `index_version` changes, so it is never
stale after an ingest, also when another process ran the ingest.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from bot.runtime.lexical import Bm25Index, terms
from bot.runtime.store import Store
from bot.runtime.text import contextual_text

log = logging.getLogger(__name__)

RRF_K = 60
VERSION_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk as stored in Chroma."""

    id: str
    text: str
    source: str
    title: str
    section: str
    index: int

    @property
    def embed_text(self) -> str:
        """Text used for lexical search (same as what was embedded)."""
        return contextual_text(self.title, self.section, self.text)


@dataclass(frozen=True)
class UnitRecord:
    """A quotable sentence or table row of a chunk, with its row in the unit matrix."""

    chunk_id: str
    text: str
    kind: str
    position: int
    row: int


@dataclass
class Hit:
    """A retrieved chunk with its scores."""

    chunk: ChunkRecord
    fused: float
    dense: float  # cosine similarity of query and chunk
    lexical: float  # BM25 score normalised to [0, 1] by the best score of the query
    rank: int = 0


@dataclass
class KnowledgeIndex:
    """Everything retrieval keeps in memory, loaded from the Chroma collections."""

    chunks: list[ChunkRecord] = field(default_factory=list)
    units: list[UnitRecord] = field(default_factory=list)
    unit_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 384), np.float32))
    bm25: Bm25Index = field(default_factory=lambda: Bm25Index([]))
    version: object = None
    unit_terms: list[frozenset[str]] = field(default_factory=list)  # unit text + its section
    idf: dict[str, float] = field(default_factory=dict)  # over units: rare terms weigh more

    @cached_property
    def by_id(self) -> dict[str, ChunkRecord]:
        """Chunks by id."""
        return {c.id: c for c in self.chunks}

    @cached_property
    def chunk_terms(self) -> dict[str, frozenset[str]]:
        """Content terms of each chunk, for near-duplicate checks."""
        return {c.id: frozenset(terms(c.text)) for c in self.chunks}

    @cached_property
    def _units_by_chunk(self) -> dict[str, list[UnitRecord]]:
        grouped: dict[str, list[UnitRecord]] = {}
        for unit in self.units:
            grouped.setdefault(unit.chunk_id, []).append(unit)
        return grouped

    def units_of(self, chunk_id: str) -> list[UnitRecord]:
        """The quotable units of one chunk, in order."""
        return self._units_by_chunk.get(chunk_id, [])


def load_index(store: Store) -> KnowledgeIndex:
    """Read chunks and unit vectors from Chroma and build the lexical index."""
    coll = store.collection()
    if coll is None:
        return KnowledgeIndex()
    got = coll.get(include=["documents", "metadatas"])
    chunks = [
        ChunkRecord(
            id=cid,
            text=doc or "",
            source=str(meta.get("source", "")),
            title=str(meta.get("title", "")),
            section=str(meta.get("section", "")),
            index=int(meta.get("chunk_index", 0)),  # type: ignore[arg-type]
        )
        for cid, doc, meta in zip(
            got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
        )
    ]
    chunks.sort(key=lambda c: (c.source, c.index))
    units_coll = store.units()
    units: list[UnitRecord] = []
    vectors = np.zeros((0, int(getattr(store.embeddings, "dimension", 384))), np.float32)
    if units_coll is not None:
        ugot = units_coll.get(include=["documents", "metadatas", "embeddings"])
        known = {c.id for c in chunks}
        rows = [
            (doc, meta, emb)
            for doc, meta, emb in zip(ugot["documents"] or [], ugot["metadatas"] or [], ugot["embeddings"] if ugot["embeddings"] is not None else [], strict=True)
            if meta.get("chunk_id") in known
        ]  # fmt: skip
        rows.sort(key=lambda r: (str(r[1]["chunk_id"]), int(r[1]["position"])))  # type: ignore[arg-type]
        units = [
            UnitRecord(
                str(m["chunk_id"]), d or "", str(m.get("kind", "sentence")), int(m["position"]), i
            )  # type: ignore[arg-type]
            for i, (d, m, _) in enumerate(rows)
        ]
        if rows:
            vectors = np.asarray([e for _, _, e in rows], dtype=np.float32)
    sections = {c.id: c.section for c in chunks}
    headers: dict[str, str] = {}
    for unit in units:
        if unit.kind == "row":
            headers.setdefault(unit.chunk_id, unit.text)
    # A table row's words include its header's ("Scope" row → "IT Transformation", …).
    unit_terms = [
        frozenset(
            terms(
                f"{sections.get(u.chunk_id, '')} {u.text} {headers[u.chunk_id] if u.kind == 'row' else ''}"
            )
        )
        for u in units
    ]
    df: dict[str, int] = {}
    for bag in unit_terms:
        for term in bag:
            df[term] = df.get(term, 0) + 1
    n = max(len(unit_terms), 1)
    return KnowledgeIndex(
        chunks=chunks,
        units=units,
        unit_vectors=vectors,
        bm25=Bm25Index([c.embed_text for c in chunks]),
        version=(coll.metadata or {}).get("index_version"),
        unit_terms=unit_terms,
        idf={t: math.log(1 + n / d) for t, d in df.items()},
    )


class IndexCache:
    """Holds the current `KnowledgeIndex` and reloads it when the collection changes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._index: KnowledgeIndex | None = None
        self._checked = 0.0

    def get(self) -> KnowledgeIndex:
        """The index, reloaded if an ingest changed the collection since the last check."""
        now = time.monotonic()
        if self._index is not None and now - self._checked < VERSION_CHECK_SECONDS:
            return self._index
        with self._lock:
            if self._index is None or now - self._checked >= VERSION_CHECK_SECONDS:
                coll = self._store.collection()
                version = (coll.metadata or {}).get("index_version") if coll is not None else None
                if self._index is None or version != self._index.version:
                    self._index = load_index(self._store)
                    log.info("loaded index version %s: %d chunks", version, len(self._index.chunks))
                self._checked = time.monotonic()
        return self._index

    def invalidate(self) -> None:
        """Force a reload on next use."""
        self._checked = 0.0
        self._index = None


def _near_duplicate(ta: frozenset[str], tb: frozenset[str]) -> bool:
    """Two chunks sharing ≥ 85% of the smaller one's terms (e.g. overlapping windows)."""
    if not ta or not tb:
        return ta == tb
    return len(ta & tb) / min(len(ta), len(tb)) >= 0.85


@dataclass
class Weights:
    """Fusion weights. On the dev split MRR was flat across lexical weights 0–1.5 (0.906–0.921,
    i.e. within one question), so plain equal-weight RRF is kept; see evals/tune.py."""

    dense: float = 1.0
    lexical: float = 1.0


class HybridRetriever:
    """Dense (Chroma) + BM25, fused with weighted reciprocal rank fusion."""

    def __init__(self, store: Store, cache: IndexCache, weights: Weights | None = None) -> None:
        self._store = store
        self._cache = cache
        self.weights = weights or Weights()

    def search(self, query: str, query_vector: np.ndarray, k: int) -> list[Hit]:
        """The `k` best chunks for `query`, best first, without near-duplicates."""
        index = self._cache.get()
        if not index.chunks or k <= 0:
            return []
        by_id = index.by_id
        pool = min(len(index.chunks), max(k * 3, 10))
        coll = self._store.collection()
        dense: dict[str, float] = {}
        if coll is not None:
            result = coll.query(
                query_embeddings=[query_vector.tolist()], n_results=pool, include=["distances"]
            )
            for cid, dist in zip(result["ids"][0], (result["distances"] or [[]])[0], strict=True):
                if cid in by_id:
                    dense[cid] = 1.0 - float(dist)
        bm25 = index.bm25.scores(query)
        top = float(bm25.max()) if bm25.size else 0.0
        lexical_order = [int(i) for i in np.argsort(-bm25)[:pool] if bm25[i] > 0]

        fused: dict[str, float] = {}
        for rank, cid in enumerate(sorted(dense, key=dense.__getitem__, reverse=True)):
            fused[cid] = fused.get(cid, 0.0) + self.weights.dense / (RRF_K + rank + 1)
        for rank, i in enumerate(lexical_order):
            cid = index.chunks[i].id
            fused[cid] = fused.get(cid, 0.0) + self.weights.lexical / (RRF_K + rank + 1)
        lexical_by_id = (
            {index.chunks[i].id: float(bm25[i]) / top for i in lexical_order} if top else {}
        )

        hits: list[Hit] = []
        for cid in sorted(fused, key=fused.__getitem__, reverse=True):
            chunk = by_id[cid]
            if any(
                _near_duplicate(index.chunk_terms[cid], index.chunk_terms[h.chunk.id]) for h in hits
            ):
                continue
            hits.append(
                Hit(chunk, fused[cid], dense.get(cid, 0.0), lexical_by_id.get(cid, 0.0), len(hits))
            )
            if len(hits) == k:
                break
        return hits
