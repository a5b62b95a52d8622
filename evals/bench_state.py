"""Benchmark of the shared state (run by hand): what a Slack retry claim costs, and what the
feedback-ranking signal adds to retrieval as votes accumulate.

    python -m evals.bench_state                                   # SQLite in a temp dir
    python -m evals.bench_state --database-url postgresql://kb@127.0.0.1:5432/kb

Prints medians and p95 in milliseconds and the ratio of retrieval time with votes to without.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from bot.answer import KnowledgeBot
from bot.runtime.feedback_store import FeedbackStore, open_feedback_store
from bot.runtime.schema import Answer, Citation
from bot.runtime.settings import BUNDLED_CORPUS, Settings

DATASETS = Path(__file__).resolve().parent / "datasets"


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms"


def bench_claims(store: FeedbackStore, n: int) -> None:
    """n new claims, then n claims of keys already taken (a retry)."""
    new, taken = [], []
    run = f"{time.time():.0f}"
    for i in range(n):
        started = time.perf_counter()
        assert store.claim(f"bench:{run}:{i}", 60)
        new.append(time.perf_counter() - started)
    for i in range(n):
        started = time.perf_counter()
        assert not store.claim(f"bench:{run}:{i}", 60)
        taken.append(time.perf_counter() - started)
    print(f"claim, new key    ({n}): {_ms(new)}")
    print(f"claim, retry      ({n}): {_ms(taken)}")


def _questions() -> list[str]:
    lines = (DATASETS / "knowledge.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def bench_ranking(settings: Settings, votes: list[int], rounds: int) -> None:
    """retrieve() over the eval questions as 👎 accumulate, with the signal on and off in turn
    (interleaved, so the ratio holds on a machine whose load changes during the run)."""
    bot = KnowledgeBot(settings)
    bot.ensure_index()
    bot.prior.refresh_seconds = 3600.0  # no background reloads while timing
    off = KnowledgeBot(settings.model_copy(update={"feedback_ranking": False}))
    questions = _questions()
    sources = sorted({s["source"] for s in bot.sources()})
    store = open_feedback_store(settings)
    rng = random.Random(7)
    recorded = 0
    for target in votes:
        for i in range(recorded, target):
            picked = rng.sample(sources, k=min(3, len(sources)))
            citations = [
                Citation(n=n, source=s, title=s, quote="q", score=0.5)
                for n, s in enumerate(picked, start=1)
            ]
            answer = Answer(answer="a [1]", citations=citations, backend="local")
            # variants of real questions, so some are similar to what is asked
            question = f"{rng.choice(questions)} ({i})"
            answer_id = store.save_answer(question, answer, channel="CB", thread_ts=None)
            store.record(answer_id, f"U{i}", "down", reason="wrong")
        recorded = target
        started = time.perf_counter()
        bot.prior.refresh()  # what a server does in the background: embed the voted questions
        load = time.perf_counter() - started
        with_votes, without = [], []
        for _ in range(rounds):
            for question in questions:
                for kb, samples in ((bot, with_votes), (off, without)):
                    started = time.perf_counter()
                    kb.retrieve(question)
                    samples.append(time.perf_counter() - started)
        vector = bot.embed([questions[0]])[0]
        signal = []
        for _ in range(200):  # the signal alone, free of retrieval's noise on a busy machine
            started = time.perf_counter()
            bot.prior.net_votes(vector)
            signal.append(time.perf_counter() - started)
        ratio = statistics.median(with_votes) / statistics.median(without)
        print(
            f"retrieve() with {target:5d} 👎: {_ms(with_votes)}  ×{ratio:.2f} of ranking off"
            f"  (signal alone: median {statistics.median(signal) * 1e6:.0f} µs;"
            f" background load of the votes {load * 1000:.0f} ms)"
        )


def bench_replica_start(settings: Settings) -> None:
    """A replica that starts after the votes: it reads the voted questions' vectors."""
    replica = KnowledgeBot(settings)
    replica.load()
    started = time.perf_counter()
    replica.prior.refresh()
    print(f"a new replica loads the votes in {(time.perf_counter() - started) * 1000:.0f} ms")


def main(
    database_url: Annotated[str | None, typer.Option(help="State database to measure.")] = None,
    claims: Annotated[int, typer.Option(help="Claims to time.")] = 500,
    votes: Annotated[str, typer.Option(help="Vote counts to measure, comma-separated.")] = (
        "0,100,1000"
    ),
    rounds: Annotated[int, typer.Option(help="Passes over the eval questions.")] = 1,
) -> None:
    """Time retry claims and feedback ranking on a fresh index of the bundled corpus."""
    with tempfile.TemporaryDirectory(prefix="kb-bench-state-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'state.sqlite3'}"
        settings = Settings(
            data_dir=Path(tmp), corpus_dir=BUNDLED_CORPUS, llm="local", database_url=url
        )
        print(f"state database: {url.split('@')[-1]}")
        bench_claims(open_feedback_store(settings), claims)
        bench_ranking(settings, [int(v) for v in votes.split(",")], rounds)
        bench_replica_start(settings)


if __name__ == "__main__":
    typer.run(main)
