"""Incremental indexing into a real embedded Chroma with the real embedder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.runtime.embeddings import make_embeddings
from bot.runtime.sentences import SentenceStore
from bot.runtime.settings import BUNDLED_CORPUS, Settings
from bot.runtime.store import IndexMismatchError, open_store
from ingest.index import IngestError, ingest, ingest_lock
from tests.ingest.conftest import DOC_A


def _run(settings: Settings, paths=None, **kw):  # type: ignore[no-untyped-def]
    store = open_store(settings, make_embeddings(settings))
    return ingest(paths, settings, store, **kw), store


def test_first_ingest_adds_everything_and_second_embeds_nothing(settings: Settings) -> None:
    first, store = _run(settings)
    assert (first.files, first.added, first.embedded) == (2, 2, first.chunks)
    second, _ = _run(settings)
    assert (second.unchanged, second.added, second.updated, second.embedded) == (2, 0, 0, 0)
    assert store.collection().count() == first.chunks  # type: ignore[union-attr]


def test_changed_file_replaces_only_its_own_chunks(settings: Settings, corpus: Path) -> None:
    _, store = _run(settings)
    coll = store.collection()
    b_ids = set(coll.get(where={"source": "corpus/b.md"})["ids"])  # type: ignore[union-attr]
    (corpus / "a.txt").write_text(DOC_A.replace("yearly", "every quarter"))
    report, _ = _run(settings)
    assert (report.updated, report.unchanged) == (1, 1)
    assert 0 < report.embedded <= 2
    assert set(coll.get(where={"source": "corpus/b.md"})["ids"]) == b_ids  # type: ignore[union-attr]
    texts = " ".join(coll.get(where={"source": "corpus/a.txt"})["documents"])  # type: ignore[union-attr]
    assert "every quarter" in texts and "yearly" not in texts
    # the sentence store follows the chunks: only the new version's sentences are left
    stored = SentenceStore(settings).get(sorted(SentenceStore(settings).chunk_ids()))
    unit_texts = " ".join(u.text for found in stored.values() for u in found)
    assert "every quarter" in unit_texts and "yearly" not in unit_texts


def test_removed_file_is_deleted_and_rebuild_starts_over(settings: Settings, corpus: Path) -> None:
    _run(settings)
    (corpus / "b.md").unlink()
    report, store = _run(settings)
    assert report.deleted == 1
    assert store.collection().get(where={"source": "corpus/b.md"})["ids"] == []  # type: ignore[union-attr]
    rebuilt, _ = _run(settings, rebuild=True)
    assert rebuilt.added == 1 and rebuilt.embedded == rebuilt.chunks


def test_giving_one_path_adds_it_without_pruning_the_rest(
    settings: Settings, tmp_path: Path
) -> None:
    _run(settings)
    extra = tmp_path / "extra.txt"
    extra.write_text("Gamma\n\nA technology plan has budgets and timeframes.\n")
    report, store = _run(settings, [extra])
    assert report.added == 1 and report.deleted == 0
    sources = {m["source"] for m in store.collection().get(include=["metadatas"])["metadatas"]}  # type: ignore[union-attr]
    assert {s for s in sources if s.startswith("corpus/")} == {"corpus/a.txt", "corpus/b.md"}
    assert any(s.endswith("/extra.txt") for s in sources)  # outside the corpus: its own path


def test_broken_files_are_reported_and_the_rest_is_indexed(
    settings: Settings, corpus: Path
) -> None:
    (corpus / "broken.txt").write_bytes(b"\x00\xff\x00binary")
    (corpus / "empty.md").write_text("")
    report, _ = _run(settings)
    assert report.files == 2 and report.ok
    assert {Path(p.path).name for p in report.problems} == {"broken.txt", "empty.md"}


def test_missing_path_makes_the_report_not_ok(settings: Settings, tmp_path: Path) -> None:
    report, _ = _run(settings, [tmp_path / "missing.txt"])
    assert not report.ok and report.missing_paths


def test_opening_with_another_embedding_model_is_a_clear_error(settings: Settings) -> None:
    _, store = _run(settings)

    class OtherModel:
        model_name = "another-model"
        dimension = 384

    other = type(store)(client=store.client, embeddings=OtherModel(), name=store.name)  # type: ignore[arg-type]
    with pytest.raises(IndexMismatchError, match="kb ingest --rebuild"):
        other.collection()


def test_a_second_ingest_waits_for_the_lock_then_refuses(settings: Settings) -> None:
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with ingest_lock(settings):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    try:
        with (
            pytest.raises(IngestError, match="another `kb ingest` is running"),
            ingest_lock(settings, wait_seconds=0.2),
        ):
            pass
    finally:
        release.set()
        thread.join()


def test_cli_ingest_reports_and_fails_on_missing_path(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    env = {
        **os.environ,
        "KB_DATA_DIR": str(tmp_path / "d"),
        "KB_CORPUS_DIR": str(corpus),
        "COLUMNS": "200",
    }
    ok = subprocess.run(
        [sys.executable, "-m", "bot.doors.cli", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "added" in ok.stdout and "5" in ok.stdout
    again = subprocess.run(
        [sys.executable, "-m", "bot.doors.cli", "ingest", str(tmp_path / "missing.txt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 1
    assert "no such file or directory" in again.stderr and "missing.txt" in again.stderr
    status = subprocess.run(
        [sys.executable, "-m", "bot.doors.cli", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert '"documents": 5' in status.stdout
