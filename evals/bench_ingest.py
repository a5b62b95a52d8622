"""Ingest benchmark (run by hand, not in CI): where ingest time goes, its throughput against raw
embedding of the same text in the same run, and the cost of a no-op re-ingest.

For each size it builds a corpus of real sentences (the bundled corpus' cleaned sentences,
recombined into Markdown documents; each sentence is made unique per place with a short
reference so no cache or de-duplication flatters the figures), ingests it into a fresh data dir
with the real embedder, prints the stage breakdown, then embeds the same chunk texts raw (one
`embed_array` call, as a plain RAG ingest would) and prints the ratio. Then it re-ingests the
unchanged corpus and prints that time and the number of embeddings (should be 0).

    nice -n 10 python -m evals.bench_ingest --sizes 1k,10k
    nice -n 10 python -m evals.bench_ingest --noop 100k     # precomputed vectors, see below

`--noop SIZE` builds a corpus of SIZE chunks with precomputed vectors (evals/bench_scale's
`PrecomputedMiniLM`: each distinct sentence embedded once by the real model) through the
ingest's own code path, then times no-op re-ingests of it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.runtime.embeddings import OnnxMiniLM
from bot.runtime.settings import Settings
from bot.runtime.store import open_store
from evals.bench_scale import PER_DOC, build_corpus, corpus_sentences, parse_size

CHUNKS_PER_DOC = 24  # measured: a synthetic document of PER_DOC sections makes about 24 chunks


def build_unique_corpus(folder: Path, chunks: int) -> None:
    """About `chunks` chunks of recombined corpus sentences, every sentence text unique."""
    sentences = corpus_sentences()
    folder.mkdir(parents=True)
    (folder / "cleaning.toml").write_text("")
    for i in range(max(1, round(chunks / CHUNKS_PER_DOC))):
        sections = []
        for j in range(PER_DOC):
            picked = [
                f"In case {i}.{j}.{k}, "
                + (s := sentences[(i * 31 + j * 7 + k * 13) % len(sentences)])[0].lower()
                + s[1:]
                for k in range(8)
            ]
            sections.append(f"## Part {j}\n\n" + " ".join(picked))
        (folder / f"doc{i:05d}.md").write_text(f"# Synthetic {i}\n\n" + "\n\n".join(sections))


def _settings(work: Path, corpus: Path) -> Settings:
    return Settings(data_dir=work / "data", corpus_dir=corpus, llm="local")


def _clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads: onnxruntime's and Chroma's)."""
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    now = _clock()
    return now[0] - start[0], now[1] - start[1]


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of `fn()`."""
    start = _clock()
    fn()
    return _since(start)


def throughput(work: Path, size: int, rounds: int) -> None:
    """Ingest a fresh corpus of `size` chunks; print the breakdown and the ratio to raw."""
    from ingest.clean import load_rules
    from ingest.embed import embed_chunks
    from ingest.index import chunks_of, ingest
    from ingest.load import load_paths

    corpus = work / "corpus"
    build_unique_corpus(corpus, size)
    settings = _settings(work, corpus)
    embedder = OnnxMiniLM()
    embedder.load()
    embedder.embed_array(["warm up"])
    docs = load_paths([corpus], corpus, settings.max_file_bytes).documents
    chunks = [c for d in docs for c in chunks_of(d, load_rules(None), settings)]
    texts = [c.embed_text() for c in chunks]
    # Raw embedding before and after the ingest (the machine is shared: bracketing keeps the
    # two comparable). CPU time of this process is the steadier figure when others compete.
    raws = [_timed(lambda: embedder.embed_array(texts))]
    start = _clock()
    report = ingest(None, settings, open_store(settings, embedder))
    wall, cpu = _since(start)
    raws.append(_timed(lambda: embedder.embed_array(texts)))
    raw_wall = statistics.median(r[0] for r in raws)
    raw_cpu = statistics.median(r[1] for r in raws)
    print(f"\n== {report.chunks} chunks, {len(docs)} files ==")
    print(f"ingest: {report.chunks / wall:.1f} chunks/s wall, {report.chunks / cpu:.1f} per "
          f"CPU-second; raw embedding of the same chunk texts: {len(texts) / raw_wall:.1f} "
          f"chunks/s wall, {len(texts) / raw_cpu:.1f} per CPU-second")  # fmt: skip
    print(f"ratio to raw: {raw_wall / wall:.2f} wall, {raw_cpu / cpu:.2f} CPU (goal >= 0.8)")
    accounted = 0.0
    for stage, seconds in sorted(report.timings.items(), key=lambda kv: -kv[1]):
        accounted += seconds
        print(f"  {stage:<16} {seconds:8.2f}s  {100 * seconds / report.seconds:5.1f}%")
    rest = report.seconds - accounted
    print(f"  {'other':<16} {rest:8.2f}s  {100 * rest / report.seconds:5.1f}%  (wall)")
    # Embedding alone, per method, alternating with raw runs: CPU-time ratios, median of rounds.
    sample = chunks[: min(len(chunks), 400)]
    sample_texts = [c.embed_text() for c in sample]
    ratios: dict[str, list[float]] = {"units": [], "separate": []}
    for _ in range(rounds):
        for method, found in ratios.items():
            base = _timed(lambda: embedder.embed_array(sample_texts))[1]
            found.append(
                base / _timed(lambda m=method: embed_chunks(embedder, sample, method=m))[1]
            )
    print("embedding only, CPU-time ratio to raw chunk embedding (median of "
          f"{rounds} rounds on {len(sample)} chunks): "
          + ", ".join(f"{m} {statistics.median(r):.2f}" for m, r in ratios.items()))  # fmt: skip
    noop(settings, embedder, repeats=3)


def noop(settings: Settings, embedder: OnnxMiniLM, repeats: int) -> None:
    """Time re-ingests of the unchanged corpus (median of `repeats`)."""
    from ingest.index import ingest

    times, embedded = [], []
    for _ in range(repeats):
        report = ingest(None, settings, open_store(settings, embedder))
        times.append(report.seconds)
        embedded.append(report.embedded)
    parts = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(report.timings.items()))
    print(f"no-op re-ingest of {report.files} files / {report.chunks} chunks: median "
          f"{statistics.median(times):.2f}s over {repeats} (embedded {embedded}); {parts}")  # fmt: skip


def noop_at_scale(work: Path, size: int) -> None:
    """Build `size` chunks with precomputed vectors, then time no-op re-ingests."""
    from evals.bench_scale import PrecomputedMiniLM
    from ingest.index import ingest

    corpus = work / "corpus"
    build_corpus(corpus, size)
    settings = _settings(work, corpus)
    embedder = PrecomputedMiniLM()
    embedder.load()
    embedder._sentences(corpus_sentences())
    started = time.perf_counter()
    report = ingest(None, settings, open_store(settings, embedder))
    print(f"built {report.chunks} chunks from {report.files} files with precomputed vectors "
          f"in {time.perf_counter() - started:.0f}s", flush=True)  # fmt: skip
    noop(settings, embedder, repeats=3)


def scan_at_scale(work: Path, size: int) -> None:
    """Time what a no-op re-ingest does per file (walk, stat, settings key) over the files of a
    `size`-chunk corpus, and one read of as many registry rows, without building the index."""
    from ingest.clean import load_rules
    from ingest.load import LoadResult, iter_files, source_name
    from ingest.registry import COMPLETE, Entry, Registry
    from ingest.unchanged import candidates

    corpus = work / "corpus"
    if not corpus.exists():
        build_corpus(corpus, size)
    settings = _settings(work, corpus)
    rules = load_rules(corpus / "cleaning.toml")
    start = _clock()
    files = iter_files([corpus], LoadResult())
    folders: dict[Path, Path] = {}
    named = [(p, source_name(p, corpus, folders)) for p in files]
    found = candidates(named, rules, settings, "bench", folders)
    walk, _ = _since(start)
    registry = Registry(settings)  # a scratch state database in the work dir
    registry.clear()
    per_doc = max(1, size // max(1, len(found)))
    registry.put(
        Entry(c.source, "t", str(c.path), "", "md", "h", per_doc, COMPLETE, False) for c in found
    )
    registry.put_stats(c.record("h") for c in found)
    start = _clock()
    rows, stats = registry.all(), registry.stats()
    read, _ = _since(start)
    print(f"no-op scan of {len(found)} files (~{size} chunks): walk + stat + keys {walk:.2f}s; "
          f"registry read of {len(rows)} rows + {len(stats)} stats {read:.2f}s")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1k", help="comma list of chunk counts (1k, 10k)")
    parser.add_argument("--rounds", type=int, default=3, help="embedding-only comparison rounds")
    parser.add_argument("--noop", default="", help="also time a no-op re-ingest at this size")
    parser.add_argument("--scan", default="", help="time the per-file no-op work at this size")
    parser.add_argument("--keep", type=Path, default=None, help="work dir to keep (default: temp)")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="kb-bench-ingest-"))
    print(f"work dir {work}; cores {os.cpu_count()}", flush=True)
    for label in filter(None, args.sizes.split(",")):
        throughput(work / f"t{label}", parse_size(label), args.rounds)
    if args.scan:
        scan_at_scale(work / f"scan{args.scan}", parse_size(args.scan))
    if args.noop:
        noop_at_scale(work / f"noop{args.noop}", parse_size(args.noop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
