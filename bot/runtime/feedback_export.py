"""The votes as CSV/JSON and the 👎 ones as candidate eval cases (`kb feedback`)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bot.runtime.feedback_store import FeedbackRecord

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
    "comment",
    "reason",
)


def export_records(records: list[FeedbackRecord], format: ExportFormat = "json") -> str:
    """Votes as CSV (citations as a JSON column) or as a JSON array."""
    rows = [asdict(r) for r in records]
    for row in rows:
        row.pop("history", None)
    if format == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2)
    if format != "csv":
        raise ValueError(f"unknown format {format!r}: use csv or json")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FEEDBACK_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        row["citations"] = json.dumps(row["citations"], ensure_ascii=False)
        writer.writerow(row)
    return out.getvalue()


def eval_cases(down_votes: list[FeedbackRecord], first_number: int = 1) -> list[dict[str, Any]]:
    """👎 votes as candidate `knowledge` eval cases, to be reviewed before use.

    `expected_sources` are the bot's own citations: a starting point the maintainer must
    check against the corpus (evals/datasets/README.md, "Cases from Slack 👎 feedback").
    """
    cases = []
    for number, record in enumerate(down_votes, start=first_number):
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
                    "reason": record.reason,
                    "voted_at": record.voted_at,
                    "comment": record.comment,
                    "bot_answer": record.answer,
                    "thread_history": record.history or [],
                },
            }
        )
    return cases
