"""Slack answers and 👍/👎 votes in one small SQLite file, with CSV/JSON/eval-case export.

Every answer the Slack bot posts is stored (keyed by a short id carried in the feedback
buttons), so a click can be recorded with its question, answer and citations, and a thread
follow-up can tell that the bot already answered in that thread.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.runtime.schema import Answer, Turn

log = logging.getLogger(__name__)

Vote = Literal["up", "down"]
ExportFormat = Literal["csv", "json"]
FEEDBACK_FIELDS = (
    "answer_id",
    "user",
    "channel",
    "thread_ts",
    "question",
    "answer",
    "citations",
    "vote",
    "voted_at",
    "reason",
    "comment",
)
REASONS = ("wrong", "incomplete", "outdated", "off_topic")  # the 👎 "what was wrong?" choices

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    channel TEXT,
    thread_ts TEXT,
    question TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]',
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    classification TEXT,
    abstained INTEGER NOT NULL DEFAULT 0,
    degraded INTEGER NOT NULL DEFAULT 0,
    backend TEXT
);
CREATE INDEX IF NOT EXISTS answers_thread ON answers (channel, thread_ts);
CREATE TABLE IF NOT EXISTS votes (
    answer_id TEXT NOT NULL,
    user TEXT NOT NULL,
    channel TEXT,
    thread_ts TEXT,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    voted_at TEXT NOT NULL,
    comment TEXT,
    reason TEXT,
    PRIMARY KEY (answer_id, user)
);
"""


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


class FeedbackStore:
    """SQLite store of posted answers and the votes on them (thread-safe, one file)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(votes)")}
            if "reason" not in columns:  # a file written before 👎 reasons existed
                conn.execute("ALTER TABLE votes ADD COLUMN reason TEXT")
            self._conn = conn
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connect()
            with conn:
                yield conn

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

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
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO answers (id, created_at, channel, thread_ts, question, history,"
                " answer, citations, classification, abstained, degraded, backend)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer_id,
                    _now(),
                    channel,
                    thread_ts,
                    question,
                    json.dumps([t.model_dump() for t in history or []], ensure_ascii=False),
                    answer.answer,
                    json.dumps([c.model_dump() for c in answer.citations], ensure_ascii=False),
                    json.dumps(classification, ensure_ascii=False) if classification else None,
                    int(answer.abstained),
                    int(answer.degraded),
                    answer.backend,
                ),
            )
        return answer_id

    def get_answer(self, answer_id: str) -> tuple[str, Answer] | None:
        """The question and the `Answer` stored under `answer_id` (e.g. to share it), or None."""
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
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
        with self._tx() as conn:
            row = conn.execute(
                "SELECT 1 FROM answers WHERE channel = ? AND thread_ts = ? LIMIT 1",
                (channel, thread_ts),
            ).fetchone()
        return row is not None

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

        `fallback_answer` (the message text Slack sent with the click) keeps the vote
        meaningful when the answer row is gone, e.g. after the database was reset.
        """
        if vote not in ("up", "down"):
            raise ValueError(f"vote must be 'up' or 'down', not {vote!r}")
        if reason is not None and reason not in REASONS:
            raise ValueError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                log.warning("feedback for unknown answer %s; storing the message text", answer_id)
                conn.execute(
                    "INSERT INTO answers (id, created_at, channel, thread_ts, question, answer)"
                    " VALUES (?, ?, ?, ?, '', ?)",
                    (answer_id, _now(), channel, thread_ts, fallback_answer),
                )
            conn.execute(
                "INSERT INTO votes (answer_id, user, channel, thread_ts, vote, voted_at, comment,"
                " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (answer_id, user) DO UPDATE SET vote = excluded.vote,"
                " voted_at = excluded.voted_at, comment = COALESCE(excluded.comment, comment),"
                " reason = COALESCE(excluded.reason, reason)",
                (answer_id, user, channel, thread_ts, vote, _now(), comment, reason),
            )
        return self.records(answer_id=answer_id, user=user)[0]

    def records(
        self, vote: Vote | None = None, *, answer_id: str | None = None, user: str | None = None
    ) -> list[FeedbackRecord]:
        """Votes with their answers, oldest first (all, or filtered by vote, answer, user)."""
        query = (
            "SELECT v.answer_id, v.user, COALESCE(v.channel, a.channel) AS channel,"
            " COALESCE(v.thread_ts, a.thread_ts) AS thread_ts, a.question, a.answer,"
            " a.citations, a.history, v.vote, v.voted_at, v.comment, v.reason"
            " FROM votes v JOIN answers a ON a.id = v.answer_id"
        )
        filters = {"v.vote": vote, "v.answer_id": answer_id, "v.user": user}
        used = {column: value for column, value in filters.items() if value is not None}
        if used:
            query += " WHERE " + " AND ".join(f"{column} = ?" for column in used)
        with self._tx() as conn:
            order = " ORDER BY v.voted_at, v.rowid"
            rows = conn.execute(query + order, tuple(used.values())).fetchall()
        return [
            FeedbackRecord(
                answer_id=row["answer_id"],
                user=row["user"],
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

    # ------------------------------------------------------------------ export
    def export(self, format: ExportFormat = "json") -> str:
        """All votes as CSV (citations as a JSON column) or as a JSON array."""
        records = [asdict(r) for r in self.records()]
        for record in records:
            record.pop("history", None)
        if format == "json":
            return json.dumps(records, ensure_ascii=False, indent=2)
        if format != "csv":
            raise ValueError(f"unknown format {format!r}: use csv or json")
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FEEDBACK_FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            record["citations"] = json.dumps(record["citations"], ensure_ascii=False)
            writer.writerow(record)
        return out.getvalue()

    def as_eval_cases(self, first_number: int = 1) -> list[dict[str, Any]]:
        """The 👎 votes as candidate `knowledge` eval cases, to be reviewed before use.

        `expected_sources` are the bot's own citations: a starting point the maintainer must
        check against the corpus (evals/datasets/README.md, "Cases from Slack 👎 feedback").
        """
        cases = []
        for number, record in enumerate(self.records("down"), start=first_number):
            sources = list(dict.fromkeys(c.get("source", "") for c in record.citations))
            cases.append(
                {
                    "id": f"k{number:03d}",
                    "split": "dev",
                    "kind": "knowledge",
                    "question": record.question,
                    "history": [],
                    "expected_sources": [s for s in sources if s],
                    "key_facts": [],
                    "feedback": {
                        "note": "Candidate from Slack 👎: review, fix expected_sources and "
                        "key_facts from the corpus, anonymise, then renumber and append.",
                        "answer_id": record.answer_id,
                        "vote": record.vote,
                        "voted_at": record.voted_at,
                        "reason": record.reason,
                        "comment": record.comment,
                        "bot_answer": record.answer,
                        "thread_history": record.history or [],
                    },
                }
            )
        return cases


def next_case_number(datasets_dir: Path, prefix: str = "k") -> int:
    """The first free number after the highest `<prefix>NNN` id in the eval datasets."""
    highest = 0
    pattern = re.compile(rf'"id"\s*:\s*"{re.escape(prefix)}(\d+)"')
    for path in sorted(datasets_dir.glob("*.jsonl")) if datasets_dir.is_dir() else []:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            highest = max(highest, int(match.group(1)))
    return highest + 1


def export_feedback(
    path: Path,
    format: ExportFormat = "json",
    *,
    as_eval: bool = False,
    datasets_dir: Path | None = None,
) -> str:
    """What `kb feedback` prints: the votes as CSV/JSON, or 👎 ones as eval JSONL lines."""
    store = FeedbackStore(path)
    try:
        if not as_eval:
            return store.export(format)
        first = next_case_number(datasets_dir) if datasets_dir else 1
        lines = [json.dumps(case, ensure_ascii=False) for case in store.as_eval_cases(first)]
        return "".join(line + "\n" for line in lines)
    finally:
        store.close()
