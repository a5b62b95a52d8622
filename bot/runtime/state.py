"""The state database's tables for Slack (posted answers, votes, retry claims) and the one
operation replicas race on: claiming a key (a Slack event or message) exactly once.

SQLAlchemy Core, so the same statements run on the default SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from typing import Any

import numpy as np
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    case,
    delete,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

metadata = MetaData()
answers = Table(
    "kb_answers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", String(32), nullable=False),
    Column("channel", String(64)),
    Column("thread_ts", String(64)),
    Column("question", Text, nullable=False),
    Column("history", Text, nullable=False, default="[]"),
    Column("answer", Text, nullable=False),
    Column("citations", Text, nullable=False, default="[]"),
    Column("classification", Text),
    Column("abstained", Boolean, nullable=False, default=False),
    Column("degraded", Boolean, nullable=False, default=False),
    Column("backend", String(16)),
    Index("kb_answers_thread", "channel", "thread_ts"),
)
votes = Table(
    "kb_votes",
    metadata,
    Column("answer_id", String(32), primary_key=True),
    Column("voter", String(64), primary_key=True),
    Column("channel", String(64)),
    Column("thread_ts", String(64)),
    Column("vote", String(4), nullable=False),
    Column("reason", String(16)),
    Column("comment", Text),
    Column("voted_at", String(32), nullable=False),
    Column("voted_epoch", Float, nullable=False),  # orders votes and tells readers what changed
)
claims = Table(
    "kb_claims",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

# Embeddings of voted questions, computed once by whichever replica needs one first, so a
# restart or a new replica does not embed every voted question again (key: sha256 of the
# embedding model's name and the question).
question_vectors = Table(
    "kb_question_vectors",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian
)

_claims_made = itertools.count()


def dialect_insert(engine: Engine, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL, the two supported)."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(
        f"the state database must be SQLite or PostgreSQL, not {dialect} (KB_DATABASE_URL)"
    )


def claim(engine: Engine, key: str, ttl_seconds: float) -> bool:
    """True for the first caller in any process to claim `key` within `ttl_seconds`.

    Atomic across replicas: the key is the table's primary key, so of two concurrent inserts
    exactly one succeeds. An expired claim is deleted first and can be taken again.
    """
    now = time.time()
    insert = (
        dialect_insert(engine, claims)
        .values(key=key, expires_at=now + ttl_seconds)
        .on_conflict_do_nothing()
    )
    sqlite_db = engine.dialect.name == "sqlite"
    with engine.begin() as conn:  # one transaction: one commit on the Slack ack path
        if sqlite_db:
            # Take the write lock before reading, so two writers cannot both decide from one
            # snapshot (WAL readers otherwise keep their snapshot into the write).
            conn.exec_driver_sql("BEGIN IMMEDIATE") if not conn.in_transaction() else None
        conn.execute(delete(claims).where(claims.c.key == key, claims.c.expires_at < now))
        if next(_claims_made) % 200 == 0:  # keep the table small without a sweeper thread
            conn.execute(delete(claims).where(claims.c.expires_at < now))
        if sqlite_db:  # changes() counts what this connection's last INSERT really wrote
            conn.execute(insert)
            return bool(conn.exec_driver_sql("SELECT changes()").scalar())
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT
        return conn.execute(insert.returning(claims.c.key)).first() is not None


def _vector_key(model: str, question: str) -> str:
    return hashlib.sha256(f"{model}\n{question}".encode()).hexdigest()


def load_question_vectors(engine: Engine, model: str, questions: list[str]) -> dict[str, Any]:
    """The stored embeddings (float32 arrays) of these questions by `model`; others absent."""
    keys = {_vector_key(model, q): q for q in questions}
    found: dict[str, Any] = {}
    with engine.connect() as conn:
        for start in range(0, len(keys), 500):  # bounded IN lists
            batch = list(keys)[start : start + 500]
            query = select(question_vectors).where(question_vectors.c.key.in_(batch))
            for key, blob in conn.execute(query):
                found[keys[key]] = np.frombuffer(blob, dtype="<f4")
    return found


def save_question_vectors(engine: Engine, model: str, vectors: dict[str, Any]) -> None:
    """Store embeddings of questions by `model` (a key already stored is left as it is)."""
    if not vectors:
        return
    rows = [
        {"key": _vector_key(model, q), "vector": np.asarray(v, dtype="<f4").tobytes()}
        for q, v in vectors.items()
    ]
    with engine.begin() as conn:
        conn.execute(dialect_insert(engine, question_vectors).on_conflict_do_nothing(), rows)


def upsert_vote(conn: Connection, row: dict[str, Any]) -> None:
    """Insert one user's vote on an answer, or change it (one row per answer and user)."""
    stmt = dialect_insert(conn.engine, votes).values(**row)
    new = stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[votes.c.answer_id, votes.c.voter],
            set_={
                "vote": new.vote,
                "voted_at": new.voted_at,
                "voted_epoch": new.voted_epoch,
                "channel": func.coalesce(new.channel, votes.c.channel),
                "thread_ts": func.coalesce(new.thread_ts, votes.c.thread_ts),
                "comment": func.coalesce(new.comment, votes.c.comment),
                # a 👍 clears the 👎's reason; a repeated 👎 without one keeps it
                "reason": case(
                    (new.vote == "down", func.coalesce(new.reason, votes.c.reason)),
                    else_=None,
                ),
            },
        )
    )
