"""`kb feedback`: the 👍/👎 votes as CSV/JSON, or the 👎 ones as candidate eval cases.

The votes themselves live in the state database (`bot.runtime.feedback_store`), shared by every
replica; this module is only the export glue of the CLI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.runtime.feedback_store import (
    FEEDBACK_FIELDS,
    REASONS,
    ExportFormat,
    FeedbackRecord,
    FeedbackStore,
    Vote,
    open_feedback_store,
)
from bot.runtime.settings import Settings

__all__ = [
    "FEEDBACK_FIELDS",
    "REASONS",
    "ExportFormat",
    "FeedbackRecord",
    "FeedbackStore",
    "Vote",
    "export_feedback",
    "next_case_number",
]


def next_case_number(datasets_dir: Path, prefix: str = "k") -> int:
    """The first free number after the highest `<prefix>NNN` id in the eval datasets."""
    highest = 0
    pattern = re.compile(rf'"id"\s*:\s*"{re.escape(prefix)}(\d+)"')
    for path in sorted(datasets_dir.glob("*.jsonl")) if datasets_dir.is_dir() else []:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            highest = max(highest, int(match.group(1)))
    return highest + 1


def export_feedback(
    source: Settings | FeedbackStore | Path,
    format: ExportFormat = "json",
    *,
    as_eval: bool = False,
    datasets_dir: Path | None = None,
) -> str:
    """What `kb feedback` prints: the votes as CSV/JSON, or 👎 ones as eval JSONL lines.

    `source` is the settings (the configured state database), a store, or a SQLite file.
    """
    if isinstance(source, Settings):
        store = open_feedback_store(source)
    elif isinstance(source, FeedbackStore):
        store = source
    else:
        store = FeedbackStore(source)
    if not as_eval:
        return store.export(format)
    first = next_case_number(datasets_dir) if datasets_dir else 1
    lines = [json.dumps(case, ensure_ascii=False) for case in store.as_eval_cases(first)]
    return "".join(line + "\n" for line in lines)
