"""The sentence store: each chunk's quotable units (sentences, table rows) with their vectors,
and the chunk's place in its document, one row per chunk in the state database, read by chunk
id (or by place: the chunks after a hit, where its list goes on).

Why not a second Chroma collection (what kb used before): answers only ever need the units of
the chunks a question retrieved, by chunk id; nothing searches the units by vector. A Chroma
collection of ~6 units per chunk cost a metadata-filtered read per question (about 110 ms at
100k chunks) and, in embedded mode, an HNSW index of every unit in the process' memory
(~1.2 GB at 100k chunks). A primary-key read of one row per chunk costs about a millisecond,
and the vectors, stored as float16 (cosines move by < 0.001), take 0.8 KB per unit on disk
and nothing in memory until read. Replicas share it through the state database's URL.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
)

from bot.runtime.database import engine_for, ensure_tables, unavailable_returns
from bot.runtime.settings import Settings

log = logging.getLogger(__name__)

SCHEMA = "1"  # part of the table name
READ_BATCH = 500  # chunk ids per statement (bounded statement size)


@dataclass(frozen=True)
class StoredUnit:
    """A quotable unit of a chunk as stored: its text, kind, position in the chunk, vector."""

    text: str
    kind: str
    position: int
    vector: np.ndarray


def encode(units: Sequence[StoredUnit]) -> tuple[str, bytes]:
    """(JSON of texts, kinds and positions; float16 vectors, row after row) of a chunk's units."""
    meta = json.dumps([[u.text, u.kind, u.position] for u in units], ensure_ascii=False)
    vectors = np.asarray([u.vector for u in units], dtype=np.float16)
    return meta, vectors.tobytes()


def decode(meta: str, blob: bytes) -> list[StoredUnit]:
    """A chunk's units from their stored form, vectors as float32."""
    rows = json.loads(meta) if meta else []
    if not rows:
        return []
    vectors = np.frombuffer(blob, dtype=np.float16).reshape(len(rows), -1).astype(np.float32)
    return [
        StoredUnit(str(t), str(k), int(p), v) for (t, k, p), v in zip(rows, vectors, strict=True)
    ]


class SentenceStore:
    """The units of every chunk of one collection, keyed by chunk id."""

    def __init__(self, settings: Settings, collection: str | None = None) -> None:
        name = collection or settings.collection
        suffix = hashlib.sha1(f"{SCHEMA}:{name}".encode()).hexdigest()[:10]
        self._metadata = MetaData()
        self.table = Table(
            f"kb_units_{suffix}",
            self._metadata,
            Column("chunk_id", String(200), primary_key=True),
            Column("source", String(1000), nullable=False),
            Column("position", Integer, nullable=False),  # the chunk's index in its document
            Column("count", Integer, nullable=False),
            Column("units", Text, nullable=False),  # JSON [[text, kind, position], …]
            Column("vectors", LargeBinary, nullable=False),  # float16, `count` rows
            Index(f"kb_units_{suffix}_place", "source", "position"),
        )
        self.engine = engine_for(settings)
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:
            ensure_tables(self.engine, self._metadata)
            self._ready = True

    # ------------------------------------------------------------------ writing
    def upsert(self, rows: Iterable[tuple[str, str, int, Sequence[StoredUnit]]]) -> None:
        """Store (or replace) the units of chunks: `(chunk_id, source, chunk index, units)`."""
        values = []
        for chunk_id, source, position, found in rows:
            meta, blob = encode(found)
            values.append(
                {"chunk_id": chunk_id, "source": source, "position": position,
                 "count": len(found), "units": meta, "vectors": blob}
            )  # fmt: skip
        if not values:
            return
        self._ensure()
        with self.engine.begin() as conn:
            for start in range(0, len(values), READ_BATCH):
                part = values[start : start + READ_BATCH]
                ids = [v["chunk_id"] for v in part]
                conn.execute(delete(self.table).where(self.table.c.chunk_id.in_(ids)))
                conn.execute(self.table.insert(), part)

    def delete(self, chunk_ids: Sequence[str]) -> None:
        """Forget the units of these chunks (unknown ids are ignored)."""
        if not chunk_ids:
            return
        self._ensure()
        with self.engine.begin() as conn:
            for start in range(0, len(chunk_ids), READ_BATCH):
                part = list(chunk_ids[start : start + READ_BATCH])
                conn.execute(delete(self.table).where(self.table.c.chunk_id.in_(part)))

    def delete_source(self, source: str, keep: Sequence[str] = ()) -> None:
        """Forget the units of one document's chunks, except those of the chunk ids in `keep`."""
        self._ensure()
        query = delete(self.table).where(self.table.c.source == source)
        if keep:
            query = query.where(self.table.c.chunk_id.not_in(list(keep)))
        with self.engine.begin() as conn:
            conn.execute(query)

    def clear(self) -> None:
        """Forget everything (`kb ingest --rebuild`)."""
        self._ensure()
        with self.engine.begin() as conn:
            conn.execute(delete(self.table))

    # ------------------------------------------------------------------ reading
    @unavailable_returns(lambda: {})
    def get(self, chunk_ids: Sequence[str]) -> dict[str, list[StoredUnit]]:
        """The units of the chunks with these ids that are stored, in position order."""
        out: dict[str, list[StoredUnit]] = {}
        wanted = list(dict.fromkeys(chunk_ids))
        t = self.table
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), READ_BATCH):
                part = wanted[start : start + READ_BATCH]
                query = select(t.c.chunk_id, t.c.units, t.c.vectors).where(t.c.chunk_id.in_(part))
                for chunk_id, meta, blob in conn.execute(query):
                    try:
                        found = decode(meta, bytes(blob))
                    except (ValueError, TypeError) as exc:  # a damaged row: answer without it
                        log.warning("sentence units of %s unreadable: %s", chunk_id, exc)
                        continue
                    out[str(chunk_id)] = sorted(found, key=lambda u: u.position)
        return out

    @unavailable_returns(lambda: [])
    def chunk_ids_at(self, source: str, first: int, last: int) -> list[tuple[str, int]]:
        """(chunk id, index) of the chunks of `source` with index `first`…`last`, in order."""
        t = self.table
        query = (
            select(t.c.chunk_id, t.c.position)
            .where(t.c.source == source, t.c.position.between(first, last))
            .order_by(t.c.position)
        )
        with self.engine.connect() as conn:
            return [(str(cid), int(pos)) for cid, pos in conn.execute(query)]

    @unavailable_returns(lambda: 0)
    def size(self) -> int:
        """Number of chunks with stored units."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self.table)).scalar() or 0)

    def chunk_ids(self) -> set[str]:
        """Every chunk id with stored units (for the repair pass)."""
        self._ensure()
        with self.engine.connect() as conn:
            return {str(r[0]) for r in conn.execute(select(self.table.c.chunk_id))}
