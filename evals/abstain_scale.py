"""Does abstention hold as the corpus grows? (run by hand, not in CI)

    python -m evals.abstain_scale DATA_DIR [EXTRA_FOLDER ...] [--split dev|test|all]

Ingests the bundled corpus, the SQLite pages, the company documents and any extra folders
(for example a copy of some of /usr/share/doc) into one index in DATA_DIR (reused when it
exists), then asks every off-topic and every answerable question of the three datasets and
prints how many off-topic questions are declined and answerable ones answered, with kb's
relevance check and without it (`Calibration.relevance_min` off), beside the same figures on
each corpus alone (from `kb eval`). Nothing is tuned here.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

from bot.answer import KnowledgeBot
from bot.answer.calibration import Calibration
from bot.runtime.settings import BUNDLED_CORPUS, PACKAGE_ROOT, Settings

EVALS = PACKAGE_ROOT / "evals"


def _cases(path: Path, split: str) -> list[dict]:
    rows = map(json.loads, path.read_text(encoding="utf-8").splitlines())
    return [c for c in rows if split in ("all", c["split"])]


def questions(split: str) -> tuple[list[str], list[str]]:
    """(off-topic, answerable) questions of the seed, SQLite and company datasets (the
    company questions declined over the seed corpus alone are answered once the company
    documents are in: these count as answerable)."""
    off, ok = [], []
    datasets = EVALS / "datasets"
    for folder in (datasets, datasets / "sqlite"):
        off += [c["question"] for c in _cases(folder / "abstain.jsonl", split)]
        ok += [c["question"] for c in _cases(folder / "knowledge.jsonl", split)]
    company = EVALS / "corpora" / "company" / "cases.jsonl"
    for case in _cases(company, split):
        (off if case["expect"] == "abstain" else ok).append(case["question"])
    # A question the company documents answer (in any split) is not off-topic here.
    answered = {c["question"] for c in _cases(company, "all") if c["expect"] == "answer"}
    answerable = list(dict.fromkeys(ok))
    return [q for q in dict.fromkeys(off) if q not in answerable and q not in answered], answerable


def build(data_dir: Path, extra: list[Path]) -> Settings:
    """One index over every corpus (built once into `data_dir/corpus`, then reused)."""
    corpus = data_dir / "corpus"
    settings = Settings(data_dir=data_dir, corpus_dir=corpus, llm="local")
    if not corpus.exists():
        sources = {"seed": BUNDLED_CORPUS, "sqlite": EVALS / "corpora" / "sqlite"}
        sources |= {"company": EVALS / "corpora" / "company"}
        sources |= {f"extra{i}": p for i, p in enumerate(extra)}
        for name, src in sources.items():
            shutil.copytree(src, corpus / name, ignore=shutil.ignore_patterns("README*"))
    KnowledgeBot(settings).ensure_index()
    return settings


def main() -> None:
    """Ask every question with and without the relevance check and print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="index folder (built on first use)")
    parser.add_argument("extra", type=Path, nargs="*", help="more folders to ingest with them")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all")
    args = parser.parse_args()
    settings = build(args.data_dir, args.extra)
    off, ok = questions(args.split)
    with_check = KnowledgeBot(settings)
    print(f"{with_check.store.collection().count()} chunks in {settings.data_dir}")
    without = KnowledgeBot(settings, replace(Calibration(), relevance_min=float("-inf")))
    for name, bot in (("with the relevance check", with_check), ("without it", without)):
        declined = [q for q in off if bot.answer(q).abstained]
        answered = [q for q in ok if not bot.answer(q).abstained]
        print(
            f"{name}: off-topic declined {len(declined)}/{len(off)}, "
            f"answerable answered {len(answered)}/{len(ok)}"
        )
        for q in sorted(set(off) - set(declined)):
            print(f"  answered off-topic: {q}")
        for q in sorted(set(ok) - set(answered)):
            print(f"  declined answerable: {q}")


if __name__ == "__main__":
    main()
