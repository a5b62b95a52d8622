"""Replicas share one lexical index in PostgreSQL: what one process's ingest writes, another's
search and sentence scoring see, change by change (a real PostgreSQL server on loopback)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answer import KnowledgeBot
from bot.runtime.embeddings import make_embeddings
from bot.runtime.lexical import LexicalIndex
from bot.runtime.sentences import SentenceStore
from bot.runtime.store import open_store
from ingest.index import ingest
from tests.conftest import make_settings
from tests.live_server import free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (as the `postgres` user when run as root)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL binaries are not installed (apt-get install postgresql)")
    # not under pytest's tmp dir: its parents are private to root, and PostgreSQL refuses root
    root = Path(tempfile.mkdtemp(prefix="kb-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    port = free_port()
    data = root / "data"
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "kb"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"),
                    "-w", "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://kb@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "stop"],
                       check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def test_replicas_share_the_lexical_index_in_postgresql(postgres_url: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Kiwi Policy\n\nThe kiwi policy covers laptop encryption.\n")
    (corpus / "b.txt").write_text("Mango Guide\n\nThe mango guide explains vendor scoring.\n")
    writer = make_settings(tmp_path / "writer", corpus_dir=corpus, database_url=postgres_url)
    ingest(None, writer, open_store(writer, make_embeddings(writer)))

    # a replica's view: the same database URL and Chroma, its own objects and connections
    reader = make_settings(tmp_path / "writer", corpus_dir=corpus, database_url=postgres_url)
    lexical = LexicalIndex(reader)
    assert [cid for cid, _ in lexical.search("kiwi encryption", 5)] == [
        cid for source, _, cid in lexical.sources() if source == "corpus/a.txt"
    ]
    bot = KnowledgeBot(reader)
    assert {s["source"] for s in bot.sources()} == {"corpus/a.txt", "corpus/b.txt"}
    answer = bot.answer("What does the mango guide explain?")
    assert not answer.abstained and "vendor scoring" in answer.answer
    # the sentences and their vectors come from PostgreSQL too (bytea, float16)
    sentences = SentenceStore(reader)
    (mango,) = [cid for source, _, cid in lexical.sources() if source == "corpus/b.txt"]
    assert sentences.chunk_ids_at("corpus/b.txt", 0, 5) == [(mango, 0)]
    (unit,) = sentences.get([mango])[mango]
    assert unit.text == "The mango guide explains vendor scoring."
    assert float(unit.vector @ bot.embed([unit.text])[0]) > 0.999

    (corpus / "a.txt").write_text("Kiwi Policy\n\nThe kiwi policy now covers phone backups.\n")
    (corpus / "b.txt").unlink()
    ingest(None, writer, open_store(writer, make_embeddings(writer)))
    assert lexical.search("encryption", 5) == [] and lexical.search("mango vendor", 5) == []
    assert len(lexical.search("phone backups", 5)) == 1
    assert lexical.size() == 1
    assert sentences.size() == 1 and sentences.get([mango]) == {}
    # every term's chunk frequency in one statement, unknown terms as 0
    assert lexical.document_frequency(["kiwi", "phone", "mango"]) == {
        "kiwi": 1,
        "phone": 1,
        "mango": 0,
    }
