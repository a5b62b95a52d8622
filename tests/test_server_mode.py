"""Stateless mode: the same ingest and answers against a real `chroma run` server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answer import KnowledgeBot
from bot.runtime.settings import Settings
from tests.chroma_server import chroma_run
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma_run(tmp_path_factory.mktemp("chroma-server")) as (url, _):
        yield url


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
