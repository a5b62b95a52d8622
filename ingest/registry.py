"""The document registry: one row per indexed document in the state database.

It records what an ingest is doing to each document ('writing' before Chroma is touched,
'complete' after), which documents were added by path (kept until `kb remove`), and the titles
`kb status` lists. Chroma stays the source of truth for what answers see: every chunk carries its
document's fingerprint and chunk count, so a lost or stale registry is repaired from the
collection, and a 'writing' row left by a crash makes the next ingest redo that document.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from bot.runtime.database import engine_for, ensure_tables
from bot.runtime.settings import Settings

WRITING = "writing"
COMPLETE = "complete"

metadata = MetaData()
documents = Table(
    "kb_documents",
    metadata,
    Column("collection", String(200), primary_key=True),
    Column("source", String(1000), primary_key=True),
    Column("title", String(1000), nullable=False, default=""),
    Column("path", String(4000), nullable=False, default=""),  # absolute path when loaded
    Column("url", String(2000), nullable=False, default=""),
    Column("format", String(20), nullable=False, default=""),
    Column("doc_hash", String(64), nullable=False, default=""),
    Column("chunks", Integer, nullable=False, default=0),
    Column("state", String(10), nullable=False, default=WRITING),
    Column("pinned", Boolean, nullable=False, default=False),  # added by path: kept on prune
    Column("updated_at", Float, nullable=False, default=0.0),
)
# What a file looked like when its document was last seen whole: a file whose size, times and
# settings key are unchanged is not read again (a no-op re-ingest reads no file and no Chroma
# record). A separate table rather than new columns, so existing databases need no migration.
file_stats = Table(
    "kb_file_stats",
    metadata,
    Column("collection", String(200), primary_key=True),
    Column("source", String(1000), primary_key=True),
    Column("stat", String(200), nullable=False, default=""),  # "size:mtime_ns:ctime_ns"
    Column("key", String(64), nullable=False, default=""),  # settings, manifest entry, path
    Column("doc_hash", String(64), nullable=False, default=""),  # the version seen whole
)


@dataclass(frozen=True)
class FileStat:
    """The file a complete document was read from, as it was then."""

    source: str
    stat: str
    key: str
    doc_hash: str


@dataclass(frozen=True)
class Entry:
    """One registry row."""

    source: str
    title: str
    path: str
    url: str
    format: str
    doc_hash: str
    chunks: int
    state: str
    pinned: bool


class Registry:
    """Registry rows of one collection."""

    def __init__(self, settings: Settings) -> None:
        self.engine = engine_for(settings)
        self.collection = settings.collection
        ensure_tables(self.engine, metadata)

    def all(self) -> dict[str, Entry]:
        """Every row of this collection by source."""
        query = select(documents).where(documents.c.collection == self.collection)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {r["source"]: Entry(**{k: r[k] for k in Entry.__dataclass_fields__}) for r in rows}

    def put(self, entries: Iterable[Entry]) -> None:
        """Insert or replace rows (one transaction)."""
        rows = [
            {**e.__dict__, "collection": self.collection, "updated_at": time.time()}
            for e in entries
        ]
        self._upsert(documents, rows)

    def stats(self) -> dict[str, FileStat]:
        """The recorded file stats of this collection by source."""
        query = select(file_stats).where(file_stats.c.collection == self.collection)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {
            r["source"]: FileStat(**{k: r[k] for k in FileStat.__dataclass_fields__}) for r in rows
        }

    def put_stats(self, stats: Iterable[FileStat]) -> None:
        """Insert or replace file stats (one transaction)."""
        self._upsert(file_stats, [{**s.__dict__, "collection": self.collection} for s in stats])

    def _upsert(self, table: Table, rows: list[dict[str, object]]) -> None:
        if not rows:
            return
        dialect = self.engine.dialect.name
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
        keys = ("collection", "source")
        stmt = insert.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: insert.excluded[c] for c in rows[0] if c not in keys},
        )
        with self.engine.begin() as conn:
            for start in range(0, len(rows), 2000):  # bounded statements on any backend
                conn.execute(stmt, rows[start : start + 2000])

    def forget(self, sources: Iterable[str]) -> None:
        """Delete the rows of `sources`."""
        wanted = list(sources)
        with self.engine.begin() as conn:
            for table in (documents, file_stats):
                for start in range(0, len(wanted), 500):
                    conn.execute(
                        delete(table).where(
                            table.c.collection == self.collection,
                            table.c.source.in_(wanted[start : start + 500]),
                        )
                    )

    def clear(self) -> None:
        """Delete every row of this collection (on `--rebuild`)."""
        with self.engine.begin() as conn:
            for table in (documents, file_stats):
                conn.execute(delete(table).where(table.c.collection == self.collection))
