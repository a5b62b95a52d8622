"""Session fixtures: one real index of the bundled corpus (real embedder, embedded Chroma)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answer import KnowledgeBot
from bot.runtime.settings import BUNDLED_CORPUS, Settings


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the developer's environment (keys, .env, KB_*) out of the tests."""
    mp = pytest.MonkeyPatch()
    import os

    for name in list(os.environ):
        if name.startswith(("KB_", "OPENAI_", "SLACK_")):
            mp.delenv(name)
    mp.chdir(tmp_path_factory.mktemp("cwd"))  # no stray .env, no .kb in the checkout
    yield
    mp.undo()


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test: embedded Chroma in `data_dir`, bundled corpus, local backend."""
    values: dict[str, object] = {"data_dir": data_dir, "corpus_dir": BUNDLED_CORPUS, "llm": "local"}
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def bot_over(root: Path, documents: dict[str, str]) -> KnowledgeBot:
    """A bot over a corpus of the given documents (file name → text), ingested in `root`."""
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for name, text in documents.items():
        (corpus / name).write_text(text, encoding="utf-8")
    bot = KnowledgeBot(make_settings(root / "data", corpus_dir=corpus))
    bot.ensure_index()
    return bot


@pytest.fixture(scope="session")
def indexed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose data dir holds an ingested index of the bundled corpus (built once)."""
    settings = make_settings(tmp_path_factory.mktemp("kbdata"))
    KnowledgeBot(settings).ensure_index()
    return settings


@pytest.fixture(scope="session")
def kb(indexed_settings: Settings) -> KnowledgeBot:
    """A loaded bot over the session index."""
    bot = KnowledgeBot(indexed_settings)
    bot.load()
    return bot
