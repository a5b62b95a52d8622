"""What the index holds, document by document, for `kb status` (read page by page)."""

from __future__ import annotations

from typing import Any

from bot.runtime.settings import Settings
from bot.runtime.store import Store, paged_get
from ingest.registry import Registry


def documents_overview(settings: Settings, store: Store) -> list[dict[str, Any]]:
    """One row per document in the collection: source, title, chunks, format, pinned, state.

    The collection decides what is listed (it is what answers see); the registry adds the
    path, format and whether the document was added by path.
    """
    coll = store.collection()
    if coll is None:
        return []
    found: dict[str, dict[str, Any]] = {}
    for meta in paged_get(coll, include=["metadatas"])["metadatas"]:
        source = str(meta.get("source", ""))
        row = found.setdefault(source, {"source": source, "title": "", "chunks": 0})
        row["title"] = row["title"] or str(meta.get("title", ""))
        row["chunks"] += 1
    entries = Registry(settings).all()
    for source, row in found.items():
        entry = entries.get(source)
        row["path"] = entry.path if entry else ""
        row["format"] = entry.format if entry else source.rsplit(".", 1)[-1].lower()
        row["added_by_path"] = bool(entry and entry.pinned)
        row["state"] = entry.state if entry else "unregistered"
    return sorted(found.values(), key=lambda r: (r["title"].lower(), r["source"]))
