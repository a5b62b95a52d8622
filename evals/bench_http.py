"""HTTP load benchmark for `kb serve` in local mode (run by hand, not in CI).

Starts the API (create_app + uvicorn, exactly what `kb serve` runs) as a subprocess over an
index, then drives `POST /ask` with a bounded, closed-loop async load generator (httpx on
loopback) with a rotating set of questions from `evals/datasets/`. Reports throughput and
p50/p95/p99 latency at each concurrency (median over rounds), and the server's resident
memory (VmRSS) after N total requests.

    python -m evals.bench_http                                  # full run
    python -m evals.bench_http --requests 200 --rounds 1 --rss-checkpoints 500,1000   # short
    python -m evals.bench_http --data-dir .kb                   # reuse an existing index

Goal (issue 4): >= 100 req/s at concurrency 8 with p99 < 250 ms and 0 errors; RSS after
10,000 requests within 10% of RSS after 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger("kb.bench_http")

DATASETS = Path(__file__).resolve().parent / "datasets"
QUESTION_FILES = ("knowledge.jsonl", "classify.jsonl", "abstain.jsonl")


@dataclass
class Run:
    """One load run at a fixed concurrency."""

    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        """Answered requests per second (errors excluded)."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in ms (nearest rank)."""
        ordered = sorted(self.latencies_ms)
        return (
            ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]
            if ordered
            else 0.0
        )


def load_questions() -> list[str]:
    """Single-turn questions from the evaluation datasets, interleaved by kind."""
    pools: list[list[str]] = []
    for name in QUESTION_FILES:
        path = DATASETS / name
        if path.exists():
            rows = [
                json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()
            ]
            pools.append(
                [r["question"] for r in rows if r.get("question") and not r.get("history")]
            )
    pools = [p for p in pools if p]
    mixed = [p[i] for i in range(max(map(len, pools), default=0)) for p in pools if i < len(p)]
    return mixed or ["What is digital transformation?", "What is IT strategy?"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class StubBot:
    """A bot that answers instantly with a canned Answer: isolates the HTTP layer's cost."""

    def __init__(self) -> None:
        from bot.runtime.schema import Answer, Citation

        quote = "Digital transformation changes how the business operates and competes."
        self._answer = Answer(
            answer=f"{quote} [1]",
            citations=[
                Citation(n=1, source="corpus/stub.txt", title="Stub", quote=quote, score=0.9)
            ],
        )

    def load(self) -> None:
        """Nothing to load."""

    def ready(self) -> dict[str, object]:
        """Always ready."""
        return {
            "ready": True,
            "reason": None,
            "documents": 1,
            "chunks": 1,
            "embedding_model": "stub",
        }

    def answer(self, question: str, history: object = None, **_: object) -> object:
        """The canned answer."""
        return self._answer.model_copy()


def serve_child(port: int, stub: bool) -> None:
    """The server process: exactly `kb serve` (or the same app over StubBot)."""
    from bot.doors.http import serve
    from bot.runtime.settings import Settings

    serve(Settings(), "127.0.0.1", port, log_level="info", bot=StubBot() if stub else None)  # type: ignore[arg-type]


def start_server(data_dir: Path, port: int, log_path: Path, stub: bool) -> subprocess.Popen[bytes]:
    """`kb serve`-equivalent in a subprocess (local backend, ingest if the index is empty)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "KB_LLM", "KB_API_KEY"))
    }
    env.update(KB_DATA_DIR=str(data_dir), KB_LLM="local")
    command = [sys.executable, "-m", "evals.bench_http", "--serve-child", str(port)] + (
        ["--stub"] if stub else []
    )
    with log_path.open("wb") as sink:
        return subprocess.Popen(command, env=env, stdout=sink, stderr=sink)


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 300.0
) -> dict[str, object]:
    """Poll /readyz until 200 (the first start may ingest the corpus)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                return response.json()  # type: ignore[no-any-return]
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server not ready")


class Meter:
    """Counts requests served and reads the server's VmRSS as each checkpoint is crossed."""

    def __init__(self, pid: int, checkpoints: list[int]) -> None:
        self.pid = pid
        self.pending = sorted(checkpoints)
        self.served = 0
        self.rss: list[tuple[int, int]] = []

    def count(self) -> None:
        """One more request answered."""
        self.served += 1
        while self.pending and self.served >= self.pending[0]:
            self.rss.append((self.pending.pop(0), rss_kib(self.pid)))


async def drive(
    url: str, questions: list[str], meter: Meter, requests: int, concurrency: int
) -> Run:
    """Closed loop: `concurrency` workers send `requests` POST /ask in total."""
    offset = meter.served
    latencies: list[float] = []
    errors = 0
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < requests:
                i = next_index
                next_index += 1
                question = questions[(offset + i) % len(questions)]
                started = time.perf_counter()
                try:
                    response = await client.post("/ask", json={"question": question})
                    ok = response.status_code == 200 and "answer" in response.json()
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok
                meter.count()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Run(concurrency, requests, seconds, latencies, errors)


def median_row(runs: list[Run]) -> tuple[float, float, float, float, int]:
    """(req/s, p50, p95, p99, errors) medians over rounds (errors summed)."""
    med = statistics.median
    return (
        med(r.throughput for r in runs),
        med(r.pct(50) for r in runs),
        med(r.pct(95) for r in runs),
        med(r.pct(99) for r in runs),
        sum(r.errors for r in runs),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when the goals are met, 1 otherwise."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per concurrency level and round"
    )
    parser.add_argument(
        "--concurrency", default="1,8,32", help="comma-separated concurrency levels"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per level (the table shows medians)"
    )
    parser.add_argument(
        "--rss-checkpoints",
        default="1000,10000",
        help="total requests served at which to read the server's VmRSS",
    )
    parser.add_argument("--data-dir", type=Path, help="index directory (default: a fresh temp dir)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up requests (not measured)")
    parser.add_argument(
        "--stub",
        action="store_true",
        help="serve a canned answer instead of the pipeline (HTTP-layer cost only)",
    )
    parser.add_argument("--serve-child", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child:
        serve_child(args.serve_child, args.stub)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    checkpoints = sorted(int(c) for c in args.rss_checkpoints.split(",") if c.strip())
    questions = load_questions()
    tmp = tempfile.TemporaryDirectory(prefix="kb-bench-")
    data_dir = args.data_dir or Path(tmp.name) / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_log = Path(tmp.name) / "server.log"
    proc = start_server(data_dir, port, server_log, args.stub)
    meter = Meter(proc.pid, checkpoints)
    try:
        ready = wait_ready(url, proc)
        log.info(
            "server pid %d ready: %s documents, %s chunks, %s",
            proc.pid,
            ready.get("documents"),
            ready.get("chunks"),
            ready.get("embedding_model"),
        )
        log.info(
            "%d rotating questions; RSS at start %.1f MiB", len(questions), rss_kib(proc.pid) / 1024
        )
        asyncio.run(drive(url, questions, meter, args.warmup, 4))

        table: list[tuple[int, tuple[float, float, float, float, int]]] = []
        for level in levels:
            runs = []
            for _ in range(args.rounds):
                runs.append(asyncio.run(drive(url, questions, meter, args.requests, level)))
            table.append((level, median_row(runs)))
        if meter.pending:  # keep serving at c=8 until the last RSS checkpoint
            asyncio.run(drive(url, questions, meter, meter.pending[-1] - meter.served, 8))
        rss = meter.rss
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        access_lines = sum(
            1 for line in server_log.read_text(errors="replace").splitlines() if " rid=" in line
        )
        tmp.cleanup()

    backend = "stub bot (HTTP layer only)" if args.stub else "local backend"
    out = [
        f"\nPOST /ask, {backend}, loopback; "
        f"medians of {args.rounds} round(s) x {args.requests} requests",
        f"{'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}",
    ]
    out += [
        f"{c:>5} {tp:>9.1f} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} {err:>7}"
        for c, (tp, p50, p95, p99, err) in table
    ]
    out.append(f"\n{'requests served':>16} {'VmRSS MiB':>10}")
    out += [f"{n:>16,} {kib / 1024:>10.1f}" for n, kib in rss]
    goals_ok = True
    at8 = dict(table).get(8)
    if at8:
        ok = at8[0] >= 100 and at8[3] < 250 and at8[4] == 0
        goals_ok &= ok
        out.append(f"\ngoal c=8: >=100 req/s, p99 < 250 ms, 0 errors: {'met' if ok else 'NOT met'}")
    if len(rss) >= 2:
        growth = (rss[-1][1] - rss[0][1]) / rss[0][1]
        ok = abs(growth) <= 0.10
        goals_ok &= ok
        out.append(
            f"goal RSS growth {rss[0][0]:,} -> {rss[-1][0]:,} requests within 10%: {growth:+.1%} "
            f"({'met' if ok else 'NOT met'})"
        )
    out.append(f"access-log lines written by the server: {access_lines:,} (sent: {meter.served:,})")
    log.info("\n".join(out))
    return 0 if goals_ok else 1


if __name__ == "__main__":
    sys.exit(main())
