"""Where the classifier's prototypes come from at any corpus size: the sentence units nearest
to the two sides' own names, found by a few bounded Chroma queries, instead of every unit of
the corpus. On a small corpus the queries reach (nearly) every unit, so nothing changes there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from bot.answer.retrieve import KnowledgeIndex

log = logging.getLogger(__name__)

# The classifier's two labels, named as a reader would: what the task itself is about, not
# phrases from one document.
SIDE_QUERIES = [
    "IT strategy",
    "IT transformation",
    "information technology infrastructure, systems and operations",
    "digital strategy",
    "digital transformation",
    "digital marketing and customer experience",
]
UNITS_PER_QUERY = 300
CHUNKS_PER_QUERY = 60


def prototype_units(index: KnowledgeIndex, embed: Callable[[list[str]], np.ndarray]) -> None:
    """Load into `index` the units of the chunks nearest to the side queries (bounded)."""
    vectors = np.asarray(embed(SIDE_QUERIES), dtype=np.float32).tolist()
    store = index.corpus.store
    chunk_ids: list[str] = []
    for coll, limit in ((store.units(), UNITS_PER_QUERY), (store.collection(), CHUNKS_PER_QUERY)):
        if coll is None:
            continue
        n = min(limit, coll.count())
        if n <= 0:
            continue
        try:
            result = coll.query(query_embeddings=vectors, n_results=n, include=["metadatas"])  # type: ignore[list-item]
        except Exception as exc:  # another process mid-ingest: build from what we found
            log.warning("prototype query failed: %s", exc)
            continue
        for ids, metas in zip(result["ids"], result["metadatas"] or [], strict=True):
            for cid, meta in zip(ids, metas, strict=True):
                if meta is not None:
                    chunk_ids.append(str(meta.get("chunk_id", cid)))
    index.load_units(sorted(set(chunk_ids)))
