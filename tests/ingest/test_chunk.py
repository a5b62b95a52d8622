"""Chunking: structure-aware, token-sized, deterministic."""

from __future__ import annotations

import re

from bot.runtime.settings import BUNDLED_CORPUS
from bot.runtime.tokens import count_tokens
from ingest.chunk import chunk_text
from ingest.clean import clean_text, load_rules

RULES = load_rules(BUNDLED_CORPUS / "cleaning.toml")


def _chunks(name: str, title: str, **kw: int):  # type: ignore[no-untyped-def]
    text = clean_text((BUNDLED_CORPUS / name).read_text(encoding="utf-8"), RULES)
    return chunk_text(text, source=f"corpus/{name}", title=title, **kw)


def test_sub_items_carry_their_section_path() -> None:
    chunks = _chunks(
        "000_a56ff1d7635db02c.txt", "IT Strategy vs Digital Strategy : What's The Difference ?"
    )
    risk = next(c for c in chunks if "cybersecurity risks" in c.text)
    assert risk.section.startswith("IT Strategy")
    assert "Risk Management" in risk.section
    focus = next(c for c in chunks if "primarily concerns the use of technology" in c.text)
    assert focus.section.startswith("IT Strategy") and "Focus" in focus.section
    # Numbered labels stay with their body: no chunk ends on a dangling "2. Scope:".
    assert not any(
        re.fullmatch(r"\s*\d+\.\s+[\w ]{1,40}:", c.text.splitlines()[-1]) for c in chunks
    )


def test_table_is_kept_as_rows_with_its_header() -> None:
    chunks = _chunks("004_bca376693a3bac81.txt", "IT Transformation vs Digital Transformation")
    table = next(c for c in chunks if "Primary Focus |" in c.text)
    lines = table.text.splitlines()
    assert "Aspect | IT Transformation | Digital Transformation |" in lines
    assert (
        "Ownership | CTO, IT department | CEO, CIO, COO, CDO, cross-functional leadership |"
        in lines
    )
    assert table.section == "Key Differences at a Glance"


def test_oversized_table_is_split_with_the_header_repeated() -> None:
    rows = "\n".join(
        f"Row {i} | some IT side text {i} | some digital side text {i} |" for i in range(60)
    )
    text = f"Big Table\nAspect | IT | Digital |\n{rows}\n"
    chunks = chunk_text(text, source="t.txt", title="T", chunk_tokens=120, chunk_overlap=0)
    assert len(chunks) > 3
    assert all(
        c.text.splitlines()[0].startswith("Aspect | IT | Digital |")
        or c.text.splitlines()[1].startswith("Aspect")
        for c in chunks
    )
    assert all(c.tokens <= 120 for c in chunks)


def test_chunks_respect_the_token_budget_and_count_with_tiktoken() -> None:
    long_paragraph = " ".join(
        f"Sentence number {i} talks about IT strategy and budgets." for i in range(200)
    )
    chunks = chunk_text(
        f"Heading\n{long_paragraph}\n",
        source="x.txt",
        title="X",
        chunk_tokens=100,
        chunk_overlap=20,
    )
    assert len(chunks) >= 15
    for chunk in chunks:
        assert chunk.tokens == count_tokens(chunk.text)
        assert chunk.tokens <= 100 + 20  # the overlap tail may ride on top of a full piece


def test_ids_are_deterministic_and_metadata_complete() -> None:
    first = _chunks("001_25be9a378fdd6919.txt", "Technology Plan vs IT Strategy")
    second = _chunks("001_25be9a378fdd6919.txt", "Technology Plan vs IT Strategy")
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)
    for i, chunk in enumerate(first):
        assert chunk.index == i and chunk.source == "corpus/001_25be9a378fdd6919.txt"
        assert chunk.title == "Technology Plan vs IT Strategy" and len(chunk.content_hash) == 64


def test_default_chunks_are_in_the_200_to_300_token_range_or_a_whole_section() -> None:
    for path in sorted(BUNDLED_CORPUS.glob("*.txt")):
        for chunk in _chunks(path.name, path.stem):
            assert 5 <= chunk.tokens <= 256 + 32
