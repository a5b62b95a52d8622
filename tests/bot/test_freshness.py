"""A running bot never answers from a stale lexical index after an ingest elsewhere."""

from __future__ import annotations

import time
from pathlib import Path

from bot.answer import KnowledgeBot
from bot.answer.retrieve import VERSION_CHECK_SECONDS
from bot.runtime.embeddings import make_embeddings
from bot.runtime.store import open_store
from ingest.index import ingest
from tests.conftest import make_settings


def test_new_document_is_found_after_another_process_ingests_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "IT Strategy\n\nIT strategy covers infrastructure, security and vendors.\n"
    )
    settings = make_settings(tmp_path / "data", corpus_dir=corpus)
    bot = KnowledgeBot(settings)
    bot.ensure_index()
    before = bot.answer("What does the zebra procurement framework require?")
    assert before.abstained

    (corpus / "b.txt").write_text(
        "Zebra Procurement Framework\n\nThe zebra procurement framework requires three quotes from approved vendors.\n"
    )
    writer = make_settings(
        tmp_path / "data", corpus_dir=corpus
    )  # e.g. `kb ingest` in another process
    ingest(None, writer, open_store(writer, make_embeddings(writer)))
    time.sleep(VERSION_CHECK_SECONDS + 0.2)

    after = bot.answer("What does the zebra procurement framework require?")
    assert not after.abstained
    assert "three quotes" in after.answer
    assert after.citations[0].source == "corpus/b.txt"
    assert {s["source"] for s in bot.sources()} == {"corpus/a.txt", "corpus/b.txt"}
