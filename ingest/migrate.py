"""Moving an index built by an earlier kb to the current format, without embedding anything.

Earlier versions kept each chunk's sentence units in a second Chroma collection; they now live
in the sentence store (bot/runtime/sentences.py). The move reads the old collection a few
hundred chunks at a time (bounded memory at any size; about 3 minutes at 126k chunks), writes the
sentence store, then drops the old collection. Run by `kb ingest` under the ingest lock; a
move killed half-way is simply done again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from bot.runtime.sentences import SentenceStore, StoredUnit
from bot.runtime.store import Store

log = logging.getLogger(__name__)

BATCH = 500  # chunks per read of the old collection


def move_legacy_units(
    store: Store, sentences: SentenceStore, progress: Callable[[str, int, int], None] | None = None
) -> int:
    """Move the legacy units collection's records into `sentences`; returns chunks moved."""
    old = store.legacy_units()
    if old is None:
        return 0
    chunks = store.collection()
    total = chunks.count() if chunks is not None else 0
    moved = offset = 0
    while chunks is not None:
        page = chunks.get(limit=BATCH, offset=offset, include=["metadatas"])
        ids = list(page["ids"])
        if not ids:
            break
        place = {
            cid: (str(m.get("source", "")), int(m.get("chunk_index", 0)))  # type: ignore[call-overload]
            for cid, m in zip(ids, page["metadatas"] or [{}] * len(ids), strict=True)
            if m is not None
        }
        got = old.get(
            where={"chunk_id": {"$in": ids}}, include=["documents", "metadatas", "embeddings"]
        )
        grouped: dict[str, list[StoredUnit]] = {cid: [] for cid in place}
        vectors = got["embeddings"] if got["embeddings"] is not None else []
        for doc, meta, vec in zip(got["documents"] or [], got["metadatas"] or [], vectors, strict=True):  # fmt: skip
            kind, position = str(meta.get("kind", "sentence")), int(meta["position"])  # type: ignore[call-overload]
            unit = StoredUnit(doc or "", kind, position, np.asarray(vec, np.float32))
            grouped.setdefault(str(meta["chunk_id"]), []).append(unit)
        sentences.upsert(
            (cid, *place[cid], units) for cid, units in grouped.items() if cid in place
        )
        moved += len(grouped)
        offset += len(ids)
        if progress:
            progress("move units", offset, total)
        if len(ids) < BATCH:
            break
    store.client.delete_collection(store.legacy_units_name)
    log.info("moved the sentence units of %d chunks out of Chroma", moved)
    return moved
