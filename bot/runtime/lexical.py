"""Lexical side of retrieval: the one tokenizer (`terms`) shared by lexical search and sentence
scoring, and `LexicalIndex`, a persisted BM25 index in the state database.

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
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, text

from bot.runtime.database import engine_for
from bot.runtime.settings import Settings

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each either few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just let me more most my myself no nor not now of off on once only
    or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours
    yourself yourselves tell explain describe define definition mean means meaning please
    whats what's kb vs versus difference differences different compare comparison
    """.split()  # noqa: SIM905 - one word list, readable; a literal would be 150 lines
)
# "it" is a stopword but "IT" (information technology) is the corpus' key term: keep uppercase IT.
_IT_TOKEN = re.compile(
    r"\bIT\b|\b[Ii][Tt](?=\s+(?:strateg|transform|department|team|professional|infrastructure"
    r"|system|operation|service|budget|modern|plan|leader|staff|function|role|initiative|project))"
)


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match plurals and -ing/-ed forms."""
    for suffix, repl in (
        ("ership", ""),
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def terms(text: str) -> list[str]:
    """Content terms of `text`: lowercased, stopwords dropped, lightly stemmed."""
    text = _IT_TOKEN.sub(" itx ", text)
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


Row = tuple[str, str, str]  # (chunk_id, source, text)


def _match_expression(words: Iterable[str]) -> str:
    """An FTS5 query: any of the terms, each as a quoted phrase (terms may hold - or ')."""
    return " OR ".join('"' + w.replace('"', "") + '"' for w in words)


def _tsquery(words: Iterable[str]) -> str:
    """A PostgreSQL tsquery: any of the terms; a term with - or ' is a phrase of its parts."""
    parts = []
    for word in words:
        pieces = [p for p in re.split(r"[^a-z0-9]+", word) if p]
        if pieces:
            parts.append("(" + " <-> ".join(f"'{p}'" for p in pieces) + ")")
    return " | ".join(parts)


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
        suffix = hashlib.sha1(self.collection.encode()).hexdigest()[:10]
        self._docs = f"kb_lex_{suffix}"
        self._fts = f"kb_lex_{suffix}_fts"
        self._vocab = f"kb_lex_{suffix}_vocab"
        _ensure(self.engine, self._docs, self._fts, self._vocab, self.postgres)

    # ------------------------------------------------------------------ writing
    def upsert(self, rows: Sequence[Row]) -> None:
        """Index (or re-index) chunks: `(chunk_id, source, text)` each."""
        if not rows:
            return
        with self.engine.begin() as conn:
            self._delete(conn, [r[0] for r in rows])
            for chunk_id, source, body in rows:
                words = " ".join(terms(body))
                if self.postgres:
                    conn.execute(
                        text(
                            f"INSERT INTO {self._docs} (chunk_id, source, terms, tsv) "
                            "VALUES (:c, :s, :t, to_tsvector('simple', :t))"
                        ),
                        {"c": chunk_id, "s": source, "t": words},
                    )
                    continue
                rowid = conn.execute(
                    text(f"INSERT INTO {self._docs} (chunk_id, source) VALUES (:c, :s)"),
                    {"c": chunk_id, "s": source},
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
            if not self.postgres:
                conn.execute(text(f"DELETE FROM {self._fts}"))

    def _delete(self, conn: Any, chunk_ids: list[str]) -> None:
        for start in range(0, len(chunk_ids), 500):  # bounded statement size
            batch = chunk_ids[start : start + 500]
            marks = ", ".join(f":i{n}" for n in range(len(batch)))
            params = {f"i{n}": cid for n, cid in enumerate(batch)}
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
    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The `k` best chunks for `query` by BM25, best first, as `(chunk_id, score > 0)`."""
        words = sorted(set(terms(query)))
        if not words or k <= 0:
            return []
        with self.engine.connect() as conn:
            if self.postgres:
                rows = conn.execute(
                    text(
                        f"SELECT chunk_id, ts_rank(tsv, q) AS score FROM {self._docs}, "
                        "to_tsquery('simple', :q) q WHERE tsv @@ q ORDER BY score DESC LIMIT :k"
                    ),
                    {"q": _tsquery(words), "k": k},
                )
            else:
                rows = conn.execute(
                    text(
                        f"SELECT d.chunk_id, -f.rank FROM {self._fts} f JOIN {self._docs} d "
                        f"ON d.id = f.rowid WHERE {self._fts} MATCH :q ORDER BY f.rank LIMIT :k"
                    ),
                    {"q": _match_expression(words), "k": k},
                )
            return [(str(cid), float(score)) for cid, score in rows if score and score > 0]

    def document_frequency(self, words: Iterable[str]) -> dict[str, int]:
        """In how many chunks each term (an output of `terms()`) occurs."""
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for word in set(words):
                if self.postgres:
                    query = _tsquery([word])
                    n = (
                        conn.execute(
                            text(
                                f"SELECT count(*) FROM {self._docs} "
                                "WHERE tsv @@ to_tsquery('simple', :q)"
                            ),
                            {"q": query},
                        ).scalar()
                        if query
                        else 0
                    )
                elif re.fullmatch(r"[a-z0-9]+", word):
                    n = conn.execute(
                        text(f"SELECT doc FROM {self._vocab} WHERE term = :t"), {"t": word}
                    ).scalar()
                else:
                    n = conn.execute(
                        text(f"SELECT count(*) FROM {self._fts} WHERE {self._fts} MATCH :q"),
                        {"q": _match_expression([word])},
                    ).scalar()
                out[word] = int(n or 0)
        return out

    def size(self) -> int:
        """Number of indexed chunks."""
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {self._docs}")).scalar() or 0)

    def sources(self) -> list[tuple[str, int, str]]:
        """`(source, chunk count, one chunk id)` per indexed document, by source."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT source, count(*), min(chunk_id) FROM {self._docs} "
                    "GROUP BY source ORDER BY source"
                )
            )
            return [(str(s), int(n), str(c)) for s, n, c in rows]

    def chunk_ids(self) -> set[str]:
        """Every indexed chunk id (for the repair pass)."""
        with self.engine.connect() as conn:
            return {str(r[0]) for r in conn.execute(text(f"SELECT chunk_id FROM {self._docs}"))}


_ensured: set[tuple[str, str]] = set()


def _ensure(engine: Engine, docs: str, fts: str, vocab: str, postgres: bool) -> None:
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
                    "tsv TSVECTOR NOT NULL)"
                )
            )
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {docs}_tsv ON {docs} USING GIN (tsv)"))
        else:
            conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {docs} (id INTEGER PRIMARY KEY, "
                    "chunk_id TEXT NOT NULL UNIQUE, source TEXT NOT NULL)"
                )
            )
            conn.execute(text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(terms)"))
            conn.execute(
                text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {vocab} USING fts5vocab({fts}, row)")
            )
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {docs}_source ON {docs} (source)"))
    _ensured.add(key)


def repair(index: LexicalIndex, collection: Any, page: int = 5000) -> int:
    """Bring the lexical index in line with the Chroma collection in one paged pass: index
    chunks it lacks, drop chunks Chroma no longer has. For an index written before the lexical
    index existed or by a writer that skipped it; run in the background, never in a request.
    Returns the number of chunks changed."""
    from bot.runtime.store import paged_get
    from bot.runtime.text import contextual_text

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
