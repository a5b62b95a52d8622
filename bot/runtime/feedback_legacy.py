"""Import of the votes kept by earlier versions in `feedback.sqlite3` (tables `answers` and
`votes`) into the state database, so moving to `KB_DATABASE_URL` loses no vote."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime.feedback_store import FeedbackStore

log = logging.getLogger(__name__)


def _epoch(iso: str | None) -> float:
    try:
        return datetime.fromisoformat(iso or "").timestamp()
    except ValueError:
        return 0.0


def import_legacy(path: Path, store: FeedbackStore) -> int:
    """Copy answers and votes from an old feedback file; rows already present are kept as they
    are (idempotent). Returns how many votes were new."""
    from bot.runtime.state import answers, votes

    try:
        # read-only: the old file is the user's data and stays untouched
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        log.warning("could not open the old feedback file %s: %s", path, exc)
        return 0
    conn.row_factory = sqlite3.Row
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"answers", "votes"} <= names:
            return 0
        old_answers = [dict(r) for r in conn.execute("SELECT * FROM answers")]
        old_votes = [dict(r) for r in conn.execute("SELECT * FROM votes")]
    except sqlite3.Error as exc:
        log.warning("could not read the old feedback file %s: %s", path, exc)
        return 0
    finally:
        conn.close()
    answer_rows = [
        {**row, "abstained": bool(row["abstained"]), "degraded": bool(row["degraded"])}
        for row in old_answers
    ]
    vote_rows = [
        {
            "answer_id": row["answer_id"],
            "voter": row["user"],
            "channel": row["channel"],
            "thread_ts": row["thread_ts"],
            "vote": row["vote"],
            "comment": row["comment"],
            "voted_at": row["voted_at"],
            "voted_epoch": _epoch(row["voted_at"]),
        }
        for row in old_votes
    ]
    added = 0
    store.ensure()
    with store.engine.begin() as db:
        for table, rows in ((answers, answer_rows), (votes, vote_rows)):
            for row in rows:
                stmt = (
                    store.dialect_insert(table)
                    .values(**row)
                    .on_conflict_do_nothing()
                    .returning(table.c[0])
                )
                added += int(db.execute(stmt).first() is not None and table is votes)
    if added:
        log.info("imported %d votes from %s into the state database", added, path)
    return added
