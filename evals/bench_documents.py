"""How cleanly a folder of real documents ingests (run by hand; no embedding, no index):

    python -m evals.bench_documents [FOLDER]     # default: evals/corpora/sqlite

Prints, per format and in total: documents, chunks, the share of quotable sentences that are
fragments (no closing punctuation, or starting in lower case: a line cut mid-sentence), the
share of chunks holding template boilerplate (a line found in at least half of the
documents, such as a site's navigation or footer), and the median load+clean+chunk time.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from bot.runtime.settings import Settings
from bot.runtime.text import units
from ingest.clean import load_rules
from ingest.index import chunks_of
from ingest.load import load_paths

DEFAULT = Path(__file__).resolve().parent / "corpora" / "sqlite"


_CODE = re.compile(r"[;{}=<>]|--|^\w+>")  # code and shell lines are not prose


def _is_fragment(sentence: str) -> bool:
    text = sentence.strip().removeprefix("- ")
    if len(text.split()) < 4 or _CODE.search(text):
        return False
    return text[-1] not in ".!?:;)\"'”" or text[0].islower()


def main(folder: Path = DEFAULT, repeats: int = 3) -> None:
    """Measure `folder` and print the table."""
    settings = Settings(corpus_dir=folder)
    rules = load_rules(folder / "cleaning.toml")
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        loaded = load_paths([folder], folder, settings.max_file_bytes)
        chunks = {d.source: chunks_of(d, rules, settings) for d in loaded.documents}
        seconds.append(time.perf_counter() - started)
    lines_in = Counter(
        line for cs in chunks.values() for line in {ln for c in cs for ln in c.text.splitlines()}
    )
    template = {ln for ln, n in lines_in.items() if len(chunks) >= 4 and n * 2 >= len(chunks)}
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for doc in loaded.documents:
        for key in (doc.format, "all"):
            row = rows[key]
            row[0] += 1
            for chunk in chunks[doc.source]:
                row[1] += 1
                row[2] += any(ln in template for ln in chunk.text.splitlines())
                sentences = [u.text for u in units(chunk.text) if u.kind == "sentence"]
                row[3] += len(sentences)
                row[4] += sum(map(_is_fragment, sentences))
    print(f"{folder}: {len(loaded.problems)} problem(s); skipped {loaded.skipped}")
    print(f"{'format':10} {'docs':>5} {'chunks':>7} {'boilerplate':>12} {'fragments':>10}")
    for key, (docs, n, boiler, sents, frags) in sorted(rows.items()):
        print(f"{key:10} {docs:5d} {n:7d} {boiler / max(n, 1):11.1%} {frags / max(sents, 1):9.1%}")
    print(f"template lines (in >= half the documents): {sorted(template)[:8]}")
    print(f"load+clean+chunk median {statistics.median(seconds):.2f}s over {repeats} runs")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
