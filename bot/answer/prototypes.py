"""Where the classifier's prototypes come from at any corpus size: the sentence units of the
chunks nearest to the two sides' own names, found by one bounded Chroma query, instead of every
unit of the corpus. On a small corpus the query reaches every chunk, so nothing changes there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from bot.answer.retrieve import KnowledgeIndex, nearest_chunks

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
CHUNKS_PER_QUERY = 100


def prototype_units(index: KnowledgeIndex, embed: Callable[[list[str]], np.ndarray]) -> None:
    """Load into `index` the units of the chunks nearest to the side queries (bounded)."""
    vectors = np.asarray(embed(SIDE_QUERIES), dtype=np.float32)
    try:
        nearest = nearest_chunks(index.corpus, vectors, CHUNKS_PER_QUERY)
    except Exception as exc:  # another process mid-ingest: build from what we found
        log.warning("prototype query failed: %s", exc)
        nearest = []
    index.load_units(sorted({cid for found in nearest for cid in found}))
