"""Drive kb's LLM path end to end against a real OpenAI-compatible server and print what
arrived. Run by hand, never in CI (a real model answers in seconds to minutes).

It starts `kb serve` on a free loopback port, pointed at the LLM server, then sends: asks,
a follow-up, a classification, an `/ask` SSE stream and an OpenAI-compatible
`/v1/chat/completions` stream, and prints for each the text, backend, degraded flag and
reason, citations, and timings (first streamed piece, total).

    python -m evals.llm_check --base-url http://127.0.0.1:PORT/v1 --model MODEL
    python -m evals.llm_check --kb-url http://127.0.0.1:8000   # a kb server already running
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
import typer

QUESTIONS = [
    "What is the difference between IT strategy and digital strategy?",
    "What does a technology plan contain?",
]
FOLLOW_UP = (
    [
        {"role": "user", "content": "What is digital transformation?"},
        {
            "role": "assistant",
            "content": "It is a business-driven change of how value is delivered.",
        },
    ],
    "And who owns it?",
)
INITIATIVE = "Replacing the employees' laptops that are out of warranty"
STREAM_QUESTION = "What are the objectives of an IT strategy?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def kb_server(base_url: str, model: str, api_key: str, deadline: float) -> Iterator[str]:
    """`kb serve` on loopback, configured for the LLM server; yields its URL."""
    port = _free_port()
    env = {
        **os.environ,
        "KB_LLM": "openai",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": api_key,
        "KB_OPENAI_MODEL": model,
        "KB_DEADLINE_LLM": str(deadline),
        "KB_LLM_TIMEOUT": str(deadline),
    }
    cmd = [sys.executable, "-m", "bot.doors.cli", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"kb serve exited with {proc.returncode}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def show(step: str, answer: dict[str, Any], seconds: float, first: float | None = None) -> None:
    """Print one result."""
    timing = f"{seconds:.1f} s" + (f", first piece after {first:.1f} s" if first else "")
    print(f"\n=== {step} ({timing})")
    print(
        f"backend={answer.get('backend')} degraded={answer.get('degraded')} "
        f"abstained={answer.get('abstained')} reason={answer.get('degraded_reason')!r}"
    )
    if answer.get("classification"):
        print(f"classification={answer['classification']}")
    print("answer:", (answer.get("answer") or "").strip()[:700])
    for c in answer.get("citations") or []:
        print(f"  [{c['n']}] {c['title']}: “{c['quote'][:110]}”")


def sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a Server-Sent Events response."""
    event, data = "message", []
    for line in response.iter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def run(url: str, steps: set[str]) -> None:
    """Send every step and print what arrived."""
    client = httpx.Client(base_url=url, timeout=None)
    if "ask" in steps:
        for question in QUESTIONS:
            started = time.monotonic()
            reply = client.post("/ask", json={"question": question}).json()
            show(f"ask: {question}", reply, time.monotonic() - started)
    if "follow-up" in steps:
        history, question = FOLLOW_UP
        started = time.monotonic()
        reply = client.post("/ask", json={"question": question, "history": history}).json()
        show(f"follow-up: {question}", reply, time.monotonic() - started)
    if "classify" in steps:
        started = time.monotonic()
        reply = client.post("/classify", json={"initiative": INITIATIVE}).json()
        reply.setdefault("answer", reply.get("rationale"))
        show(
            f"classify: {INITIATIVE}",
            {"classification": reply, **reply},
            time.monotonic() - started,
        )
    if "sse" in steps:
        started, first, pieces, final = time.monotonic(), None, [], {}
        body = {"question": STREAM_QUESTION, "stream": True}
        with client.stream("POST", "/ask", json=body) as response:
            for event, data in sse_events(response):
                if event == "delta":
                    first = first or time.monotonic() - started
                    pieces.append(json.loads(data)["text"])
                elif event == "answer":
                    final = json.loads(data)
                else:
                    print(f"  event {event}: {data[:200]}")
        print(
            f"\n--- /ask SSE: {len(pieces)} delta events; streamed text:\n{''.join(pieces)[:700]}"
        )
        show("/ask SSE final answer event", final, time.monotonic() - started, first)
    if "openai" in steps:
        started, first, pieces, finish = time.monotonic(), None, [], None
        body = {
            "model": "kb",
            "stream": True,
            "messages": [{"role": "user", "content": STREAM_QUESTION}],
        }
        extra: dict[str, Any] = {}
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            for _event, data in sse_events(response):
                if data == "[DONE]":
                    pieces.append("")
                    continue
                chunk = json.loads(data)
                extra = chunk.get("kb") or extra
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        first = first or time.monotonic() - started
                        pieces.append(text)
                    finish = choice.get("finish_reason") or finish
        print(
            f"\n--- /v1/chat/completions stream: {len(pieces)} chunks, finish_reason={finish!r}; "
            f"text:\n{''.join(pieces)[:900]}"
        )
        if extra:
            show("/v1/chat/completions kb extra", extra, time.monotonic() - started, first)
        else:
            print(f"({time.monotonic() - started:.1f} s, first piece after {first or 0:.1f} s)")


def main(
    base_url: Annotated[str, typer.Option(help="The LLM server's OpenAI base URL (…/v1).")] = "",
    model: Annotated[str, typer.Option(help="Model name (default: the server's first).")] = "",
    api_key: Annotated[str, typer.Option(help="Key for the LLM server.")] = "x",
    kb_url: Annotated[str, typer.Option(help="Use this running kb server instead.")] = "",
    deadline: Annotated[float, typer.Option(help="KB_DEADLINE_LLM for the kb server.")] = 240.0,
    steps: Annotated[str, typer.Option(help="Comma list: ask,follow-up,classify,sse,openai.")] = (
        "ask,follow-up,classify,sse,openai"
    ),
) -> None:
    """Check kb's LLM path against a real OpenAI-compatible server."""
    wanted = {s.strip() for s in steps.split(",") if s.strip()}
    if kb_url:
        run(kb_url.rstrip("/"), wanted)
        return
    if not base_url:
        raise typer.BadParameter("give --base-url (the LLM server) or --kb-url")
    if not model:
        models = httpx.get(f"{base_url.rstrip('/')}/models", timeout=10).json()["data"]
        model = models[0]["id"]
    print(f"LLM server {base_url}, model {model}")
    with kb_server(base_url, model, api_key, deadline) as url:
        run(url, wanted)


if __name__ == "__main__":  # pragma: no cover
    typer.run(main)
