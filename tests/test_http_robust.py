"""Never down, never late: a frozen Chroma server, a client that goes away, an empty API key,
what a public /readyz shows, offline docs, and malformed requests, against real servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.doors.http import create_app
from bot.doors.http_middleware import kb_http_protocol
from bot.runtime.schema import Answer, Turn
from bot.runtime.settings import Settings
from tests.chroma_server import chroma_run
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.live_server import free_port, running

ROOT = Path(__file__).resolve().parents[1]
KEY = "robust-test-key-41d2"
QUESTION = {"question": "Who owns digital transformation?"}


# ---------------------------------------------------------------------------------- Chroma
@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real `chroma run` on loopback holding an index of the bundled corpus."""
    with chroma_run(tmp_path_factory.mktemp("cs")) as (url, proc):
        settings = make_settings(tmp_path_factory.mktemp("cs-local"), chroma_url=url)
        KnowledgeBot(settings).ensure_index()
        yield url, proc


def test_a_frozen_chroma_server_neither_hangs_readyz_nor_ask(
    chroma: tuple[str, subprocess.Popen], tmp_path: Path
) -> None:
    url, proc = chroma
    # As over a large collection, every dense search asks Chroma (31 chunks would be searched
    # in memory; tests/bot/test_deadline.py covers that). Chroma's own timeout is long here,
    # so only the door's bounds can answer in time...
    large = {"chroma_url": url, "exact_search_chunks": 0}
    slow_store = make_settings(tmp_path / "a", **large, chroma_timeout=60, deadline_local=2)
    # ...and here it is short, so the Chroma client's timeout is what fails the request.
    fast_store = make_settings(tmp_path / "b", **large, chroma_timeout=1, deadline_local=60)
    with running(create_app(slow_store)) as a, running(create_app(fast_store)) as b:
        for base in (a, b):
            assert httpx.post(f"{base}/ask", json=QUESTION, timeout=30).status_code == 200
            assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            # a client timeout far below Chroma's (60 s): /readyz must not wait on Chroma
            for _ in range(3):
                ready = httpx.get(f"{a}/readyz", timeout=10)
                assert ready.status_code == 503, ready.text
                assert ready.json()["ready"] is False
                assert ready.json()["error"]["code"] == "not_ready"
            # past its 2 s deadline the answer comes from keyword search, degraded, with the reason
            late = httpx.post(f"{a}/ask", json=QUESTION, timeout=20)
            assert late.status_code == 200, late.text
            assert late.json()["degraded"] is True
            assert "vector store" in late.json()["degraded_reason"]
            failed = httpx.post(f"{b}/ask", json=QUESTION, timeout=20)
            assert failed.status_code == 503, failed.text
            assert failed.json()["error"]["code"] == "unavailable"
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        # Chroma is back: so is kb, without a restart
        assert httpx.post(f"{a}/ask", json=QUESTION, timeout=30).status_code == 200
        assert httpx.get(f"{a}/readyz", timeout=30).status_code == 200


# ---------------------------------------------------------------------------------- cancellation
def test_a_request_whose_client_left_makes_no_further_llm_calls(
    indexed_settings: Settings,
) -> None:
    with FakeOpenAI() as llm:
        settings = indexed_settings.model_copy(
            update={"llm": "openai", "openai_base_url": llm.base_url, "llm_max_retries": 0}
        )
        # the follow-up is first rewritten by the LLM (slowly), then answered by it
        llm.enqueue(Reply("Who owns digital transformation?", delay=2.0), Reply("Owners [1]."))
        body = {
            "question": "And who owns it?",
            "history": [
                {"role": "user", "content": "What is digital transformation?"},
                {"role": "assistant", "content": "Digital transformation is ... [1]"},
            ],
        }
        with running(create_app(settings)) as base:
            httpx.get(f"{base}/readyz", timeout=30)
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{base}/ask", json=body, timeout=0.5)  # the client gives up
            time.sleep(4)  # the rewrite would answer at ~2 s; an uncancelled request answers next
            # at most the rewrite that was already under way when the client left; no answer call
            assert len(llm.chat_requests) <= 1, [r.json() for r in llm.chat_requests]


def test_a_hanging_llm_gets_the_local_answer_by_the_deadline(indexed_settings: Settings) -> None:
    with FakeOpenAI() as llm:
        settings = indexed_settings.model_copy(
            update={
                "llm": "openai",
                "openai_base_url": llm.base_url,
                "llm_max_retries": 0,
                "llm_timeout": 120.0,  # only the request deadline can end the wait
                "deadline_llm": 9.0,  # 6 s for the LLM path, then 3 s for the local answer
                "deadline_local": 3.0,
            }
        )
        llm.enqueue(Reply("too late [1].", delay=60.0))
        with running(create_app(settings)) as base:
            httpx.get(f"{base}/readyz", timeout=30)
            response = httpx.post(f"{base}/ask", json=QUESTION, timeout=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["degraded"] is True and answer["backend"] == "local"
        assert answer["citations"] and not answer["abstained"]


def test_the_pipeline_honours_deadline_and_cancellation(indexed_settings: Settings) -> None:
    with FakeOpenAI() as llm:
        settings = indexed_settings.model_copy(
            update={"llm": "openai", "openai_base_url": llm.base_url, "llm_max_retries": 0}
        )
        bot = KnowledgeBot(settings)
        history = [Turn(role="user", content="What is digital transformation?")]
        # past its deadline: the local answer, flagged degraded, and no LLM call at all
        late = bot.answer("And who owns it?", history, deadline=time.monotonic() - 1)
        assert late.degraded and late.backend == "local" and late.citations
        verdict = bot.classify("Moving email to the cloud", deadline=time.monotonic() - 1)
        assert verdict.degraded and verdict.classification is not None
        assert llm.chat_requests == []
        gone = threading.Event()
        gone.set()
        # the client has gone: whatever is returned is local and flagged, and the LLM is not asked
        dropped = bot.answer("Who owns digital transformation?", cancelled=gone)
        assert dropped.degraded and dropped.backend == "local"
        assert "cancelled" in (dropped.degraded_reason or "")
        streamed = list(bot.stream("Who owns digital transformation?", cancelled=gone))
        assert isinstance(streamed[-1], Answer) and streamed[-1].degraded
        assert llm.chat_requests == []


# ---------------------------------------------------------------------------------- config
def test_an_empty_api_key_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "OPENAI_", "SLACK_"))}
    env.update(KB_API_KEY="", KB_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    kb = Path(sys.executable).parent / "kb"
    done = subprocess.run(
        [str(kb), "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "KB_API_KEY is set but empty" in done.stderr, done.stderr
    assert not (tmp_path / "data").exists()  # refused before loading or ingesting anything
    with pytest.raises(ValueError, match="KB_API_KEY"):
        create_app(make_settings(tmp_path / "x", api_key=SecretStr("  ")))


def test_public_readyz_with_auth_shows_only_readiness_and_counts(
    indexed_settings: Settings, kb: KnowledgeBot, tmp_path: Path
) -> None:
    ready_app = create_app(indexed_settings.model_copy(update={"api_key": SecretStr(KEY)}), kb)
    empty = make_settings(tmp_path / "nothing-here", api_key=SecretStr(KEY))
    with running(ready_app) as up, running(create_app(empty)) as down:
        body = httpx.get(f"{up}/readyz", timeout=30).json()
        assert set(body) == {"ready", "documents", "chunks"} and body["ready"] is True
        response = httpx.get(f"{down}/readyz", timeout=30)
        assert response.status_code == 503
        assert set(response.json()) == {"ready", "documents", "chunks", "error"}
        assert "nothing-here" not in response.text and "kb ingest" not in response.text


# ---------------------------------------------------------------------------------- docs
def test_docs_and_redoc_load_only_files_served_by_kb(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        for page in ("/docs", "/redoc"):
            html = c.get(page)
            assert html.status_code == 200
            assert "http://" not in html.text and "https://" not in html.text  # no CDN
            assets = [
                part.split('"', 1)[0]
                for part in html.text.replace("src=", "href=").split('href="')[1:]
            ]
            assert any(a.endswith(".js") for a in assets), assets
            for asset in assets:
                fetched = c.get(asset)
                assert fetched.status_code == 200 and len(fetched.content) > 100, asset


@pytest.fixture(scope="module")
def url(indexed_settings: Settings, kb: KnowledgeBot) -> Iterator[str]:
    """The app served with kb's own uvicorn protocol, as `kb serve` runs it."""
    with running(create_app(indexed_settings, kb), http=kb_http_protocol()) as base:
        yield base


# ---------------------------------------------------------------------------------- malformed
def test_json_nested_1000_deep_is_named_as_such(url: str) -> None:
    body = b"[" * 1000 + b"]" * 1000
    response = httpx.post(
        f"{url}/ask", content=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json" and "nested too deeply" in error["message"]


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1, 2"])
def test_a_bad_content_length_gets_the_json_error_shape(url: str, length: bytes) -> None:
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /ask HTTP/1.1\r\nHost: kb\r\nContent-Length: " + length + b"\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    error = httpx.Response(400, content=body).json()["error"]
    assert error["code"] == "bad_request" and error["request_id"]
