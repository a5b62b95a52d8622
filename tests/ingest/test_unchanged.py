"""A re-ingest recognises unchanged files from their stats, and still notices every change that
does not show in a file's stats (cleaning rules, manifest) or that happened behind its back."""

from __future__ import annotations

import os
from pathlib import Path

from bot.runtime.embeddings import make_embeddings
from bot.runtime.settings import Settings
from bot.runtime.store import open_store
from ingest.index import ingest
from ingest.registry import Registry
from tests.ingest.conftest import DOC_B


def _run(settings: Settings):  # type: ignore[no-untyped-def]
    store = open_store(settings, make_embeddings(settings))
    return ingest(None, settings, store), store


def _version(store) -> object:  # type: ignore[no-untyped-def]
    return (store.collection().metadata or {}).get("index_version")


def test_touched_file_with_the_same_content_stays_unchanged(
    settings: Settings, corpus: Path
) -> None:
    first, store = _run(settings)
    version = _version(store)
    path = corpus / "a.txt"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    for _ in range(2):  # the second run takes the fast path again
        report, _ = _run(settings)
        assert (report.unchanged, report.embedded, report.chunks) == (2, 0, first.chunks)
        assert report.formats == {"markdown": 1, "text": 1}
    assert _version(store) == version  # servers see nothing new


def test_changed_cleaning_rules_reprocess_files_whose_stats_did_not_change(
    settings: Settings, corpus: Path
) -> None:
    _, store = _run(settings)
    (corpus / "cleaning.toml").write_text('drop_sentences = ["finance team"]\n')
    report, _ = _run(settings)
    assert report.updated == 2
    texts = " ".join(store.collection().get()["documents"])  # type: ignore[union-attr]
    assert "finance team" not in texts and "vendor management" in texts


def test_changed_manifest_title_updates_only_that_document(
    settings: Settings, corpus: Path
) -> None:
    _, store = _run(settings)
    (corpus / "manifest.toml").write_text('[documents."b.md"]\ntitle = "Beta Handbook"\n')
    report, _ = _run(settings)
    assert (report.updated, report.unchanged) == (1, 1)
    got = store.collection().get(where={"source": "corpus/b.md"})  # type: ignore[union-attr]
    assert {m["title"] for m in got["metadatas"]} == {"Beta Handbook"}


def test_chunks_deleted_behind_kbs_back_are_restored(settings: Settings) -> None:
    first, store = _run(settings)
    coll = store.collection()
    victim = coll.get(where={"source": "corpus/a.txt"})["ids"][0]  # type: ignore[union-attr]
    coll.delete(ids=[victim])  # type: ignore[union-attr]
    report, _ = _run(settings)
    assert (report.repaired, report.unchanged) == (1, 1)
    assert coll.count() == first.chunks  # type: ignore[union-attr]


def test_lost_registry_is_rebuilt_without_embedding(settings: Settings) -> None:
    first, _ = _run(settings)
    Registry(settings).clear()
    report, _ = _run(settings)
    assert (report.unchanged, report.embedded) == (2, 0)
    assert sum(e.chunks for e in Registry(settings).all().values()) == first.chunks
    again, _ = _run(settings)
    assert (again.unchanged, again.embedded) == (2, 0)


def test_edited_file_is_read_again_and_only_it_is_embedded(
    settings: Settings, corpus: Path
) -> None:
    _, store = _run(settings)
    (corpus / "b.md").write_text(DOC_B.replace("analytics", "web analytics"))
    report, _ = _run(settings)
    assert (report.updated, report.unchanged) == (1, 1)
    assert 0 < report.embedded <= 2
    texts = " ".join(store.collection().get(where={"source": "corpus/b.md"})["documents"])  # type: ignore[union-attr]
    assert "web analytics" in texts
