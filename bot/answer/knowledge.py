"""What a request knows of the knowledge base: read-through access to Chroma and the lexical
index with bounded caches (`Corpus`), and one request's working set (`KnowledgeIndex`).

Nothing here holds a large corpus (a small collection's chunk vectors are kept for exact
search, `exact_search`). Chunk ids are content hashes, so a cached chunk never goes
stale; the caches are emptied anyway when an ingest changes the collection. A `KnowledgeIndex`
holds the chunks and sentence units one request touched, with their rows in a small vector
matrix, so the cost of a question does not grow with the corpus.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.answer.exact_search import ExactChunkSearch
from bot.runtime.lexical import LexicalIndex
from bot.runtime.sentences import SentenceStore, StoredUnit
from bot.runtime.settings import Settings
from bot.runtime.store import Store, paged_get
from bot.runtime.terms import terms
from bot.runtime.text import ChunkRecord

log = logging.getLogger(__name__)

CACHE_CHUNKS = 20_000  # chunk texts: ~2 KB each, ~40 MB at most
CACHE_UNITS = 5_000  # chunks' sentence vectors: ~15 KB per chunk, ~75 MB at most


@dataclass(frozen=True)
class UnitRecord:
    """A quotable sentence or table row of a chunk, with its row in the working set's matrix."""

    chunk_id: str
    text: str
    kind: str
    position: int
    row: int


def chunk_from(cid: str, doc: str | None, meta: Mapping[str, object] | None) -> ChunkRecord:
    """A ChunkRecord from one Chroma record."""
    meta = meta or {}
    return ChunkRecord(
        id=cid,
        text=doc or "",
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        section=str(meta.get("section", "")),
        index=int(meta.get("chunk_index", 0)),  # type: ignore[call-overload]
    )


class _Lru:
    """A small thread-safe LRU map (hand-written: no cache library is a dependency)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, object]:
        with self._lock:
            found = {k: self._data[k] for k in keys if k in self._data}
            for k in found:
                self._data.move_to_end(k)
            return found

    def put_many(self, items: dict[str, object]) -> None:
        with self._lock:
            self._data.update(items)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class Corpus:
    """Read-through access to the collections and the lexical index, with bounded caches."""

    def __init__(
        self,
        store: Callable[[], Store],
        lexical: LexicalIndex,
        sentences: SentenceStore,
        page: int = 5000,
        exact_search_chunks: int = 0,
    ) -> None:
        self._store = store
        self.lexical = lexical
        self.sentences = sentences
        self.page = page
        self._chunks = _Lru(CACHE_CHUNKS)
        self._units = _Lru(CACHE_UNITS)
        self._udf = _Lru(200_000)
        self._texts = _Lru(4096)  # vectors of texts embedded on the request path (lists)
        self._units_total: int | None = None
        self._handle: tuple[Store, Any, int] | None = None
        # A small collection's chunk vectors, bound to the handle they were read from.
        self.exact = ExactChunkSearch(exact_search_chunks)

    @classmethod
    def open(cls, settings: Settings, store: Callable[[], Store]) -> Corpus:
        """The configured collection's corpus; `store()` is the current store."""
        lexical, sentences = LexicalIndex(settings), SentenceStore(settings)
        return cls(store, lexical, sentences, settings.read_page_size, settings.exact_search_chunks)

    @property
    def store(self) -> Store:
        """The current store (replaced when another process's ingest is picked up)."""
        return self._store()

    def clear(self) -> None:
        """Forget cached records (after an ingest changed the collection)."""
        self._chunks.clear()
        self._units.clear()
        self.lexical.forget_statistics()
        self._udf.clear()
        self._texts.clear()
        self._units_total = None
        self._handle = None  # a new handle: the exact-search matrix of the old one stops

    def text_vectors(self, texts: list[str], embed: Callable[[list[str]], Any]) -> np.ndarray:
        """Vectors of `texts` with this corpus' embedder, remembered (the same lists come back
        question after question)."""
        found = self._texts.get_many(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = dict(zip(missing, embed(missing), strict=True))
            self._texts.put_many(fresh)  # type: ignore[arg-type]
            found.update(fresh)
        return np.stack([found[t] for t in texts])  # type: ignore[misc]

    def handle(self) -> tuple[Any, int]:
        """(the chunks collection, its record count), or (None, 0); opened once per store and
        ingest (opening it is a catalogue read, ~10 ms on a busy machine)."""
        store = self.store
        cached = self._handle
        if cached is not None and cached[0] is store:
            return cached[1], cached[2]
        coll = store.collection()
        count = coll.count() if coll is not None else 0
        self._handle = (store, coll, count) if coll is not None else None
        return coll, count

    def prepare_exact_search(self) -> None:
        """Read a small collection's chunk vectors for exact search, unless they are in memory
        for the current handle (the watcher calls this; requests never wait on it)."""
        self.exact.load(*self.handle(), self.page)

    def cached_chunks(self, ids: list[str]) -> dict[str, ChunkRecord]:
        """The chunks with these ids that are in memory already (never reads Chroma)."""
        return self._chunks.get_many(ids)  # type: ignore[return-value]

    def chunks(self, ids: list[str]) -> dict[str, ChunkRecord]:
        """The chunks with these ids that exist (cached, else read from Chroma)."""
        found: dict[str, ChunkRecord] = self._chunks.get_many(ids)  # type: ignore[assignment]
        missing = [cid for cid in dict.fromkeys(ids) if cid not in found]
        coll = self.handle()[0] if missing else None
        if coll is not None:
            try:
                got = paged_get(
                    coll, ids=missing, include=["documents", "metadatas"], page=self.page
                )
            except Exception as exc:  # e.g. "Error finding id" while another process ingests
                log.warning("reading chunks failed, answering without them: %s", exc)
                self._handle = None
                return found
            fresh = {
                cid: chunk_from(cid, doc, meta)
                for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
                if doc is not None
            }  # fmt: skip
            self._chunks.put_many(fresh)  # type: ignore[arg-type]
            found.update(fresh)
        return found

    def remember(self, chunks: list[ChunkRecord]) -> None:
        """Cache chunks that a query returned anyway."""
        self._chunks.put_many({c.id: c for c in chunks})

    def units(self, chunk_ids: list[str]) -> dict[str, list[StoredUnit]]:
        """Each chunk's quotable units with their vectors, in order (read by chunk id from the
        sentence store; a chunk with no row there has an empty list). Only rows read are
        cached: a chunk missing because the database was down or an ingest is mid-way is
        read again next time (the ingest writes a row for every chunk, even one with none)."""
        found: dict[str, list[StoredUnit]] = self._units.get_many(chunk_ids)  # type: ignore[assignment]
        missing = [cid for cid in dict.fromkeys(chunk_ids) if cid not in found]
        if missing:
            fresh = self.sentences.get(missing)
            self._units.put_many(fresh)  # type: ignore[arg-type]
            found.update({cid: fresh.get(cid, []) for cid in missing})
        return found

    def document_frequency(self, words: list[str]) -> dict[str, int]:
        """Chunk frequency of each term, from the lexical index (remembered for seconds)."""
        return self.lexical.frequencies(words)

    def unit_frequency(self, words: list[str]) -> tuple[int, dict[str, int]]:
        """(number of units, unit frequency of each term), from the lexical index (cached)."""
        found: dict[str, int] = self._udf.get_many(words)  # type: ignore[assignment]
        missing = [w for w in set(words) if w not in found]
        if missing or self._units_total is None:
            total, fresh = self.lexical.unit_frequency(missing)
            self._units_total = total
            self._udf.put_many(fresh)  # type: ignore[arg-type]
            found.update(fresh)
        return self._units_total, found


class _ChunksById(Mapping[str, ChunkRecord]):
    """`index.by_id[...]`: chunks read through the corpus on first use."""

    def __init__(self, view: KnowledgeIndex) -> None:
        self._view = view

    def __getitem__(self, cid: str) -> ChunkRecord:
        chunk = self._view.chunk_map.get(cid) or self._view.corpus.chunks([cid]).get(cid)
        if chunk is None:
            raise KeyError(cid)
        self._view.chunk_map[cid] = chunk
        return chunk

    def __iter__(self) -> Iterator[str]:
        return iter(self._view.chunk_map)

    def __len__(self) -> int:
        return len(self._view.chunk_map)


class _Idf(Mapping[str, float]):
    """`index.idf.get(term, 1.0)`: log(1 + N / df) over the corpus' sentence units (as the
    in-memory index computed it), N and df read from the lexical index."""

    def __init__(self, corpus: Corpus) -> None:
        self._corpus = corpus
        self._known: dict[str, float] = {}
        self._absent: set[str] = set()

    def prefetch(self, words: set[str]) -> None:
        missing = [w for w in words if w not in self._known and w not in self._absent]
        if missing:
            n, frequencies = self._corpus.unit_frequency(missing)
            for word, df in frequencies.items():
                if df > 0:
                    self._known[word] = math.log(1 + max(n, 1) / df)
                else:
                    self._absent.add(word)

    def __getitem__(self, word: str) -> float:
        self.prefetch({word})
        return self._known[word]

    def get(self, word: str, default: Any = None) -> Any:
        """The weight of `word`, else `default` (scoring calls this per term and sentence, so
        a known term costs one dict lookup, not Mapping.get's path through `prefetch`)."""
        found = self._known.get(word)
        if found is not None:
            return found
        if word not in self._absent:
            self.prefetch({word})
        return self._known.get(word, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


class KnowledgeIndex:
    """One request's working set: the chunks and units it touched, loaded on demand."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.chunk_map: dict[str, ChunkRecord] = {}
        self.units: list[UnitRecord] = []
        self.unit_terms: list[frozenset[str]] = []  # unit text + its section (+ table header)
        self._vectors: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self._by_chunk: dict[str, list[UnitRecord]] = {}
        self.by_id = _ChunksById(self)
        self.idf = _Idf(corpus)

    @property
    def unit_vectors(self) -> np.ndarray:
        """Vectors of the loaded units, one row per `UnitRecord.row`."""
        if self._matrix is None or len(self._matrix) != len(self._vectors):
            dim = int(getattr(self.corpus.store.embeddings, "dimension", 384))
            self._matrix = (
                np.vstack(self._vectors) if self._vectors else np.zeros((0, dim), np.float32)
            )
        return self._matrix

    def load_units(self, chunk_ids: list[str]) -> list[UnitRecord]:
        """The units of these chunks (loading them into the working set), in chunk order."""
        wanted = [cid for cid in dict.fromkeys(chunk_ids) if cid not in self._by_chunk]
        if wanted:
            chunks = self.corpus.chunks([c for c in wanted if c not in self.chunk_map])
            self.chunk_map.update(chunks)
            for cid, rows in self.corpus.units(wanted).items():
                section = self.chunk_map[cid].section if cid in self.chunk_map else ""
                header = next((u.text for u in rows if u.kind == "row"), "")
                loaded = []
                for stored in rows:
                    unit = UnitRecord(
                        cid, stored.text, stored.kind, stored.position, len(self.units)
                    )
                    self.units.append(unit)
                    self._vectors.append(stored.vector)
                    # A table row's words include its header's ("Scope" row → "IT …", …).
                    extra = header if stored.kind == "row" else ""
                    self.unit_terms.append(frozenset(terms(f"{section} {stored.text} {extra}")))
                    loaded.append(unit)
                self._by_chunk[cid] = loaded
            self.idf.prefetch({t for bag in self.unit_terms for t in bag})
        return [u for cid in dict.fromkeys(chunk_ids) for u in self._by_chunk.get(cid, [])]

    def units_of(self, chunk_id: str) -> list[UnitRecord]:
        """The quotable units of one chunk, in order."""
        return self.load_units([chunk_id])

    @property
    def chunks(self) -> list[ChunkRecord]:
        """Every chunk, read in pages: for tools and tests, never used per request."""
        coll = self.corpus.store.collection()
        if coll is None:
            return []
        got = paged_get(coll, include=["documents", "metadatas"], page=self.corpus.page)
        out = [
            chunk_from(cid, doc, meta)
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]
        return sorted(out, key=lambda c: (c.source, c.index))

    def chunk_terms(self, cid: str) -> frozenset[str]:
        """Content terms of a loaded chunk, for near-duplicate checks."""
        return frozenset(terms(self.by_id[cid].text))
