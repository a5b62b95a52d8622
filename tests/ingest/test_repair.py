"""Atomic documents: partial documents are repaired, edits settle, path-added files stay.

Real embedded Chroma, the real embedder, real `kb` subprocesses (one of them killed mid-run).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.runtime.embeddings import make_embeddings
from bot.runtime.sentences import SentenceStore
from bot.runtime.settings import Settings
from bot.runtime.store import open_store, paged_get
from ingest.clean import load_rules
from ingest.embed import unit_rows
from ingest.index import chunks_of, fingerprint, ingest
from ingest.load import load_paths
from ingest.registry import WRITING, Registry
from tests.conftest import make_settings

TOPICS = ["budgets", "security", "analytics", "hiring", "vendors", "cloud", "training", "risk"]


def _doc(i: int) -> str:
    """A generated document of a few chunks, different from every other."""
    topic = TOPICS[i % len(TOPICS)]
    sections = []
    for s in range(2):
        sentences = " ".join(
            f"Team {i} reviews {topic} item {s}-{k} every quarter and records the outcome in "
            f"its plan, with owner {i * 7 + k} accountable for the {topic} result."
            for k in range(5)
        )
        sections.append(f"Part {s} of {topic}\n\n{sentences}")
    return f"Handbook {i} on {topic}\n\n" + "\n\n".join(sections) + "\n"


def _run(settings: Settings, paths=None, **kw):  # type: ignore[no-untyped-def]
    store = open_store(settings, make_embeddings(settings))
    return ingest(paths, settings, store, **kw), store


def _clean_build(settings: Settings) -> tuple[dict[str, str], set[str]]:
    """What a clean build of the corpus writes: (chunk id -> doc_hash, unit ids)."""
    rules = load_rules(settings.corpus_dir / "cleaning.toml")
    docs = load_paths([settings.corpus_dir], settings.corpus_dir, settings.max_file_bytes)
    hashes: dict[str, str] = {}
    units: set[str] = set()
    for doc in docs.documents:
        for chunk in chunks_of(doc, rules, settings):
            hashes[chunk.id] = fingerprint(doc, rules, settings)
            units |= {row.id for row, _ in unit_rows(chunk)}
    return hashes, units


def _snapshot(settings: Settings) -> tuple[dict[str, str], set[str]]:
    """(chunk id -> doc_hash, unit ids) of the index in `settings`."""
    store = open_store(settings, make_embeddings(settings))
    chunks = paged_get(store.collection(), include=["metadatas"])  # type: ignore[arg-type]
    sentences = SentenceStore(settings)
    stored = sentences.get(sorted(sentences.chunk_ids()))
    hashes = {
        i: str(m["doc_hash"]) for i, m in zip(chunks["ids"], chunks["metadatas"], strict=True)
    }
    return hashes, {f"{cid}:{u.position}" for cid, found in stored.items() for u in found}


def _kb(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.doors.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture()
def small(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"doc{i}.md").write_text(_doc(i))
    return make_settings(tmp_path / "data", corpus_dir=corpus)


def test_an_edited_document_is_unchanged_on_the_next_run(small: Settings) -> None:
    steps: list[tuple[int, int]] = []
    first, _ = _run(
        small,
        progress=lambda stage, done, total: (
            steps.append((done, total)) if stage == "embed" else None
        ),
    )
    # the embedding bar has its total before the first vector and reaches it
    assert steps[0] == (0, first.embedded) and steps[-1] == (first.embedded, first.embedded)
    path = small.corpus_dir / "doc1.md"
    path.write_text(path.read_text().replace("Team 1 reviews", "Team 1 audits", 1))
    edited, _ = _run(small)
    assert (edited.updated, edited.unchanged) == (1, 2)
    assert 0 < edited.embedded < edited.chunks  # only the changed chunk is embedded again
    again, _ = _run(small)
    assert (again.updated, again.unchanged, again.embedded) == (0, 3, 0)


def test_a_partial_document_or_a_writing_row_is_redone(small: Settings, tmp_path: Path) -> None:
    _, store = _run(small)
    clean = _snapshot(small)
    coll = store.collection()
    some_ids = coll.get(where={"source": "corpus/doc0.md"})["ids"]  # type: ignore[union-attr]
    coll.delete(ids=some_ids[:1])  # type: ignore[union-attr]
    entry = Registry(small).all()["corpus/doc2.md"]
    Registry(small).put([type(entry)(**{**entry.__dict__, "state": WRITING})])
    repaired, _ = _run(small)
    assert repaired.repaired == 2 and repaired.unchanged == 1
    assert repaired.embedded == 1  # the missing chunk only; the rest keep their vectors
    assert _snapshot(small) == clean == _clean_build(small)
    everything = coll.get(include=["metadatas"])  # type: ignore[union-attr]
    paged = paged_get(coll, include=["metadatas"], page=4)  # type: ignore[arg-type]
    assert paged["ids"] == everything["ids"] and paged["metadatas"] == everything["metadatas"]
    settled, _ = _run(small)
    assert (settled.unchanged, settled.repaired, settled.embedded) == (3, 0, 0)


def test_a_file_added_by_path_stays_until_kb_remove(small: Settings, tmp_path: Path) -> None:
    extra = tmp_path / "elsewhere" / "notes.txt"
    extra.parent.mkdir()
    extra.write_text("Field notes\n\nThe kiosk rollout finished in March for every branch.\n")
    _run(small)
    added, store = _run(small, [extra])
    assert added.added == 1
    plain, _ = _run(small)
    assert plain.deleted == 0 and plain.unchanged == 4  # the corpus plus the added file
    sources = {
        m["source"] for m in paged_get(store.collection(), include=["metadatas"])["metadatas"]
    }  # type: ignore[arg-type]
    assert any(s.endswith("notes.txt") for s in sources)
    env = {
        **os.environ,
        "KB_DATA_DIR": str(small.data_dir),
        "KB_CORPUS_DIR": str(small.corpus_dir),
        "COLUMNS": "200",
    }
    status = _kb(env, "status")
    assert "Field notes" in status.stdout and "added by path" in status.stdout
    removed = _kb(env, "remove", str(extra))
    assert removed.returncode == 0, removed.stderr
    assert "notes.txt" in removed.stdout
    sources = {
        m["source"] for m in paged_get(store.collection(), include=["metadatas"])["metadatas"]
    }  # type: ignore[arg-type]
    assert not any(s.endswith("notes.txt") for s in sources)
    assert _kb(env, "remove", str(extra)).returncode == 1  # nothing left to remove: says so
    after, _ = _run(small)
    assert after.added == 0 and after.unchanged == 3


def _complete_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            row = conn.execute("SELECT count(*) FROM kb_documents WHERE state = 'complete'")
            return int(row.fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def test_kill_9_mid_ingest_then_ingest_again_equals_a_clean_build(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    n_docs = 150
    for i in range(n_docs):
        (corpus / f"doc{i:03d}.md").write_text(_doc(i))
    crashed = make_settings(tmp_path / "crashed", corpus_dir=corpus)
    env = {**os.environ, "KB_DATA_DIR": str(crashed.data_dir), "KB_CORPUS_DIR": str(corpus)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.doors.cli", "ingest"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = crashed.data_dir / "kb.sqlite3"
    deadline = time.monotonic() + 300
    while _complete_rows(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert 0 < _complete_rows(db) < n_docs, "the run was not caught mid-way"

    report, _ = _run(crashed)
    assert report.files == n_docs and report.unchanged < n_docs
    assert _snapshot(crashed) == _clean_build(crashed)
    settled, _ = _run(crashed)
    assert (settled.unchanged, settled.embedded) == (n_docs, 0)
