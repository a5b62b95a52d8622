"""Hybrid retrieval: dense search in Chroma's vector index plus BM25 over the same chunks (the
persisted `LexicalIndex`), fused by weighted reciprocal rank fusion, with near-duplicate chunks
removed. Both are top-N index lookups: nothing scans the corpus per question.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from bot.answer.knowledge import ChunkRecord, Corpus, KnowledgeIndex, UnitRecord, chunk_from
from bot.runtime.lexical import terms

__all__ = ["ChunkRecord", "Corpus", "Hit", "HybridRetriever", "KnowledgeIndex", "UnitRecord"]

log = logging.getLogger(__name__)

RRF_K = 60
VERSION_CHECK_SECONDS = 2.0


@dataclass
class Hit:
    """A retrieved chunk with its scores."""

    chunk: ChunkRecord
    fused: float
    dense: float  # cosine similarity of query and chunk
    lexical: float  # BM25 score normalised to [0, 1] by the best score of the query
    rank: int = 0


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
    """Dense (Chroma's vector index) + BM25 (the lexical index), fused with weighted RRF."""

    def __init__(self, corpus: Corpus, weights: Weights | None = None) -> None:
        self.corpus = corpus
        self.weights = weights or Weights()

    def _dense(self, query_vector: np.ndarray, pool: int) -> dict[str, tuple[float, ChunkRecord]]:
        coll, count = self.corpus.handle("chunks")
        if coll is None:
            return {}
        n = min(pool, count)
        if n <= 0:
            return {}
        result = coll.query(
            query_embeddings=[query_vector.tolist()],
            n_results=n,
            include=["distances", "documents", "metadatas"],  # type: ignore[list-item]
        )
        found: dict[str, tuple[float, ChunkRecord]] = {}
        rows = zip(
            result["ids"][0],
            (result["distances"] or [[]])[0],
            (result["documents"] or [[]])[0],
            (result["metadatas"] or [[]])[0],
            strict=True,
        )
        for cid, dist, doc, meta in rows:
            if doc is not None:  # None: deleted by another process after our index was read
                found[cid] = (1.0 - float(dist), chunk_from(cid, doc, meta))
        self.corpus.remember([c for _, c in found.values()])
        return found

    def search(self, query: str, query_vector: np.ndarray, k: int) -> list[Hit]:
        """The `k` best chunks for `query`, best first, without near-duplicates."""
        if k <= 0:
            return []
        pool = max(k * 3, 10)
        try:
            dense = self._dense(query_vector, pool)
        except Exception as exc:  # e.g. "Error finding id" while another process ingests
            log.warning("dense search failed, answering from lexical search: %s", exc)
            dense = {}
        lexical = self.corpus.lexical.search(query, pool)
        records = {cid: rec for cid, (_, rec) in dense.items()}
        records.update(self.corpus.chunks([cid for cid, _ in lexical if cid not in records]))
        lexical = [(cid, s) for cid, s in lexical if cid in records]
        top = lexical[0][1] if lexical else 0.0

        fused: dict[str, float] = {}
        for rank, cid in enumerate(sorted(dense, key=lambda c: dense[c][0], reverse=True)):
            fused[cid] = fused.get(cid, 0.0) + self.weights.dense / (RRF_K + rank + 1)
        for rank, (cid, _) in enumerate(lexical):
            fused[cid] = fused.get(cid, 0.0) + self.weights.lexical / (RRF_K + rank + 1)
        lexical_by_id = {cid: s / top for cid, s in lexical} if top else {}

        hits: list[Hit] = []
        kept_terms: list[frozenset[str]] = []
        for cid in sorted(fused, key=fused.__getitem__, reverse=True):
            chunk = records[cid]
            bag = frozenset(terms(chunk.text))
            if any(_near_duplicate(bag, other) for other in kept_terms):
                continue
            kept_terms.append(bag)
            score = dense[cid][0] if cid in dense else 0.0
            hits.append(Hit(chunk, fused[cid], score, lexical_by_id.get(cid, 0.0), len(hits)))
            if len(hits) == k:
                break
        return hits
