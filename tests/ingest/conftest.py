"""Two small documents in a corpus folder, and settings over it, for the indexing tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime.settings import Settings
from tests.conftest import make_settings

DOC_A = "Alpha Guide\n\nIT strategy covers infrastructure, security and vendor management.\n\nBudgets are planned yearly by the finance team.\n"
DOC_B = "Beta Guide\n\nDigital strategy covers customer experience, channels and analytics.\n"


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(DOC_A)
    (folder / "b.md").write_text(DOC_B)
    return folder


@pytest.fixture()
def settings(tmp_path: Path, corpus: Path) -> Settings:
    return make_settings(tmp_path / "data", corpus_dir=corpus)
