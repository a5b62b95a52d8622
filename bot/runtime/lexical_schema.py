"""The lexical index's tables and query syntax, for SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, text


def match_expression(words: Iterable[str], every: bool = False) -> str:
    """An FTS5 query: any (or `every`) of the terms, each as a quoted phrase (terms may hold
    - or ')."""
    return (" AND " if every else " OR ").join('"' + w.replace('"', "") + '"' for w in words)


def tsquery(words: Iterable[str], every: bool = False) -> str:
    """A PostgreSQL tsquery: any (or `every`) of the terms; a term with - or ' is a phrase of
    its parts."""
    parts = []
    for word in words:
        pieces = [p for p in re.split(r"[^a-z0-9]+", word) if p]
        if pieces:
            parts.append("(" + " <-> ".join(f"'{p}'" for p in pieces) + ")")
    return (" & " if every else " | ").join(parts)


_ensured: set[tuple[str, str]] = set()


def ensure_tables(
    engine: Engine, docs: str, fts: str, vocab: str, udf: str, postgres: bool
) -> None:
    """Create the index tables once per process (idempotent across processes)."""
    key = (str(engine.url), docs)
    if key in _ensured:
        return
    with engine.begin() as conn:
        if postgres:
            conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {docs} (id BIGSERIAL PRIMARY KEY, "
                    "chunk_id TEXT NOT NULL UNIQUE, source TEXT NOT NULL, terms TEXT NOT NULL, "
                    "length INTEGER NOT NULL, units TEXT NOT NULL, tsv TSVECTOR NOT NULL)"
                )
            )
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {docs}_tsv ON {docs} USING GIN (tsv)"))
        else:
            conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {docs} (id INTEGER PRIMARY KEY, "
                    "chunk_id TEXT NOT NULL UNIQUE, source TEXT NOT NULL, terms TEXT NOT NULL, "
                    "length INTEGER NOT NULL, units TEXT NOT NULL)"
                )
            )
            conn.execute(text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(terms)"))
            conn.execute(
                text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {vocab} USING fts5vocab({fts}, row)")
            )
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {docs}_source ON {docs} (source)"))
        # Covers BM25's `count(*), avg(length)` (read every few seconds by each server): without
        # it each read scans every row with its terms, hundreds of MB at 100k chunks.
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {docs}_length ON {docs} (length)"))
        conn.execute(
            text(f"CREATE TABLE IF NOT EXISTS {udf} (term TEXT PRIMARY KEY, df BIGINT NOT NULL)")
        )
    _ensured.add(key)


def candidates(
    conn: Any, docs: str, fts: str, postgres: bool, words: list[str], every: bool, m: int
) -> list[Any]:
    """(chunk_id, terms, length) of the `m` best chunks holding any (or `every`) of `words`,
    by the database's own ranking."""
    if postgres:
        query = (
            f"SELECT chunk_id, terms, length FROM {docs}, to_tsquery('simple', :q) q "
            "WHERE tsv @@ q ORDER BY ts_rank(tsv, q) DESC LIMIT :m"
        )
        return list(conn.execute(text(query), {"q": tsquery(words, every), "m": m}))
    query = (
        f"SELECT d.chunk_id, d.terms, d.length FROM {fts} f JOIN {docs} d "
        f"ON d.id = f.rowid WHERE {fts} MATCH :q ORDER BY f.rank LIMIT :m"
    )
    return list(conn.execute(text(query), {"q": match_expression(words, every), "m": m}))


def rows_of(conn: Any, docs: str, chunk_ids: list[str]) -> list[Any]:
    """(chunk_id, terms, length) of the chunks with these ids (a primary-key read)."""
    if not chunk_ids:
        return []
    marks = ", ".join(f":i{n}" for n in range(len(chunk_ids)))
    query = f"SELECT chunk_id, terms, length FROM {docs} WHERE chunk_id IN ({marks})"
    return list(conn.execute(text(query), {f"i{n}": cid for n, cid in enumerate(chunk_ids)}))
