"""One deadline per request also covers Chroma: a frozen `chroma run` server (SIGSTOP) does
not hang answers; they come back by the deadline from keyword search, degraded, with the
reason."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.answer import KnowledgeBot
from tests.conftest import make_settings
from tests.live_server import free_port


@pytest.fixture(scope="module")
def chroma_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    assert chroma, "the chroma CLI is installed with chromadb"
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-frozen")
    proc = subprocess.Popen(
        [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "chroma run exited"
            assert time.monotonic() < give_up, "chroma run did not become ready"
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


def test_a_frozen_chroma_server_does_not_outlast_the_deadline(
    chroma_proc: tuple[str, int], tmp_path: Path
) -> None:
    url, pid = chroma_proc
    bot = KnowledgeBot(make_settings(tmp_path, chroma_url=url, deadline_local=1.5))
    bot.ensure_index()
    question = "What are the objectives of an IT strategy?"
    assert not bot.answer(question).degraded  # warm: index in memory
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(2.5)  # past the index's version-check interval: the next call asks Chroma
        answer = bot.answer(question)  # without the deadline this would wait for Chroma forever
        assert answer.degraded and "vector store" in (answer.degraded_reason or "")
        assert answer.citations and not answer.abstained  # keyword search still finds it
        verdict = bot.classify("rolling out multi-factor authentication for all staff")
        # the classifier's prototypes are in memory: it still answers, within the deadline
        assert verdict.classification is not None and verdict.classification.label == "it"
    finally:
        os.kill(pid, signal.SIGCONT)
