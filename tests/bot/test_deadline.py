"""One deadline per request also covers Chroma: a frozen `chroma run` server (SIGSTOP) does
not hang answers; they come back by the deadline from keyword search, degraded, with the
reason. A small collection searched in memory answers a question it has seen in full."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answer import KnowledgeBot
from tests.chroma_server import chroma_run
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def chroma_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with chroma_run(tmp_path_factory.mktemp("chroma-frozen")) as (url, proc):
        yield url, proc.pid


def test_a_frozen_chroma_server_does_not_outlast_the_deadline(
    chroma_proc: tuple[str, int], tmp_path: Path
) -> None:
    url, pid = chroma_proc
    settings = make_settings(tmp_path, chroma_url=url, deadline_local=1.5)
    KnowledgeBot(settings).ensure_index()
    # As over a large collection: every dense search is a query to the (frozen) server.
    bot = KnowledgeBot(settings.model_copy(update={"exact_search_chunks": 0}))
    small = KnowledgeBot(settings)  # 31 chunks: their vectors are in memory
    question = "What are the objectives of an IT strategy?"
    assert not bot.answer(question).degraded  # warm: the chunks it reads are cached
    assert not small.answer(question).degraded
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(2.5)  # past the index's version-check interval: the next call asks Chroma
        answer = bot.answer(question)  # without the deadline this would wait for Chroma forever
        assert answer.degraded and "vector store" in (answer.degraded_reason or "")
        assert answer.citations and not answer.abstained  # keyword search still finds it
        in_memory = small.answer(question)  # nothing it needs is on the server
        assert not in_memory.degraded and in_memory.citations
        verdict = bot.classify("rolling out multi-factor authentication for all staff")
        # the classifier's prototypes are in memory: it still answers, within the deadline
        assert verdict.classification is not None and verdict.classification.label == "it"
    finally:
        os.kill(pid, signal.SIGCONT)
