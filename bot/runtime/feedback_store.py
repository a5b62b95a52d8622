"""Slack's shared state in the state database: posted answers, 👍/👎 votes (with a reason) and
the claims that de-duplicate Slack retries across replicas. SQLAlchemy Core, so the same code
runs on the default SQLite file and on PostgreSQL when several `kb serve` replicas share it.

Every answer the Slack bot posts is stored (keyed by a short id carried in the feedback
buttons), so a click can be recorded with its question, answer and citations, and a thread
follow-up can tell that the bot already answered in that thread.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Engine, Table, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from bot.runtime.database import engine_at, engine_for, ensure_tables
from bot.runtime.feedback_export import (
    FEEDBACK_FIELDS,
    ExportFormat,
    eval_cases,
    export_records,
)
from bot.runtime.schema import Answer, Turn
from bot.runtime.settings import Settings
from bot.runtime.state import (
    answers,
    claim,
    dialect_insert,
    metadata,
    upsert_vote,
    votes,
)

__all__ = [
    "FEEDBACK_FIELDS",
    "REASONS",
    "ExportFormat",
    "FeedbackRecord",
    "FeedbackStore",
    "Reason",
    "Vote",
    "open_feedback_store",
]

log = logging.getLogger(__name__)

Vote = Literal["up", "down"]
Reason = Literal["wrong", "incomplete", "outdated", "off-topic"]
REASONS: tuple[str, ...] = get_args(Reason)


@dataclass
class FeedbackRecord:
    """One vote with the question and answer it judges."""

    answer_id: str
    user: str
    channel: str | None
    thread_ts: str | None
    question: str
    answer: str
    citations: list[dict[str, Any]]
    vote: Vote
    voted_at: str
    comment: str | None = None
    history: list[dict[str, str]] | None = None
    reason: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class FeedbackStore:
    """Posted answers, the votes on them, and retry claims, in one state database.

    `target` is an engine, a SQLAlchemy URL, or the path of a SQLite file. Thread-safe and
    safe across processes: every write is one transaction, and conflicts are resolved by the
    database's unique keys, not by locks in this process.
    """

    def __init__(self, target: Engine | str | Path) -> None:
        if isinstance(target, Engine):
            self.engine = target
        elif isinstance(target, str) and "://" in target:
            self.engine = engine_at(target)
        else:
            self.engine = engine_at(f"sqlite:///{Path(target).resolve()}")
        dialect_insert(self.engine, votes)  # SQLite or PostgreSQL, or a clear error now
        self._tables_ready = False

    def ensure(self) -> None:
        """Create the tables on first use, not at start-up: a replica whose database is down
        still starts, answers, and de-duplicates again once the database is back."""
        if not self._tables_ready:
            ensure_tables(self.engine, metadata)
            self._tables_ready = True

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        self.ensure()
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        self.ensure()
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        """Nothing to do: connections are pooled per URL for the whole process."""

    def dialect_insert(self, table: Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT."""
        return dialect_insert(self.engine, table)

    # ------------------------------------------------------------------ retry claims
    def claim(self, key: str, ttl_seconds: float) -> bool:
        """True for the first caller in any process to claim `key` within `ttl_seconds`
        (atomic across replicas; see `bot.runtime.state.claim`)."""
        self.ensure()
        return claim(self.engine, key, ttl_seconds)

    # ------------------------------------------------------------------ answers
    def save_answer(
        self,
        question: str,
        answer: Answer,
        *,
        channel: str | None,
        thread_ts: str | None,
        history: list[Turn] | None = None,
    ) -> str:
        """Store a posted answer; returns its id (what the feedback buttons carry)."""
        answer_id = uuid.uuid4().hex[:16]
        classification = answer.classification.model_dump() if answer.classification else None
        try:
            self._save_answer(
                answer_id, question, answer, channel, thread_ts, history, classification
            )
        except SQLAlchemyError as exc:
            # the answer still goes out; a vote on it keeps the message text (fallback_answer)
            log.warning("could not store answer %s (state database: %s)", answer_id, exc)
        return answer_id

    def _save_answer(
        self,
        answer_id: str,
        question: str,
        answer: Answer,
        channel: str | None,
        thread_ts: str | None,
        history: list[Turn] | None,
        classification: dict[str, Any] | None,
    ) -> None:
        with self._begin() as conn:
            conn.execute(
                insert(answers).values(
                    id=answer_id,
                    created_at=_now(),
                    channel=channel,
                    thread_ts=thread_ts,
                    question=question,
                    history=_dump([t.model_dump() for t in history or []]),
                    answer=answer.answer,
                    citations=_dump([c.model_dump() for c in answer.citations]),
                    classification=_dump(classification) if classification else None,
                    abstained=answer.abstained,
                    degraded=answer.degraded,
                    backend=answer.backend,
                )
            )

    def get_answer(self, answer_id: str) -> tuple[str, Answer] | None:
        """The question and the `Answer` stored under `answer_id` (e.g. to share it), or None."""
        with self._connect() as conn:
            row = conn.execute(select(answers).where(answers.c.id == answer_id)).mappings().first()
        if row is None:
            return None
        answer = Answer(
            answer=row["answer"],
            citations=json.loads(row["citations"] or "[]"),
            classification=json.loads(row["classification"]) if row["classification"] else None,
            abstained=bool(row["abstained"]),
            degraded=bool(row["degraded"]),
            backend=row["backend"] or "local",
        )
        return row["question"], answer

    def answered_in_thread(self, channel: str, thread_ts: str) -> bool:
        """Whether the bot has posted an answer in this thread."""
        query = (
            select(answers.c.id)
            .where(answers.c.channel == channel, answers.c.thread_ts == thread_ts)
            .limit(1)
        )
        try:
            with self._connect() as conn:
                return conn.execute(query).first() is not None
        except SQLAlchemyError as exc:  # a mention still works; a bare follow-up waits
            log.warning("could not look up thread %s/%s: %s", channel, thread_ts, exc)
            return False

    # ------------------------------------------------------------------ votes
    def record(
        self,
        answer_id: str,
        user: str,
        vote: Vote,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        comment: str | None = None,
        fallback_answer: str = "",
        reason: str | None = None,
    ) -> FeedbackRecord:
        """Record (or change) one user's vote on an answer; returns the stored record.

        A 👎 may carry a `reason` (wrong, incomplete, outdated, off-topic) and a free-text
        `comment`; recording the same vote again without them keeps the earlier ones, so a
        click followed by a "what was wrong?" form makes one vote. `fallback_answer` (the
        message text Slack sent with the click) keeps the vote meaningful when the answer
        row is gone, e.g. after the database was reset.
        """
        if vote not in ("up", "down"):
            raise ValueError(f"vote must be 'up' or 'down', not {vote!r}")
        if reason is not None and reason not in REASONS:
            raise ValueError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
        if reason is not None and vote != "down":
            raise ValueError("a reason goes with a 👎 vote only")
        with self._begin() as conn:
            known = conn.execute(select(answers.c.id).where(answers.c.id == answer_id)).first()
            if known is None:
                log.warning("feedback for unknown answer %s; storing the message text", answer_id)
                conn.execute(
                    insert(answers).values(
                        id=answer_id,
                        created_at=_now(),
                        channel=channel,
                        thread_ts=thread_ts,
                        question="",
                        answer=fallback_answer,
                    )
                )
            row = {
                "answer_id": answer_id,
                "voter": user,
                "channel": channel,
                "thread_ts": thread_ts,
                "vote": vote,
                "reason": reason,
                "comment": comment,
                "voted_at": _now(),
                "voted_epoch": time.time(),
            }
            upsert_vote(conn, row)
        return self.records(answer_id=answer_id, user=user)[0]

    def records(
        self, vote: Vote | None = None, *, answer_id: str | None = None, user: str | None = None
    ) -> list[FeedbackRecord]:
        """Votes with their answers, oldest first (all, or filtered by vote, answer, user)."""
        query = select(
            votes.c.answer_id,
            votes.c.voter,
            func.coalesce(votes.c.channel, answers.c.channel).label("channel"),
            func.coalesce(votes.c.thread_ts, answers.c.thread_ts).label("thread_ts"),
            answers.c.question,
            answers.c.answer,
            answers.c.citations,
            answers.c.history,
            votes.c.vote,
            votes.c.voted_at,
            votes.c.comment,
            votes.c.reason,
        ).join(answers, answers.c.id == votes.c.answer_id)
        for column, value in ((votes.c.vote, vote), (votes.c.answer_id, answer_id)):
            if value is not None:
                query = query.where(column == value)
        if user is not None:
            query = query.where(votes.c.voter == user)
        query = query.order_by(votes.c.voted_epoch, votes.c.answer_id, votes.c.voter)
        with self._connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            FeedbackRecord(
                answer_id=row["answer_id"],
                user=row["voter"],
                channel=row["channel"],
                thread_ts=row["thread_ts"],
                question=row["question"],
                answer=row["answer"],
                citations=json.loads(row["citations"] or "[]"),
                vote=row["vote"],
                voted_at=row["voted_at"],
                comment=row["comment"],
                history=json.loads(row["history"] or "[]"),
                reason=row["reason"],
            )
            for row in rows
        ]

    def votes_version(self) -> tuple[int, float]:
        """(number of votes, time of the latest change): cheap to poll for "anything new?"."""
        query = select(func.count(), func.max(votes.c.voted_epoch))
        with self._connect() as conn:
            count, latest = conn.execute(query).one()
        return int(count or 0), float(latest or 0.0)

    # ------------------------------------------------------------------ export
    def export(self, format: ExportFormat = "json") -> str:
        """All votes as CSV (citations as a JSON column) or as a JSON array."""
        return export_records(self.records(), format)

    def as_eval_cases(self, first_number: int = 1) -> list[dict[str, Any]]:
        """The 👎 votes as candidate `knowledge` eval cases, to be reviewed before use."""
        return eval_cases(self.records("down"), first_number)


def open_feedback_store(settings: Settings) -> FeedbackStore:
    """The store for these settings: the state database (`KB_DATABASE_URL`).

    `KB_FEEDBACK_DB` is deprecated: when it is set and `KB_DATABASE_URL` is not, that SQLite
    file is used (as before) and a warning says to move to `KB_DATABASE_URL`.
    """
    if settings.feedback_db is not None and not settings.database_url:
        log.warning(
            "KB_FEEDBACK_DB is deprecated: set KB_DATABASE_URL (sqlite:///%s keeps this file)",
            Path(settings.feedback_db).resolve(),
        )
        legacy = Path(settings.feedback_db)
        store = FeedbackStore(legacy)
    else:
        legacy = settings.data_dir / "feedback.sqlite3"
        store = FeedbackStore(engine_for(settings))
    if legacy.is_file():
        from bot.runtime.feedback_legacy import import_legacy

        try:
            import_legacy(legacy, store)
        except SQLAlchemyError as exc:  # retried at the next start; the old file is untouched
            log.warning("could not import the votes of %s yet: %s", legacy, exc)
    return store
