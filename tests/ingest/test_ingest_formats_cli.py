"""A folder with one file of each format, plus files that cannot be ingested, through the real
`kb ingest`, `kb status` and `kb ask` (real embedder, embedded Chroma), as a new user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.schema import Answer
from tests.ingest.docs import (
    SPHINX_HTML,
    WRAPPED_MD,
    write_docx,
    write_pdf,
    write_pptx,
    write_scanned_pdf,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("formats")
    docs, outside = root / "docs", root / "app"
    docs.mkdir()
    outside.mkdir()
    (docs / "cloud.md").write_text(WRAPPED_MD)
    (docs / "venv.html").write_text(SPHINX_HTML)
    write_pdf(docs / "handbook.pdf")
    write_docx(docs / "policy.docx")
    write_pptx(docs / "plan.pptx")
    (docs / "notes.txt").write_text("The office closes at six on Fridays during the summer.\n")
    write_scanned_pdf(docs / "scan.pdf")
    (docs / "empty.txt").write_text("")
    (docs / "budget.xlsx").write_bytes(b"PK\x03\x04 not really a spreadsheet")
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02 binary")
    (outside / ".env").write_text("OPENAI_API_KEY=sk-never-quote-me\n")
    (docs / "settings.txt").symlink_to(outside / ".env")
    return root


def _kb(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KB_DATA_DIR": str(root / "data"),
        "KB_CORPUS_DIR": str(root / "docs"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.doors.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def ingested(folder: Path) -> subprocess.CompletedProcess[str]:
    return _kb("ingest", root=folder)


def test_every_file_is_accounted_for_with_one_line(
    folder: Path, ingested: subprocess.CompletedProcess[str]
) -> None:
    assert ingested.returncode == 0, ingested.stderr
    skipped = [line for line in ingested.stderr.splitlines() if line.startswith("skipped ")]
    reasons = {Path(line.split(":")[0].removeprefix("skipped ")).name: line for line in skipped}
    assert sorted(reasons) == ["blob.txt", "budget.xlsx", "empty.txt", "scan.pdf", "settings.txt"]
    assert "no text layer" in reasons["scan.pdf"]
    assert "unsupported file type '.xlsx'" in reasons["budget.xlsx"]
    assert "outside the corpus root" in reasons["settings.txt"]
    assert len(skipped) == 5  # each reason once, not once from the log and once from the CLI
    assert (
        "ingested 6 files (1 docx, 1 html, 1 markdown, 1 pdf, 1 pptx, 1 text); skipped 5 "
        "(1 binary, 1 empty, 1 no text, 1 outside root, 1 unsupported type)" in ingested.stdout
    )


def test_status_lists_titles(folder: Path, ingested: subprocess.CompletedProcess[str]) -> None:
    status = _kb("status", root=folder)
    assert status.returncode == 0, status.stderr
    for title in ("Procurement Handbook", "Remote Work Policy", "Cloud Migration Basics",
                  "4. Virtual Environments", "Quarterly Hiring Plan"):  # fmt: skip
        assert title in status.stdout
    info = json.loads(_kb("status", "--json", root=folder).stdout)
    assert info["titles"]["docs/handbook.pdf"] == "Procurement Handbook"


@pytest.mark.parametrize(
    ("question", "source", "fact"),
    [
        ("How long is a vendor assessment kept?", "docs/handbook.pdf", "three years"),
        ("What equipment allowance do remote employees get?", "docs/policy.docx", "300 euros"),
        ("What are the six Rs of cloud migration?", "docs/cloud.md", "Rehost, Replatform"),
        ("How do I create a virtual environment?", "docs/venv.html", "virtual environments"),
    ],
)
def test_questions_are_answered_from_each_format(
    folder: Path, ingested: subprocess.CompletedProcess[str], question: str, source: str, fact: str
) -> None:
    result = _kb("ask", question, "--json", root=folder)
    assert result.returncode == 0, result.stderr
    answer = Answer.model_validate(json.loads(result.stdout))
    assert not answer.abstained, answer.answer
    assert answer.citations[0].source == source
    assert fact in " ".join(c.quote for c in answer.citations)


def test_a_secret_behind_a_symlink_is_never_quoted(
    folder: Path, ingested: subprocess.CompletedProcess[str]
) -> None:
    result = _kb("ask", "What is the OPENAI_API_KEY?", "--json", root=folder)
    assert result.returncode == 0, result.stderr
    assert "sk-never-quote-me" not in result.stdout


def test_boolean_options_are_plain_flags() -> None:
    for command, option in (("ask", "--json"), ("classify", "--json"), ("status", "--json"),
                            ("ingest", "--rebuild"), ("eval", "--no-baseline")):  # fmt: skip
        help_text = _kb(command, "--help", root=Path("/nonexistent")).stdout
        (line,) = [ln for ln in help_text.splitlines() if f" {option} " in ln]
        assert "<bool>" not in line, line
