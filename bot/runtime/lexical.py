"""Lexical side of retrieval: `LexicalIndex`, a persisted BM25 index in the state database over
the output of the one tokenizer (`bot.runtime.terms`).

The index is written by the ingest, chunk by chunk, next to its Chroma upserts and deletes, so
no process rebuilds it at start-up and no request scans the corpus. SQLite (the default state
DB) uses FTS5 and its built-in `bm25()`; PostgreSQL a `tsvector` column with a GIN index and
`ts_rank`, so replicas over one Chroma server and one PostgreSQL share it. Both index the
output of `terms()` (already lowercased, stopword-free and stemmed), so the database's own
tokenizer only splits on spaces and punctuation. One table pair per collection.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from bot.runtime.database import engine_for, unavailable_returns
from bot.runtime.lexical_schema import (
    candidates,
    ensure_tables,
    match_expression,
    rows_of,
    tsquery,
)
from bot.runtime.settings import Settings
from bot.runtime.terms import terms, unit_bags

log = logging.getLogger(__name__)

Row = tuple[str, str, str]  # (chunk_id, source, text)
SCHEMA = "3"  # part of the table names: a new schema starts a new (self-repairing) index
K1, B = 1.5, 0.75  # Lucene BM25, as bm25s (the in-memory index this replaced) scored
STATS_SECONDS = 2.0
CANDIDATES = 200  # the database's own ranking picks these; they are re-scored exactly
POSTINGS_BUDGET = 2_000  # matching chunks the database may rank per question (see _selective)


class LexicalIndex:
    """BM25 over the chunks of one collection, persisted in the state database.

    Writers call `upsert` after the Chroma upsert of the same chunks and `delete` after the
    Chroma delete; readers call `search`, `document_frequency` and `size`. Safe to use from
    several threads and processes (each call is one short transaction).
    """

    def __init__(self, settings: Settings, collection: str | None = None) -> None:
        self.collection = collection or settings.collection
        self.engine: Engine = engine_for(settings)
        self.postgres = self.engine.dialect.name == "postgresql"
        suffix = hashlib.sha1(f"{SCHEMA}:{self.collection}".encode()).hexdigest()[:10]
        self._docs = f"kb_lex_{suffix}"
        self._fts = f"kb_lex_{suffix}_fts"
        self._vocab = f"kb_lex_{suffix}_vocab"
        self._udf = f"kb_lex_{suffix}_udf"
        try:
            self._ensure()
        except SQLAlchemyError as exc:  # the database may come back; readers degrade meanwhile
            log.warning("lexical index unavailable (state database: %s)", exc)
        # BM25 statistics (N, mean length, document frequencies) for STATS_SECONDS: they move
        # slowly with ingests and cost a query per term; matches always come fresh from the index.
        self._stats: tuple[float, int, float] | None = None
        self._df: dict[str, int] = {}
        self._df_since = 0.0

    def _ensure(self) -> None:
        ensure_tables(self.engine, self._docs, self._fts, self._vocab, self._udf, self.postgres)

    # ------------------------------------------------------------------ writing
    def upsert(self, rows: Sequence[Row]) -> None:
        """Index (or re-index) chunks: `(chunk_id, source, text)` each."""
        if not rows:
            return
        with self.engine.begin() as conn:
            self._delete(conn, [r[0] for r in rows])
            for chunk_id, source, body in rows:
                words = " ".join(terms(body))
                bags = unit_bags(body)
                self._count_units(conn, bags, +1)
                params = {
                    "c": chunk_id,
                    "s": source,
                    "t": words,
                    "n": len(words.split()),
                    "u": "|".join(" ".join(sorted(b)) for b in bags),
                }
                if self.postgres:
                    conn.execute(
                        text(
                            f"INSERT INTO {self._docs} (chunk_id, source, terms, length, units, "
                            "tsv) VALUES (:c, :s, :t, :n, :u, to_tsvector('simple', :t))"
                        ),
                        params,
                    )
                    continue
                rowid = conn.execute(
                    text(
                        f"INSERT INTO {self._docs} (chunk_id, source, terms, length, units) "
                        "VALUES (:c, :s, :t, :n, :u)"
                    ),
                    params,
                ).lastrowid
                conn.execute(
                    text(f"INSERT INTO {self._fts} (rowid, terms) VALUES (:r, :t)"),
                    {"r": rowid, "t": words},
                )

    def delete(self, chunk_ids: Sequence[str]) -> None:
        """Remove chunks from the index (unknown ids are ignored)."""
        if chunk_ids:
            with self.engine.begin() as conn:
                self._delete(conn, list(chunk_ids))

    def delete_source(self, source: str) -> None:
        """Remove every chunk of one document."""
        with self.engine.begin() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    text(f"SELECT chunk_id FROM {self._docs} WHERE source = :s"), {"s": source}
                )
            ]
            self._delete(conn, ids)

    def clear(self) -> None:
        """Empty the index (e.g. `kb ingest --rebuild`)."""
        with self.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {self._docs}"))
            conn.execute(text(f"DELETE FROM {self._udf}"))
            if not self.postgres:
                conn.execute(text(f"DELETE FROM {self._fts}"))

    def _delete(self, conn: Any, chunk_ids: list[str]) -> None:
        for start in range(0, len(chunk_ids), 500):  # bounded statement size
            batch = chunk_ids[start : start + 500]
            marks = ", ".join(f":i{n}" for n in range(len(batch)))
            params = {f"i{n}": cid for n, cid in enumerate(batch)}
            old = conn.execute(
                text(f"SELECT units FROM {self._docs} WHERE chunk_id IN ({marks})"), params
            )
            for (packed,) in old:
                bags = [set(b.split()) for b in str(packed).split("|")] if packed else []
                self._count_units(conn, bags, -1)
            if not self.postgres:
                conn.execute(
                    text(
                        f"DELETE FROM {self._fts} WHERE rowid IN "
                        f"(SELECT id FROM {self._docs} WHERE chunk_id IN ({marks}))"
                    ),
                    params,
                )
            conn.execute(text(f"DELETE FROM {self._docs} WHERE chunk_id IN ({marks})"), params)

    # ------------------------------------------------------------------ reading
    @unavailable_returns(lambda: [])
    def search(
        self, query: str, k: int, among: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """The `k` best chunks for `query` by BM25, best first, as `(chunk_id, score > 0)`.
        The database's full-text index finds `CANDIDATES` by its own ranking (FTS5's bm25 has
        fixed parameters and clamps common terms' IDF to ~0; ts_rank is not BM25); they are
        re-scored with Lucene BM25 from the stored terms, lengths and document frequencies.
        When every term of the question is too common for the database to rank cheaply (see
        `_selective`), the chunks `among` (the dense candidates) are re-scored instead."""
        words = terms(query)
        unique = sorted(set(words))  # all of them count in the scores
        picked, common = self._selective(unique) if k > 0 else ([], False)
        if not picked:
            return []
        m = max(k, CANDIDATES)
        every = common and len(picked) > 1  # without `among`, candidates hold every term
        with self.engine.connect() as conn:
            if common and among is not None:
                rows = rows_of(conn, self._docs, list(among))
            else:
                rows = candidates(conn, self._docs, self._fts, self.postgres, picked, every, m)
            if every and among is None and len(rows) < k:  # too few hold every term
                rows = candidates(conn, self._docs, self._fts, self.postgres, picked[:1], False, m)
            if not rows:
                return []
            now = time.monotonic()
            if self._stats is None or now - self._stats[0] > STATS_SECONDS:
                n, avgdl = conn.execute(
                    text(f"SELECT count(*), avg(length) FROM {self._docs}")
                ).one()
                self._stats = (now, int(n), float(avgdl or 1.0))
            _, n, avgdl = self._stats
        df = self.frequencies(unique)
        idf = {w: math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5)) for w in unique if df[w]}
        scored = []
        for chunk_id, body, length in rows:
            counts = Counter(str(body).split())
            norm = K1 * (1 - B + B * float(length or 0) / avgdl)
            score = sum(
                idf[w] * counts[w] * (K1 + 1) / (counts[w] + norm)
                for w in words
                if w in idf and counts[w]
            )
            if score > 0:
                scored.append((str(chunk_id), score))
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return scored[:k]

    def forget_statistics(self) -> None:
        """Drop remembered statistics (an ingest changed the index)."""
        self._stats, self._df, self._df_since = None, {}, 0.0

    @unavailable_returns(lambda: [])
    def search_ahead(self, query: str, k: int) -> list[tuple[str, float]] | None:
        """`search` before the dense candidates are known (it runs while the question is
        embedded), or None when every term is common: ranking those without the dense
        candidates would cost what `_selective` avoids, so `search(..., among=…)` does it."""
        if k > 0 and self._selective(sorted(set(terms(query))))[1]:
            return None
        return self.search(query, k)

    def frequencies(self, words: Iterable[str]) -> dict[str, int]:
        """`document_frequency`, remembered for STATS_SECONDS (terms the index lacks too: one
        that an ingest brings is counted within that time). The evidence check and BM25 ask
        for the same question's terms, so a question costs one lookup, not two."""
        now = time.monotonic()
        if now - self._df_since > STATS_SECONDS:
            self._df, self._df_since = {}, now
        df = self._df
        missing = [w for w in dict.fromkeys(words) if w not in df]
        if missing:  # an unreachable database answers {}: nothing is remembered then
            df = self._df = {**df, **self.document_frequency(missing)}
        return {w: df.get(w, 0) for w in words}

    def _selective(self, unique: list[str]) -> tuple[list[str], bool]:
        """(terms that pick candidates, whether all of them are over budget): rarest first
        within `POSTINGS_BUDGET`. The database ranks every chunk that matches, so a term in
        most chunks would make a question's cost grow with the corpus; such terms barely move
        BM25 and still count in the re-scoring (Lucene's "common terms"). If even the rarest
        is over budget, every known term is returned. Small corpora are never pruned."""
        df = self.frequencies(unique)
        known = sorted((w for w in unique if df.get(w, 0) > 0), key=lambda w: (df[w], w))
        chosen, postings = [], 0
        for word in known:
            postings += df[word]
            if postings > POSTINGS_BUDGET:
                break
            chosen.append(word)
        return (sorted(chosen), False) if chosen else (known, bool(known))

    @unavailable_returns(lambda: {})
    def document_frequency(self, words: Iterable[str]) -> dict[str, int]:
        """In how many chunks each term (an output of `terms()`) occurs: one statement for all
        the terms (a question's terms cost one round trip, not one each)."""
        wanted = sorted(set(words))
        if not wanted:
            return {}
        params = {f"w{n}": w for n, w in enumerate(wanted)}
        with self.engine.connect() as conn:
            if self.postgres:
                parts = [
                    f"SELECT CAST(:w{n} AS TEXT), (SELECT count(*) FROM {self._docs} "
                    f"WHERE tsv @@ to_tsquery('simple', :q{n}))"
                    for n, w in enumerate(wanted)
                    if tsquery([w])
                ]
                params |= {f"q{n}": tsquery([w]) for n, w in enumerate(wanted)}
                rows = conn.execute(text(" UNION ALL ".join(parts)), params) if parts else []
                return {w: 0 for w in wanted} | {str(t): int(d or 0) for t, d in rows}
            plain = [n for n, w in enumerate(wanted) if re.fullmatch(r"[a-z0-9]+", w)]
            out = {w: 0 for w in wanted}
            if plain:
                marks = ", ".join(f":w{n}" for n in plain)
                rows = conn.execute(
                    text(f"SELECT term, doc FROM {self._vocab} WHERE term IN ({marks})"),
                    {f"w{n}": wanted[n] for n in plain},
                )
                out |= {str(t): int(d or 0) for t, d in rows}
            for n, word in enumerate(wanted):  # terms with - or ': a phrase query each (rare)
                if n not in plain:
                    out[word] = int(
                        conn.execute(
                            text(f"SELECT count(*) FROM {self._fts} WHERE {self._fts} MATCH :q"),
                            {"q": match_expression([word])},
                        ).scalar()
                        or 0
                    )
        return out

    def _count_units(self, conn: Any, bags: list[set[str]], sign: int) -> None:
        counts = Counter(t for bag in bags for t in bag)
        counts[""] = len(bags)  # the row with the empty term holds the number of units
        conn.execute(
            text(
                f"INSERT INTO {self._udf} (term, df) VALUES (:t, :d) ON CONFLICT (term) "
                f"DO UPDATE SET df = {self._udf}.df + excluded.df"
            ),
            [{"t": t, "d": sign * n} for t, n in counts.items()],
        )

    @unavailable_returns(lambda: (0, {}))
    def unit_frequency(self, words: Iterable[str]) -> tuple[int, dict[str, int]]:
        """(number of sentence units, in how many units each term occurs); a unit's terms
        include its section's and, for a table row, its header's (as sentence scoring sees)."""
        wanted = sorted(set(words) | {""})
        marks = ", ".join(f":w{n}" for n in range(len(wanted)))
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT term, df FROM {self._udf} WHERE term IN ({marks})"),
                {f"w{n}": w for n, w in enumerate(wanted)},
            )
            found = {str(t): int(d) for t, d in rows}
        return found.pop("", 0), {w: found.get(w, 0) for w in wanted if w}

    def size(self, documents: bool = False) -> int:
        """Number of indexed chunks (or of `documents`: one index scan, no rows read)."""
        what = "count(DISTINCT source)" if documents else "count(*)"
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT {what} FROM {self._docs}")).scalar() or 0)

    @unavailable_returns(lambda: [])
    def sources(self, limit: int | None = None) -> list[tuple[str, int, str]]:
        """`(source, chunk count, one chunk id)` per indexed document (the first `limit`
        only, read through the source index), by source."""
        where = (
            f"WHERE source IN (SELECT DISTINCT source FROM {self._docs} ORDER BY source "
            f"LIMIT {int(limit)}) "
            if limit is not None
            else ""
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT source, count(*), min(chunk_id) FROM {self._docs} {where}"
                    "GROUP BY source ORDER BY source"
                )
            )
            return [(str(s), int(n), str(c)) for s, n, c in rows]

    def chunk_ids(self) -> set[str]:
        """Every indexed chunk id (for the repair pass)."""
        with self.engine.connect() as conn:
            return {str(r[0]) for r in conn.execute(text(f"SELECT chunk_id FROM {self._docs}"))}
