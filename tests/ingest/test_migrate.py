"""An index built by an earlier kb (sentence units in a second Chroma collection) is moved to
the sentence store by the next ingest, embedding nothing, and answers as before."""

from __future__ import annotations

import numpy as np

from bot.answer.pipeline import KnowledgeBot
from bot.runtime.embeddings import make_embeddings
from bot.runtime.sentences import SentenceStore
from bot.runtime.settings import Settings
from bot.runtime.store import KbEmbeddingFunction, open_store
from ingest.index import ingest


def _as_legacy_index(settings: Settings) -> dict[str, list[tuple[str, str, int]]]:
    """Rewrite a fresh index the way earlier versions stored it; returns the units moved out."""
    store = open_store(settings, make_embeddings(settings))
    sentences = SentenceStore(settings)
    stored = sentences.get(sorted(sentences.chunk_ids()))
    legacy = store.client.create_collection(
        store.legacy_units_name,
        embedding_function=KbEmbeddingFunction(store.embeddings),  # type: ignore[arg-type]
        metadata={"hnsw:space": "cosine"},
    )
    rows = [(cid, u) for cid, found in stored.items() for u in found]
    legacy.add(
        ids=[f"{cid}:{u.position}" for cid, u in rows],
        documents=[u.text for _, u in rows],
        embeddings=np.asarray([u.vector for _, u in rows]),  # type: ignore[arg-type]
        metadatas=[
            {"chunk_id": cid, "source": "corpus/a.txt", "position": u.position, "kind": u.kind}
            for cid, u in rows
        ],
    )
    sentences.clear()
    return {cid: [(u.text, u.kind, u.position) for u in found] for cid, found in stored.items()}


def test_next_ingest_moves_legacy_units_without_embedding(settings: Settings) -> None:
    store = open_store(settings, make_embeddings(settings))
    ingest(None, settings, store)
    before = _as_legacy_index(settings)
    assert SentenceStore(settings).size() == 0

    report = ingest(None, settings, store)

    assert report.embedded == 0 and report.unchanged == 2
    assert store.legacy_units() is None
    after = SentenceStore(settings).get(sorted(before))
    assert {cid: [(u.text, u.kind, u.position) for u in f] for cid, f in after.items()} == before


def test_bot_moves_a_legacy_index_on_first_use_and_quotes_sentences(settings: Settings) -> None:
    ingest(None, settings, open_store(settings, make_embeddings(settings)))
    _as_legacy_index(settings)
    bot = KnowledgeBot(settings)

    assert bot.ensure_index() is True
    assert bot.ensure_index() is False
    answer = bot.answer("When are budgets planned?")
    assert not answer.abstained
    assert "planned yearly by the finance team" in answer.answer
