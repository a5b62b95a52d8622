"""Benchmark the Slack door: event ack latency and time from event to posted answer.

The real kb FastAPI app with the Bolt app mounted runs under uvicorn on 127.0.0.1; the Slack
Web API is the test stand-in (tests/fakes/slack_api.py), so run from the repository root:

    python -m evals.bench_slack [--events 500] [--answers 30] [--streamed 5] [--data-dir DIR]

Ack latency is request in → 200 out for signed `app_mention` events, sent one after another
while the answers of earlier events run in the background (as they would in production).
Event → answer is measured one event at a time, local backend: until the "thinking…"
placeholder is posted, and until chat.update replaces it with the answer.
LLM answers (FakeOpenAI, `--streamed N`): streamed (chat.startStream/appendStream/stopStream)
versus a workspace without streaming (placeholder, then chat.update), until the first answer
text is visible and until the answer is complete; the recorded calls of one streamed answer
are printed.
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
    parser.add_argument(
        "--streamed", type=int, default=5, help="LLM answers timed streamed vs placeholder"
    )
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
                "slack_rate_limit": 0,  # one bench user sends hundreds of events
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

        if args.streamed:
            _bench_streaming(slack_api, fake, settings, args.streamed)

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


STREAM_REPLY = " ".join(
    ["Digital transformation changes how the business operates and competes [1]."] * 12
)


def _first(fake: Any, method: str, channel: str) -> Any:
    _wait(fake, method, channel)
    return next(c for c in fake.calls_to(method) if c.params.get("channel") == channel)


def _show_calls(fake: Any, channel: str, started: float) -> None:
    """The stand-in's recorded calls for one streamed answer: time, method, key arguments."""
    print("recorded Slack calls for one streamed answer (t = ms after the event was sent):")
    for call in fake.calls:
        params = call.params
        if params.get("channel") != channel:
            continue
        text = params.get("markdown_text") or "".join(
            c.get("text", "") for c in params.get("chunks") or [] if isinstance(c, dict)
        )
        keys = [
            k for k in ("thread_ts", "recipient_user_id", "recipient_team_id", "ts") if k in params
        ]
        args = " ".join(f"{k}={params[k]}" for k in keys)
        blocks = [b.get("type") for b in params.get("blocks") or []]
        print(
            f"  t={(call.at - started) * 1000:6.0f}  {call.method:<18} {args}"
            + (f" text={len(text)} chars" if text else "")
            + (f" blocks={blocks}" if blocks else "")
        )


def _bench_streaming(slack_api: Any, fake: Any, base: Settings, n: int) -> None:
    """LLM answers (FakeOpenAI writing ~4 s per answer): streamed vs placeholder + update."""
    from tests.fakes.openai_server import FakeOpenAI, Reply

    with FakeOpenAI() as llm:
        settings = base.model_copy(
            update={
                "llm": "openai",
                "openai_base_url": llm.base_url,
                "openai_api_key": SecretStr("sk-bench"),
            }
        )
        app = create_app(settings, KnowledgeBot(settings))
        first_text: dict[str, list[float]] = {"streamed": [], "placeholder": []}
        done: dict[str, list[float]] = {"streamed": [], "placeholder": []}
        appends: list[int] = []
        with _serve(app) as url, httpx.Client(timeout=30) as http:
            for i in range(2 * n):
                mode = "streamed" if i % 2 == 0 else "placeholder"
                if mode == "placeholder":
                    fake.fail_next("chat.startStream", "unknown_method")
                # the same writing time either way: word by word, or all at the end
                words = len(STREAM_REPLY.split())
                llm.enqueue(
                    Reply(STREAM_REPLY, chunk_delay=0.04)
                    if mode == "streamed"
                    else Reply(STREAM_REPLY, delay=0.04 * words)
                )
                channel = f"CSTREAM{i}"
                started = time.monotonic()
                _post(http, url, _event(channel, QUESTIONS[0]), slack_api.signed_headers)
                if mode == "streamed":
                    visible = _first(fake, "chat.appendStream", channel).at
                    finished = _first(fake, "chat.stopStream", channel).at
                    appends.append(
                        sum(
                            1
                            for c in fake.calls_to("chat.appendStream")
                            if c.params.get("channel") == channel
                        )
                    )
                else:
                    visible = finished = _first(fake, "chat.update", channel).at
                if i == 2 * n - 2:  # the last streamed one: warm, like production
                    _show_calls(fake, channel, started)
                first_text[mode].append((visible - started) * 1000)
                done[mode].append((finished - started) * 1000)
    print(f"LLM answers in a thread ({n} each, the LLM writing for ~4 s):")
    for mode in ("streamed", "placeholder"):
        print(
            f"  {mode:<11}  first answer text: median {statistics.median(first_text[mode]):.0f} ms"
            f"   complete: median {statistics.median(done[mode]):.0f} ms"
        )
    ratio = statistics.median(first_text["placeholder"]) / statistics.median(first_text["streamed"])
    print(
        f"  first text {ratio:.1f}x sooner streamed; appends per answer: median "
        f"{statistics.median(appends):.0f}"
    )


if __name__ == "__main__":
    main()
