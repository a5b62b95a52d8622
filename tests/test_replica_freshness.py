"""Chroma server mode: a running server keeps answering through another process's ingest."""

from __future__ import annotations

from pathlib import Path

from tests.bot.test_freshness import serve_through_an_ingest, write_corpus
from tests.conftest import make_settings
from tests.test_server_mode import chroma_server  # noqa: F401 - the real `chroma run` fixture


def test_server_answers_through_another_process_ingest_server_mode(
    chroma_server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    write_corpus(tmp_path / "corpus")
    settings = make_settings(
        tmp_path / "data",
        corpus_dir=tmp_path / "corpus",
        chroma_url=chroma_server,
        collection="freshness_server",
    )
    serve_through_an_ingest(settings)
