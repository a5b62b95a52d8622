"""README command 1 as a user runs it: `kb ask` on a fresh machine ingests first, then answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.schema import Answer


def _kb(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KB_DATA_DIR": str(data_dir), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "bot.doors.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_first_ask_builds_the_index_and_classifies(tmp_path: Path) -> None:
    question = "Is migrating our data center to the cloud an IT or a digital initiative?"
    result = _kb("ask", question, "--json", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    answer = Answer.model_validate(json.loads(result.stdout))
    assert answer.classification is not None and answer.classification.label == "it"
    assert answer.citations and answer.backend == "local"
    status = _kb("status", "--json", data_dir=tmp_path / "data")
    assert json.loads(status.stdout)["documents"] == 5

    pretty = _kb("ask", "Who owns digital transformation?", data_dir=tmp_path / "data")
    assert pretty.returncode == 0
    assert "Sources" in pretty.stdout and "[1]" in pretty.stdout
    assert "No index yet" not in pretty.stderr  # the second run reuses the index


def test_bad_input_is_one_clear_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    result = _kb("ask", "   ", data_dir=tmp_path / "data")
    assert result.returncode == 1
    assert "error: the question is empty" in result.stderr
    assert not (tmp_path / "data" / "chroma").exists()  # refused before building anything
    wrong = _kb("ask", "hi there", "--llm", "gpt", data_dir=tmp_path / "data")
    assert wrong.returncode == 2 and "--llm must be" in wrong.stderr


def test_a_first_ask_over_an_unusable_corpus_says_why_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {
        empty: f"{empty} holds no documents",
        tmp_path / "missing": "does not exist (set KB_CORPUS_DIR)",
    }
    for corpus, why in cases.items():
        monkeypatch.setenv("KB_CORPUS_DIR", str(corpus))
        result = _kb("ask", "What is an IT strategy?", data_dir=tmp_path / f"data-{corpus.name}")
        stderr = " ".join(result.stderr.split())  # rich wraps long lines
        assert result.returncode == 1
        assert f"No index yet: ingesting {corpus} first" in stderr
        assert why in stderr, stderr
