"""Stateless mode: the same ingest and answers against a real `chroma run` server on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.answer import KnowledgeBot
from bot.runtime.settings import Settings
from tests.conftest import make_settings
from tests.live_server import free_port


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    assert chroma, "the chroma CLI is installed with chromadb"
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "chroma run exited"
            assert time.monotonic() < deadline, "chroma run did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_ingest_and_answer_through_a_chroma_server(chroma_server: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path / "local", chroma_url=chroma_server)
    bot = KnowledgeBot(settings)
    assert bot.ensure_index() is True
    assert not (tmp_path / "local" / "chroma").exists()  # nothing stored locally but the lock
    answer = bot.answer("Who owns digital transformation?")
    assert not answer.abstained and answer.citations
    # A second, independent client sees the same index and re-ingest embeds nothing.
    from bot.runtime.embeddings import make_embeddings
    from bot.runtime.store import open_store
    from ingest.index import ingest

    second = make_settings(tmp_path / "other", chroma_url=chroma_server)
    report = ingest(None, second, open_store(second, make_embeddings(second)))
    assert report.unchanged == 5 and report.embedded == 0
    assert KnowledgeBot(second).ready()["chunks"] == bot.ready()["chunks"] > 0
