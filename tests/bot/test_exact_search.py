"""A small collection's dense search runs in memory and finds exactly what Chroma's index finds;
a larger one (or after an ingest, until the new vectors are read) goes to Chroma."""

from __future__ import annotations

from pathlib import Path

from bot.answer import KnowledgeBot
from bot.answer.retrieve import nearest_chunks
from ingest.index import ingest
from tests.conftest import bot_over, make_settings

QUESTIONS = (
    "What is the difference between IT strategy and digital strategy?",
    "Which channels does digital marketing use?",
    "How often should a technology plan be updated?",
)
HIVES = {"bees.md": "# Beekeeping\n\nInspect every hive weekly in spring for queen cells.\n"}


def test_a_small_collection_is_searched_in_memory_with_chromas_results(kb: KnowledgeBot) -> None:
    corpus = kb.index().corpus
    coll, count = corpus.handle()
    assert corpus.exact.ready_for(coll), "31 chunks are under the default limit"
    vectors = kb.embed(list(QUESTIONS))
    in_memory = nearest_chunks(corpus, vectors, 10)
    chroma = coll.query(query_embeddings=vectors.tolist(), n_results=10, include=["distances"])
    for found, ids, distances in zip(in_memory, chroma["ids"], chroma["distances"], strict=True):
        assert list(found) == ids
        assert all(abs(found[c] - (1 - d)) < 1e-4 for c, d in zip(ids, distances, strict=True))
    assert len(nearest_chunks(corpus, vectors[:1], count + 5)[0]) == count


def test_a_collection_above_the_limit_is_searched_in_chromas_index(tmp_path: Path) -> None:
    bot_over(tmp_path, HIVES)  # builds the index
    bot = KnowledgeBot(make_settings(tmp_path / "data", exact_search_chunks=0))
    bot.load()
    corpus = bot.index().corpus
    assert not corpus.exact.ready_for(corpus.handle()[0])
    found = nearest_chunks(corpus, bot.embed(["How often are hives inspected?"]), 3)[0]
    assert found and max(found.values()) > 0.3


def test_after_an_ingest_the_new_chunk_is_found_by_dense_search(tmp_path: Path) -> None:
    bot = bot_over(tmp_path, HIVES)
    corpus = bot.index().corpus
    old_coll = corpus.handle()[0]
    assert corpus.exact.ready_for(old_coll)
    question = "What does the zebra procurement framework require?"
    (bot.settings.corpus_dir / "zebra.md").write_text(
        "# Procurement\n\nThe zebra procurement framework requires three quotes for every "
        "purchase above ten thousand euros.\n",
        encoding="utf-8",
    )
    ingest(None, bot.settings, bot.store)
    bot._watcher.changed()  # what the running watcher does when the version moves
    coll = corpus.handle()[0]
    assert corpus.exact.ready_for(coll) and not corpus.exact.ready_for(old_coll)
    best = max((found := nearest_chunks(corpus, bot.embed([question]), 2)[0]), key=found.get)
    assert corpus.chunks([best])[best].source.endswith("zebra.md")
