"""Scale benchmark (run by hand, not in CI): kb at 31, ~1k, ~10k and ~100k chunks.

For each size it builds a corpus of real text (the bundled corpus' cleaned sentences,
recombined into documents), ingests it, starts `kb serve` as a subprocess (exactly what users
run) and prints: ingest chunks/s and its ratio to raw embedding of the same chunk texts, server
start-up time (process start to /readyz 200), RSS after start and after N questions, warm
`/ask` p50/p95/p99 and requests/s at concurrency 1 and 8 over HTTP — then the same with Chroma
in server mode (`chroma run`). Sizes above `--embed-up-to` chunks are written with precomputed
vectors (each distinct sentence embedded once by the real model, a chunk's vector the mean of
its sentences', plus a little noise) through the ingest's own code path, so they take minutes.

    python -m evals.bench_scale --sizes 31,1k            # a few minutes
    python -m evals.bench_scale --sizes 31,1k,10k,100k --questions 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bot.runtime.embeddings import OnnxMiniLM
from bot.runtime.settings import BUNDLED_CORPUS, Settings
from bot.runtime.text import units
from evals.bench_http import Meter, drive, free_port, load_questions, median_row, rss_kib

PER_DOC = 40  # sections per synthetic document
CHUNKS_PER_SECTION = 0.6  # measured: short sections share chunks


class PrecomputedMiniLM(OnnxMiniLM):
    """The real model for each distinct sentence once; a passage is the mean of its sentences.

    Reports the real model's name, so the index it writes is served by the real embedder."""

    def __init__(self, noise: float = 0.02, seed: int = 7) -> None:
        super().__init__()
        self._known: dict[str, np.ndarray] = {}
        self._rng = np.random.default_rng(seed)
        self._noise = noise

    def _sentences(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._known))
        if missing:
            for text, vec in zip(missing, OnnxMiniLM.embed_array(self, missing), strict=True):
                self._known[text] = vec
        return np.asarray([self._known[t] for t in texts], dtype=np.float32)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Vectors from the sentence cache, with noise so no two records are identical."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            parts = [u.text for u in units(text) if u.kind != "heading"] or [text]
            out[i] = self._sentences(parts).mean(axis=0)
        out += self._rng.normal(0, self._noise / np.sqrt(self.dimension), out.shape)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def corpus_sentences() -> list[str]:
    """Cleaned sentences of the bundled corpus."""
    from ingest.clean import clean_text, load_rules

    rules = load_rules(BUNDLED_CORPUS / "cleaning.toml")
    texts = [clean_text(f.read_text(), rules) for f in sorted(BUNDLED_CORPUS.glob("*.txt"))]
    found = [
        u.text for t in texts for u in units(t) if u.kind == "sentence" and len(u.text.split()) > 6
    ]
    return list(dict.fromkeys(found))


def build_corpus(folder: Path, chunks: int) -> None:
    """About `chunks` chunks of recombined corpus sentences, `PER_DOC` sections per file."""
    sentences = corpus_sentences()
    folder.mkdir(parents=True)
    (folder / "cleaning.toml").write_text("")
    files = max(1, round(chunks / (PER_DOC * CHUNKS_PER_SECTION)))
    for i in range(files):
        sections = []
        for j in range(PER_DOC):
            picked = [sentences[(i * 31 + j * 7 + k * 13) % len(sentences)] for k in range(8)]
            sections.append(f"## Part {j}\n\n" + " ".join(picked))
        (folder / f"doc{i:05d}.md").write_text(f"# Synthetic {i}\n\n" + "\n\n".join(sections))


def env_for(data: Path, corpus: Path, chroma_url: str | None) -> dict[str, str]:
    """Environment of a kb process over this data dir (local backend)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "OPENAI_"))}
    env.update(KB_DATA_DIR=str(data), KB_CORPUS_DIR=str(corpus), KB_LLM="local")
    if chroma_url:
        env["KB_CHROMA_URL"] = chroma_url
    return env


def ingest_size(
    data: Path, corpus: Path, chroma_url: str | None, precomputed: bool
) -> tuple[int, float, float | None]:
    """(chunks, ingest chunks/s, raw embedding chunks/s of the same chunk texts or None)."""
    from bot.runtime.store import open_store
    from ingest.clean import load_rules
    from ingest.index import chunks_of, ingest
    from ingest.load import load_paths

    settings = Settings(data_dir=data, corpus_dir=corpus, chroma_url=chroma_url, llm="local")
    embedder: OnnxMiniLM = PrecomputedMiniLM() if precomputed else OnnxMiniLM()
    embedder.load()
    if precomputed:  # sentences embedded once, before the clock starts
        embedder._sentences(corpus_sentences())  # type: ignore[attr-defined]
    report = ingest(None, settings, open_store(settings, embedder))
    rate = report.chunks / report.seconds
    # Over a kept work dir (--keep) this is a no-op re-ingest: it should embed nothing.
    print(f"  ingest {report.seconds:.1f} s, {report.embedded} chunks embedded", flush=True)
    raw = None
    if not precomputed:
        docs = load_paths([corpus], corpus, 10_000_000).documents
        texts = [c.embed_text() for d in docs for c in chunks_of(d, load_rules(None), settings)]
        started = time.perf_counter()
        OnnxMiniLM.embed_array(embedder, texts)
        raw = len(texts) / (time.perf_counter() - started)
    return report.chunks, rate, raw


def start_chroma(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`chroma run` on loopback, ready."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    port = free_port()
    proc = subprocess.Popen(
        [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("chroma run did not start")


def serve_and_measure(
    env: dict[str, str],
    questions: list[str],
    n: int,
    requests: int,
    levels: tuple[int, ...] = (1, 8),
) -> dict[str, float]:
    """Start `kb serve`, measure start-up, RSS, and /ask latency at concurrency 1 and 8."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    log = Path(env["KB_DATA_DIR"]).parent / f"serve-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.doors.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"kb serve exited; see {log}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        out: dict[str, float] = {"startup_s": time.perf_counter() - started}
        out["rss_start_mb"] = rss_kib(proc.pid) / 1024
        meter = Meter(proc.pid, [])
        asyncio.run(drive(url, questions, meter, 20, 2))  # warm-up
        for concurrency in levels:
            run = asyncio.run(drive(url, questions, meter, requests, concurrency))
            rps, p50, p95, p99, errors = median_row([run])
            out.update({f"c{concurrency}_{k}": v for k, v in
                        (("rps", rps), ("p50", p50), ("p95", p95), ("p99", p99), ("errors", errors))})  # fmt: skip
        remaining = max(0, n - meter.served)
        if remaining:
            asyncio.run(drive(url, questions, meter, remaining, 8))
        out["questions"] = meter.served
        out["rss_after_mb"] = rss_kib(proc.pid) / 1024
        return out
    finally:
        proc.terminate()
        proc.wait(20)


def parse_size(text: str) -> int:
    """'31', '1k', '10k', '100k' → chunks."""
    text = text.strip().lower()
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one table row per size and mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="31,1k,10k", help="comma list: 31 = the bundled corpus")
    parser.add_argument("--questions", type=int, default=1000, help="questions before RSS is read")
    parser.add_argument("--requests", type=int, default=200, help="requests per latency run")
    parser.add_argument("--embed-up-to", type=int, default=2000,
                        help="sizes above this use precomputed vectors")  # fmt: skip
    parser.add_argument("--modes", default="embedded,server")
    parser.add_argument("--extra-concurrency", type=int, default=0,
                        help="also measure this concurrency (e.g. 32), printed below the table")  # fmt: skip
    parser.add_argument("--keep", type=Path, default=None, help="work dir to keep (default: temp)")
    parser.add_argument("--build-only", action="store_true",
                        help="build and ingest the corpora into --keep, measure nothing")  # fmt: skip
    args = parser.parse_args(argv)
    questions = load_questions()
    work = args.keep or Path(tempfile.mkdtemp(prefix="kb-bench-scale-"))
    print(f"work dir {work}; cores {os.cpu_count()}", flush=True)
    header = ("size", "mode", "chunks", "ingest/s", "raw/s", "ratio", "start s", "RSS MB",
              f"RSS@{args.questions}", "c1 p50", "p95", "p99", "c8 p50", "p95", "p99", "c8 req/s", "err")  # fmt: skip
    rows = []
    notes: list[str] = []
    for label in args.sizes.split(","):
        size = parse_size(label)
        for mode in args.modes.split(","):
            base = work / f"{label}-{mode}"
            corpus = BUNDLED_CORPUS if size <= 31 else base / "corpus"
            if size > 31 and not corpus.exists():
                build_corpus(corpus, size)
            chroma = start_chroma(base / "chroma-server") if mode == "server" else None
            try:
                url = chroma[1] if chroma else None
                chunks, rate, raw = ingest_size(base / "data", corpus, url, size > args.embed_up_to)
                print(f"{label} {mode}: ingested {chunks} chunks at {rate:.1f}/s", flush=True)
                if args.build_only:
                    continue
                extra = (args.extra_concurrency,) if args.extra_concurrency else ()
                m = serve_and_measure(
                    env_for(base / "data", corpus, url),
                    questions,
                    args.questions,
                    args.requests,
                    (1, 8, *extra),
                )
            finally:
                if chroma:
                    chroma[0].terminate()
                    chroma[0].wait(20)
            ratio = f"{rate / raw:.2f}" if raw else "precomp"
            row = (label, mode, chunks, f"{rate:.1f}", f"{raw:.1f}" if raw else "-", ratio,
                   f"{m['startup_s']:.1f}", f"{m['rss_start_mb']:.0f}", f"{m['rss_after_mb']:.0f}",
                   *(f"{m[k]:.0f}" for k in ("c1_p50", "c1_p95", "c1_p99", "c8_p50", "c8_p95", "c8_p99")),
                   f"{m['c8_rps']:.1f}", int(m["c1_errors"] + m["c8_errors"]))  # fmt: skip
            rows.append(row)
            print(" | ".join(map(str, row)), flush=True)
            if extra:
                c = extra[0]
                notes.append(
                    f"{label} {mode}: concurrency {c}: {m[f'c{c}_rps']:.1f} req/s, p50 "
                    f"{m[f'c{c}_p50']:.0f} ms, p99 {m[f'c{c}_p99']:.0f} ms, "
                    f"{int(m[f'c{c}_errors'])} errors (concurrency 8: {m['c8_rps']:.1f} req/s)"
                )
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")
    print(
        f"(latencies in ms over HTTP; RSS of the kb serve process; median of 1 run of {args.requests})"
    )
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
