"""Ingest embeds each text once: unit vectors are the model's own vectors of the units, chunk
vectors are derived from them and still find their chunk (real model, real Chroma)."""

from __future__ import annotations

from pathlib import Path

from bot.runtime.embeddings import embed_array, make_embeddings
from bot.runtime.sentences import SentenceStore
from bot.runtime.store import open_store
from ingest.index import ingest
from tests.conftest import make_settings

DOCS = {
    "network.md": "# Network Guide\n\n## Wireless\n\nThe office wireless network uses WPA3 "
    "enterprise authentication. Guests connect to a separate network with a daily password.\n\n"
    "| Band | Use |\n| --- | --- |\n| 5 GHz | staff laptops |\n| 2.4 GHz | printers |\n",
    "payroll.md": "# Payroll Handbook\n\nSalaries are paid on the last working day of each month. "
    "Expense claims submitted before the 20th are reimbursed with that month's salary.\n",
}


def test_units_keep_their_own_vectors_and_chunks_are_found_by_meaning(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text)
    settings = make_settings(tmp_path / "data", corpus_dir=corpus)
    embeddings = make_embeddings(settings)
    store = open_store(settings, embeddings)
    report = ingest(None, settings, store)
    # one pass over short texts: nothing beyond the units, headings and context lines
    assert report.embedded == report.chunks
    stored = SentenceStore(settings).get(store.collection().get(include=[])["ids"])  # type: ignore[union-attr]
    sentences = [
        (u.text, u.vector) for found in stored.values() for u in found if u.kind == "sentence"
    ]
    assert len(sentences) >= 4
    own = embed_array(embeddings, [d for d, _ in sentences])
    for (_, stored), fresh in zip(sentences, own, strict=True):
        assert float(stored @ fresh) > 0.999
    chunks = store.collection()
    hit = chunks.query(  # type: ignore[union-attr]
        query_embeddings=embed_array(embeddings, ["When do I get my salary and expenses?"]),
        n_results=1,
    )
    assert hit["metadatas"][0][0]["source"] == "corpus/payroll.md"
    hit = chunks.query(  # type: ignore[union-attr]
        query_embeddings=embed_array(embeddings, ["How do visitors get on the wifi?"]),
        n_results=1,
    )
    assert hit["metadatas"][0][0]["source"] == "corpus/network.md"


def test_progress_moves_inside_one_long_document(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sections = [
        f"## Procedure {i}\n\nStep {i} of the migration moves mailbox group {i} to the new "
        f"tenant after the owners of group {i} confirm their delegates. The service desk "
        f"records ticket {1000 + i} and tells the users of group {i} which evening it runs.\n"
        f"\n| Item | Owner |\n| --- | --- |\n| group {i} | team {i % 7} |\n"
        for i in range(120)
    ]
    (corpus / "runbook.md").write_text("# Migration Runbook\n\n" + "\n".join(sections))
    settings = make_settings(tmp_path / "data", corpus_dir=corpus)
    steps: list[tuple[str, int, int]] = []
    report = ingest(
        None,
        settings,
        open_store(settings, make_embeddings(settings)),
        progress=lambda stage, done, total: steps.append((stage, done, total)),
    )
    embedded = [done for stage, done, _ in steps if stage == "embed"]
    assert report.files == 1 and report.embedded > 64
    # the bar starts at 0, moves while the one document is embedded, and ends at the total
    assert embedded[0] == 0 and embedded[-1] == report.embedded
    assert len(set(embedded)) >= 3 and embedded == sorted(embedded)
