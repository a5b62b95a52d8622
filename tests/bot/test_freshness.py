"""A running server keeps answering through another process's ingest, then sees its content."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bot.answer import KnowledgeBot
from bot.answer.watch import IndexWatcher
from bot.doors.http import create_app
from bot.runtime.settings import PACKAGE_ROOT, Settings
from tests.conftest import make_settings
from tests.live_server import running

ZEBRA_Q = "What does the zebra procurement framework require?"


def write_corpus(corpus: Path) -> None:
    """Two small documents."""
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "a.txt").write_text(
        "IT Strategy\n\nIT strategy covers infrastructure, security and vendors. "
        "The IT department maintains the servers and the network for every office.\n"
    )
    (corpus / "c.txt").write_text(
        "Digital Marketing\n\nDigital marketing reaches customers through search, social media "
        "and email campaigns that are measured every week.\n"
    )


def ingest_in_another_process(settings: Settings) -> subprocess.CompletedProcess[str]:
    """`kb ingest` as a separate OS process over the same data dir (and Chroma)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "OPENAI_"))}
    env.update(
        KB_DATA_DIR=str(settings.data_dir),
        KB_CORPUS_DIR=str(settings.corpus_dir),
        KB_COLLECTION=settings.collection,
        KB_LLM="local",
        PYTHONPATH=str(PACKAGE_ROOT),
    )
    if settings.chroma_url:
        env["KB_CHROMA_URL"] = settings.chroma_url
    return subprocess.run(
        [sys.executable, "-m", "bot.doors.cli", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def serve_through_an_ingest(settings: Settings) -> None:
    """Start a real HTTP server, change the corpus, ingest it from another process while
    questions keep coming, and check that every answer succeeded and the new content is seen."""
    corpus = settings.corpus_dir
    KnowledgeBot(settings).ensure_index()
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        before = client.post("/ask", json={"question": ZEBRA_Q})
        assert before.status_code == 200 and before.json()["abstained"]

        statuses: list[int] = []
        stop = threading.Event()

        def keep_asking() -> None:
            with httpx.Client(base_url=url, timeout=60) as asker:
                while not stop.is_set():
                    for path, body in (
                        ("/ask", {"question": "What does IT strategy cover?"}),
                        ("/classify", {"initiative": "replacing the office network switches"}),
                    ):
                        statuses.append(asker.post(path, json=body).status_code)
                    statuses.append(asker.get("/sources").status_code)

        (corpus / "b.txt").write_text(
            "Zebra Procurement Framework\n\nThe zebra procurement framework requires three "
            "quotes from approved vendors before any purchase order is signed.\n"
        )
        (corpus / "c.txt").unlink()
        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            done = ingest_in_another_process(settings)
            assert done.returncode == 0, done.stderr
            deadline = time.monotonic() + 30
            wanted = {"corpus/a.txt", "corpus/b.txt"}  # the deleted document is gone
            while True:
                after = client.post("/ask", json={"question": ZEBRA_Q})
                assert after.status_code == 200
                listed = client.get("/sources").json()["sources"]
                sources = {s["source"] for s in listed}
                if (not after.json()["abstained"] and sources == wanted) or (
                    time.monotonic() > deadline
                ):
                    break
                time.sleep(0.3)
        finally:
            stop.set()
            asker.join(timeout=120)
        answer = after.json()
        assert not answer["abstained"]
        assert "three quotes" in answer["answer"]
        assert answer["citations"][0]["source"] == "corpus/b.txt"
        assert sources == wanted
        assert statuses and set(statuses) == {200}, statuses


def test_server_answers_through_another_process_ingest_embedded(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus")
    serve_through_an_ingest(make_settings(tmp_path / "data", corpus_dir=tmp_path / "corpus"))


def test_an_ingest_that_changes_nothing_changes_nothing_a_server_sees(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus")
    settings = make_settings(tmp_path / "data", corpus_dir=tmp_path / "corpus")
    bot = KnowledgeBot(settings)
    bot.ensure_index()
    version = (bot.store.collection().metadata or {}).get("index_version")  # type: ignore[union-attr]
    done = ingest_in_another_process(settings)
    assert done.returncode == 0, done.stderr
    assert (bot.store.collection().metadata or {}).get("index_version") == version  # type: ignore[union-attr]


def test_a_classifier_built_from_before_an_ingest_is_not_kept(tmp_path: Path) -> None:
    """The first `kb ask` ingests while the watcher thread warms up: a classifier that thread
    built from the half-written index must not replace the one built after the ingest."""
    write_corpus(tmp_path / "corpus")
    settings = make_settings(tmp_path / "data", corpus_dir=tmp_path / "corpus")
    bot = KnowledgeBot(settings)
    bot.ensure_index()
    first_started, release = threading.Event(), threading.Event()
    built: list[object] = []

    def build(index: object) -> object:
        made = object()
        if not first_started.is_set():  # the warm-up's build, still reading the old index
            first_started.set()
            release.wait(30)
        built.append(made)
        return made

    watcher = IndexWatcher(settings, bot.store, bot.index().corpus, build)  # type: ignore[arg-type]
    warming = threading.Thread(target=watcher.classifier)
    warming.start()
    assert first_started.wait(30)
    watcher.changed()  # an ingest picked up meanwhile: the swap builds a fresh classifier
    release.set()
    warming.join(30)
    assert len(built) == 2
    assert watcher.classifier() is built[0]  # the swap's (it finished first), not the stale one
