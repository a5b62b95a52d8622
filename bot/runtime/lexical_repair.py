"""Repair of the lexical index from Chroma: one paged pass, run in the background."""

from __future__ import annotations

import logging
from typing import Any

from bot.runtime.lexical import LexicalIndex
from bot.runtime.store import paged_get
from bot.runtime.text import contextual_text

log = logging.getLogger(__name__)


def repair(index: LexicalIndex, collection: Any, page: int = 5000) -> int:
    """Bring the lexical index in line with the Chroma collection in one paged pass: index
    chunks it lacks, drop chunks Chroma no longer has. For an index written before the lexical
    index existed or by a writer that skipped it; run in the background, never in a request.
    Returns the number of chunks changed."""
    known = index.chunk_ids()
    seen: set[str] = set()
    offset, changed = 0, 0
    while True:
        got = collection.get(include=["metadatas"], limit=page, offset=offset)
        ids = list(got["ids"])
        seen.update(ids)
        missing = [cid for cid in ids if cid not in known]
        if missing:
            full = paged_get(collection, ids=missing, include=["documents", "metadatas"], page=page)
            rows = [
                (cid, str(m.get("source", "")), contextual_text(str(m.get("title", "")), str(m.get("section", "")), doc or ""))
                for cid, doc, m in zip(full["ids"], full["documents"], full["metadatas"], strict=True)
                if m is not None
            ]  # fmt: skip
            index.upsert(rows)
            changed += len(rows)
        if len(ids) < page:
            break
        offset += len(ids)
    extra = known - seen
    if extra:
        # Confirm with Chroma: an ingest may have added these after our pass read its page.
        still = set(paged_get(collection, ids=sorted(extra), include=[], page=page)["ids"])
        gone = sorted(extra - still)
        index.delete(gone)
        changed += len(gone)
    if changed:
        log.info("lexical index repaired: %d chunks changed", changed)
    return changed
