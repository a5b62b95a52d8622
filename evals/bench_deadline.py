"""Probe the per-request deadline against a misbehaving LLM (run by hand from the repository
root; the loopback OpenAI stand-in of tests/fakes plays the LLM server).

Prints, for a slow LLM (each call hangs), the same with a follow-up, a 429 with
`Retry-After: 30`, and requests abandoned by their client after 1 s: the seconds per answer
(median, max), the LLM calls made, and how answers ended (degraded and why).

    python -m evals.bench_deadline [--n 3] [--llm-timeout 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections import Counter
from typing import Any

from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.runtime.schema import Turn
from bot.runtime.settings import Settings

QUESTION = "What are the objectives of an IT strategy?"
HISTORY = [
    Turn(role="user", content="What is IT strategy?"),
    Turn(role="assistant", content="A plan for the technology of an organization [1]."),
]


def _fake() -> Any:
    try:
        from tests.fakes.openai_server import FakeOpenAI
    except ImportError:
        sys.exit("run from the repository root: tests/fakes/openai_server.py is the LLM stand-in")
    return FakeOpenAI


def probe(name: str, bot: KnowledgeBot, fake: Any, behaviour: Any, n: int, **kw: Any) -> None:
    """Ask `n` times with every LLM call behaving as given, and print what it cost."""
    seconds, calls, reasons = [], 0, Counter()
    for _ in range(n):
        fake.reset()
        fake.enqueue(*[behaviour] * 12)
        cancelled = None
        if kw.get("drop_after"):
            cancelled = threading.Event()
            threading.Timer(kw["drop_after"], cancelled.set).start()
        started = time.monotonic()
        answer = bot.answer(QUESTION, kw.get("history"), cancelled=cancelled)
        seconds.append(time.monotonic() - started)
        time.sleep(0.3)  # calls still arriving after the answer would show here
        calls += len(fake.chat_requests)
        reasons[answer.degraded_reason or "not degraded"] += 1
    print(
        f"{name:<30} median {statistics.median(seconds):5.1f} s  max {max(seconds):5.1f} s  "
        f"LLM calls per answer {calls / n:.1f}"
    )
    for reason, count in reasons.items():
        print(f"    {count}x {reason}")


def main() -> None:
    """Run the probes."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3, help="answers per probe")
    parser.add_argument("--llm-timeout", type=float, default=3.0, help="KB_LLM_TIMEOUT")
    args = parser.parse_args()
    fake_class = _fake()
    from tests.fakes.openai_server import Error, Hang

    with fake_class() as fake:
        settings = Settings(
            llm="openai",
            openai_base_url=fake.base_url,
            openai_api_key=SecretStr("bench"),
            llm_timeout=args.llm_timeout,
        )
        bot = KnowledgeBot(settings)
        bot.ensure_index()
        print(
            f"deadline {settings.deadline_llm:.0f} s, KB_LLM_TIMEOUT {args.llm_timeout:.0f} s, "
            f"{settings.llm_max_retries} retries, {args.n} answers per probe"
        )
        for name, behaviour, kw in [
            ("slow LLM (every call hangs)", Hang(60.0), {}),
            ("slow LLM, follow-up", Hang(60.0), {"history": HISTORY}),
            ("429 with Retry-After: 30", Error(429, headers={"Retry-After": "30"}), {}),
            ("client gone after 1 s", Hang(60.0), {"drop_after": 1.0}),
        ]:
            probe(name, bot, fake, behaviour, args.n, **kw)


if __name__ == "__main__":  # pragma: no cover
    main()
