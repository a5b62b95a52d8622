"""Retrieval at scale: the lexical index follows each ingest incrementally, every full read is
paged, and a lexical index that disagrees with Chroma is repaired by a running bot."""

from __future__ import annotations

import time
from pathlib import Path

from bot.answer import KnowledgeBot
from bot.doors.cli_index import index_status
from bot.runtime.embeddings import make_embeddings
from bot.runtime.lexical import LexicalIndex
from bot.runtime.settings import Settings
from bot.runtime.store import open_store, paged_get
from ingest.index import ingest
from tests.conftest import make_settings


def _ingest(settings: Settings) -> None:
    report = ingest(None, settings, open_store(settings, make_embeddings(settings)))
    assert report.ok


def _sources_found(lexical: LexicalIndex, query: str) -> set[str]:
    """The documents whose chunks lexical search returns for `query`."""
    ids = [cid for cid, _ in lexical.search(query, 20)]
    known = {cid: source for source, _, cid in lexical.sources()}  # one chunk per document here
    assert set(ids) <= set(known)
    return {known[cid] for cid in ids}


def test_lexical_index_follows_add_change_and_delete(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Kiwi Policy\n\nThe kiwi policy covers laptop encryption.\n")
    (corpus / "b.txt").write_text("Mango Guide\n\nThe mango guide explains vendor scoring.\n")
    settings = make_settings(tmp_path / "data", corpus_dir=corpus)
    _ingest(settings)
    lexical = LexicalIndex(settings)
    assert _sources_found(lexical, "kiwi encryption") == {"corpus/a.txt"}
    assert _sources_found(lexical, "mango scoring") == {"corpus/b.txt"}

    # add a document
    (corpus / "c.txt").write_text("Papaya Rules\n\nPapaya rules govern cloud budgets.\n")
    _ingest(settings)
    assert _sources_found(lexical, "papaya budgets") == {"corpus/c.txt"}
    # change one: its old words are gone, its new words are found, the others untouched
    (corpus / "a.txt").write_text("Kiwi Policy\n\nThe kiwi policy now covers phone backups.\n")
    _ingest(settings)
    assert _sources_found(lexical, "encryption") == set()
    assert _sources_found(lexical, "phone backups") == {"corpus/a.txt"}
    assert _sources_found(lexical, "mango scoring") == {"corpus/b.txt"}
    # delete one
    (corpus / "b.txt").unlink()
    _ingest(settings)
    assert _sources_found(lexical, "mango scoring") == set()
    coll = open_store(settings, make_embeddings(settings)).collection()
    assert coll is not None and lexical.size() == coll.count()
    assert lexical.document_frequency(["kiwi", "mango"]) == {"kiwi": 1, "mango": 0}


TEAMS = [
    "alder",
    "birch",
    "cedar",
    "dogwood",
    "elm",
    "fir",
    "ginkgo",
    "hazel",
    "iris",
    "juniper",
    "kapok",
    "larch",
]


def _many_chunk_corpus(corpus: Path, documents: int) -> None:
    corpus.mkdir()
    for i, team in enumerate(TEAMS[:documents]):
        (corpus / f"doc{i:02d}.txt").write_text(
            f"Topic {team.title()}\n\nThis document describes the quarterly plan of the {team} "
            f"team. The {team} team reviews its vendor contracts every {i + 2} weeks.\n"
        )


def test_every_full_read_is_paged(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _many_chunk_corpus(corpus, 12)
    # a page of 5 records stands for Chroma's ~32k-variable limit: every read must page
    settings = make_settings(tmp_path / "data", corpus_dir=corpus, read_page_size=5)
    _ingest(settings)
    coll = open_store(settings, make_embeddings(settings)).collection()
    assert coll is not None
    got = paged_get(coll, include=["metadatas"], page=5)
    assert len(got["ids"]) == len(set(got["ids"])) == coll.count() >= 12
    assert len(paged_get(coll, ids=got["ids"], include=["documents"], page=5)["documents"]) == (
        coll.count()
    )
    status = index_status(settings)
    assert status["documents"] == 12 and status["chunks"] == coll.count()
    assert len(KnowledgeBot(settings).sources()) == 12
    _ingest(settings)  # a re-ingest reads what exists in pages too, and embeds nothing new


def test_a_running_bot_repairs_a_lexical_index_that_disagrees_with_chroma(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    _many_chunk_corpus(corpus, 6)
    settings = make_settings(tmp_path / "data", corpus_dir=corpus, read_page_size=4)
    _ingest(settings)
    lexical = LexicalIndex(settings)
    lexical.clear()  # e.g. an index built before the lexical index existed
    assert lexical.search("quarterly plan", 5) == []

    bot = KnowledgeBot(settings)
    bot.load()
    deadline = time.monotonic() + 30
    while lexical.size() < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    coll = bot.store.collection()
    assert coll is not None and lexical.size() == coll.count()
    # A fresh reader: one that searched before remembers the terms' counts for STATS_SECONDS.
    assert len(LexicalIndex(settings).search("quarterly plan", 10)) == 6
    answer = bot.answer("How often does the dogwood team review its vendor contracts?")
    assert not answer.abstained and answer.citations[0].source == "corpus/doc03.txt"
    assert "every 5 weeks" in answer.answer


def test_lexical_search_with_terms_in_every_chunk_still_ranks_the_rare_term_first(
    tmp_path: Path,
) -> None:
    # More chunks hold "platform" and "rollout" than the postings one question may rank
    # (POSTINGS_BUDGET): candidates come from the rare term, and every term still scores.
    lexical = LexicalIndex(make_settings(tmp_path / "data"))
    rows = [(f"c{i:05d}", f"doc{i % 50}.txt", f"Platform rollout note {i}.") for i in range(2100)]
    rows += [("zebra-1", "z.txt", "Platform rollout of the zebra badge readers.")]
    rows += [("zebra-2", "z.txt", "Zebra badge readers replace the old turnstiles.")]
    lexical.upsert(rows)
    found = [cid for cid, _ in lexical.search("zebra platform rollout", 5)]
    assert found[:2] == ["zebra-1", "zebra-2"]  # the chunk with every term first
    # a term no chunk holds picks nothing and hides nothing
    assert {cid for cid, _ in lexical.search("quokka zebra", 5)} == {"zebra-1", "zebra-2"}
    common = lexical.search("platform rollout", 5)  # every term over the budget
    assert len(common) == 5 and all(score > 0 for _, score in common)
    # with the dense candidates at hand, those are ranked instead (the database ranks nothing)
    among = ["c00007", "zebra-2", "zebra-1", "missing"]
    ranked = lexical.search("platform rollout zebra", 5, among=among)
    assert [cid for cid, _ in ranked][:1] == ["zebra-1"]
    assert {cid for cid, _ in lexical.search("platform rollout", 5, among=among)} == {
        "c00007",
        "zebra-1",
    }
    # Started ahead of the dense candidates (beside the embedding), a search of common terms
    # only is left for later; one with a rare term runs at once and finds the same.
    assert lexical.search_ahead("platform rollout", 5) is None
    assert lexical.search_ahead("zebra platform rollout", 5) == lexical.search(
        "zebra platform rollout", 5
    )


def test_a_search_started_ahead_finds_what_a_search_finds(kb: KnowledgeBot) -> None:
    retriever = kb.retriever
    for question in (
        "What is the difference between IT strategy and digital strategy?",
        "Which channels does digital marketing use?",
        "What should a technology plan contain?",
    ):
        vector = kb.embed([question])[0]
        ahead = retriever.lexical_ahead(question, 4)
        assert ahead is not None
        started = [h.chunk.id for h in retriever.search(question, vector, 4, lexical_ahead=ahead)]
        assert started == [h.chunk.id for h in retriever.search(question, vector, 4)]


def test_read_through_caches_stay_bounded_and_keep_what_is_used() -> None:
    from bot.answer.knowledge import _Lru

    cache = _Lru(3)
    cache.put_many({f"c{i}": i for i in range(3)})
    assert cache.get_many(["c0"]) == {"c0": 0}  # c0 used: c1 is now the oldest
    cache.put_many({f"n{i}": i for i in range(2)})
    assert cache.get_many(["c0", "c1", "c2", "n0", "n1"]) == {"c0": 0, "n0": 0, "n1": 1}


def test_sentences_missing_mid_ingest_are_read_again_not_remembered_empty(tmp_path: Path) -> None:
    # A question that arrives while an ingest is writing may find a chunk before its
    # sentences' row; the next question must see them without waiting for a cache reset.
    import numpy as np

    from bot.answer.knowledge import Corpus
    from bot.runtime.sentences import SentenceStore, StoredUnit

    settings = make_settings(tmp_path / "data")
    corpus = Corpus.open(settings, lambda: None)  # type: ignore[arg-type,return-value]
    assert corpus.units(["c1"]) == {"c1": []}
    vector = np.ones(4, np.float32) / 2
    SentenceStore(settings).upsert(
        [("c1", "a.txt", 0, [StoredUnit("Kiwis fly.", "sentence", 0, vector)])]
    )
    (unit,) = corpus.units(["c1"])["c1"]
    assert unit.text == "Kiwis fly." and np.allclose(unit.vector, vector)
