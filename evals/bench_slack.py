"""Benchmark the Slack door: event ack latency and time from event to posted answer.

The real kb FastAPI app with the Bolt app mounted runs under uvicorn on 127.0.0.1; the Slack
Web API is the test stand-in (tests/fakes/slack_api.py), so run from the repository root:

    python -m evals.bench_slack [--events 500] [--answers 30] [--data-dir DIR]

Ack latency is request in → 200 out for signed `app_mention` events, sent one after another
while the answers of earlier events run in the background (as they would in production).
Event → answer is measured one event at a time, local backend: until the "thinking…"
placeholder is posted, and until chat.update replaces it with the answer.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.doors.http import create_app
from bot.doors.slack_app import SLACK_EVENTS_PATH, mount_slack
from bot.runtime.settings import Settings

log = logging.getLogger("evals.bench_slack")
SECRET = "bench-signing-secret"
QUESTIONS = [
    "What is digital transformation?",
    "What is an IT strategy?",
    "What is the difference between IT strategy and digital strategy?",
    "Is moving payroll to a cloud HR suite an IT or a digital initiative?",
    "What does a technology plan cover?",
]
_ids = itertools.count(1)


def _fakes() -> Any:
    try:
        from tests.fakes import slack_api
    except ImportError:
        sys.exit("run from the repository root: tests/fakes/slack_api.py is the Slack stand-in")
    return slack_api


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    from tests.live_server import running  # run from the repository root, like the fakes

    with running(app) as base_url:
        yield f"{base_url}{SLACK_EVENTS_PATH}"


def _event(channel: str, question: str) -> dict[str, Any]:
    n = next(_ids)
    ts = f"{1_700_000_000 + n}.000100"
    return {
        "type": "event_callback",
        "team_id": "T1",
        "api_app_id": "AAPP",
        "event_id": f"EvBench{n:08d}",
        "event_time": int(time.time()),
        "event": {
            "type": "app_mention",
            "user": "U1",
            "text": f"<@UBOT> {question}",
            "ts": ts,
            "event_ts": ts,
            "channel": channel,
        },
    }


def _post(http: httpx.Client, url: str, body: dict[str, Any], signed_headers: Any) -> float:
    raw = json.dumps(body)
    started = time.perf_counter()
    response = http.post(url, content=raw, headers=signed_headers(SECRET, raw))
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        sys.exit(f"event rejected: HTTP {response.status_code} {response.text[:200]}")
    return elapsed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _wait(fake: Any, method: str, channel: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(c.params.get("channel") == channel for c in fake.calls_to(method)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            sys.exit(f"no {method} for {channel} within {timeout}s")
        with suppress(TimeoutError):
            fake.wait_for(method, len(fake.calls_to(method)) + 1, timeout=remaining)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="signed events for ack latency")
    parser.add_argument("--answers", type=int, default=30, help="events timed until answered")
    parser.add_argument("--data-dir", type=Path, help="kb data dir (default: a fresh index)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    slack_api = _fakes()

    with tempfile.TemporaryDirectory() as tmp, slack_api.FakeSlack() as fake:
        data_dir = args.data_dir or Path(tmp) / "kb"
        settings = Settings(data_dir=data_dir, llm="local").model_copy(
            update={
                "slack_bot_token": SecretStr("xoxb-bench"),
                "slack_signing_secret": SecretStr(SECRET),
                "slack_api_url": fake.base_url,
                "feedback_db": Path(tmp) / "feedback.sqlite3",
            }
        )
        bot = KnowledgeBot(settings)
        if bot.ensure_index():
            print(f"indexed the bundled corpus into {data_dir}")
        app = create_app(settings, bot)
        if not any(getattr(r, "path", None) == SLACK_EVENTS_PATH for r in app.routes):
            mount_slack(app, settings, bot)
        with _serve(app) as url, httpx.Client(timeout=30) as http:
            # warm-up: Bolt's auth.test, the embedder, the first answer
            _post(http, url, _event("CWARM", QUESTIONS[0]), slack_api.signed_headers)
            _wait(fake, "chat.update", "CWARM")

            to_placeholder, to_answer = [], []
            for i in range(args.answers):
                channel = f"CANS{i}"
                started = time.perf_counter()
                _post(
                    http,
                    url,
                    _event(channel, QUESTIONS[i % len(QUESTIONS)]),
                    slack_api.signed_headers,
                )
                _wait(fake, "chat.postMessage", channel)
                to_placeholder.append((time.perf_counter() - started) * 1000)
                _wait(fake, "chat.update", channel)
                to_answer.append((time.perf_counter() - started) * 1000)

            acks = [
                _post(
                    http,
                    url,
                    _event("CACK", QUESTIONS[i % len(QUESTIONS)]),
                    slack_api.signed_headers,
                )
                for i in range(args.events)
            ]
            # let the background answers drain before the server stops
            deadline = time.monotonic() + 120
            while (
                len([c for c in fake.calls_to("chat.update") if c.params.get("channel") == "CACK"])
                < args.events
            ):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)

    print(f"ack latency over {len(acks)} signed events (request in → 200 out):")
    print(
        f"  p50 {statistics.median(acks):.1f} ms   p99 {_pct(acks, 0.99):.1f} ms   "
        f"max {max(acks):.1f} ms   (goal p99 < 200 ms)"
    )
    if to_answer:
        print(f"event → posted answer, local backend, {len(to_answer)} events one at a time:")
        print(f'  "thinking…" placeholder: median {statistics.median(to_placeholder):.1f} ms')
        print(
            f"  answer (chat.update):     median {statistics.median(to_answer):.1f} ms   "
            f"p90 {_pct(to_answer, 0.9):.1f} ms"
        )


if __name__ == "__main__":
    main()
