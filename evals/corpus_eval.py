"""`kb eval --corpus NAME`: evaluate on a corpus other than the bundled one.

The corpus lives in `evals/corpora/NAME/` (documents plus their licence file), its cases in
`evals/datasets/NAME/*.jsonl` (the same schema as `evals/datasets/`, sources written as
`NAME/<file>`), its index in `<KB_DATA_DIR>/corpora/NAME/` under its own collection, so it
never mixes with the main index. Its gate, if any, is the `[NAME.dev]` / `[NAME.test]` section
of `evals/thresholds.toml`; without one the figures are reported and nothing is gated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.runtime.settings import Settings

EVALS_DIR = Path(__file__).resolve().parent
CORPORA_DIR = EVALS_DIR / "corpora"
DATASETS_DIR = EVALS_DIR / "datasets"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{1,40}")


class CorpusError(ValueError):
    """An unknown or malformed evaluation corpus name."""


def available() -> list[str]:
    """Names of the evaluation corpora that have both documents and cases."""
    if not CORPORA_DIR.is_dir():
        return []
    return sorted(
        p.name for p in CORPORA_DIR.iterdir() if p.is_dir() and (DATASETS_DIR / p.name).is_dir()
    )


def corpus_paths(name: str) -> tuple[Path, Path]:
    """(documents folder, datasets folder) of corpus `name`; CorpusError if it is unknown."""
    if not _NAME.fullmatch(name) or name not in available():
        names = ", ".join(available()) or "none"
        raise CorpusError(f"unknown evaluation corpus {name!r} (available: {names})")
    return CORPORA_DIR / name, DATASETS_DIR / name


def corpus_settings(settings: Settings, name: str) -> Settings:
    """`settings` pointed at corpus `name`: its folder, its own data dir and collection."""
    corpus_dir, _ = corpus_paths(name)
    return settings.model_copy(
        update={
            "corpus_dir": corpus_dir,
            "data_dir": settings.data_dir / "corpora" / name,
            "collection": f"kb_eval_{name}".replace("-", "_"),
        }
    )


def corpus_thresholds(table: dict[str, Any], name: str) -> dict[str, Any]:
    """The corpus' own gate table (`[NAME.dev]`, `[NAME.test]`), empty when it has none."""
    section = table.get(name, {})
    return section if isinstance(section, dict) else {}
