"""Loading: supported formats, recursion, and one clear problem per bad file."""

from __future__ import annotations

from pathlib import Path

from bot.runtime.settings import BUNDLED_CORPUS
from ingest.load import html_to_text, load_paths


def test_bundled_corpus_loads_with_manifest_titles() -> None:
    result = load_paths([BUNDLED_CORPUS], BUNDLED_CORPUS, 10_000_000)
    assert not result.problems
    assert [d.source for d in result.documents] == [
        "corpus/000_a56ff1d7635db02c.txt",
        "corpus/001_25be9a378fdd6919.txt",
        "corpus/002_f80cd6e36aac58a4.txt",
        "corpus/003_d0f496de172dece6.txt",
        "corpus/004_bca376693a3bac81.txt",
    ]
    titles = {d.source: d.title for d in result.documents}
    assert (
        titles["corpus/004_bca376693a3bac81.txt"] == "IT Transformation vs Digital Transformation"
    )
    assert "manifest.toml" not in " ".join(titles)


def test_html_drops_scripts_and_styles_and_keeps_blocks() -> None:
    html = """<html><head><style>p{color:red}</style><title>t</title></head><body>
    <h1>Heading</h1><script>alert('x')</script><p>First paragraph.</p><p>Second one.</p>
    <table><tr><th>Aspect</th><th>IT</th></tr><tr><td>Scope</td><td>Internal</td></tr></table>
    </body></html>"""
    text = html_to_text(html)
    assert "alert" not in text and "color:red" not in text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert "# Heading" in lines and "First paragraph." in lines and "Second one." in lines
    assert "Aspect | IT |" in lines and "Scope | Internal |" in lines


def test_markdown_and_nested_folders_are_found(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "note.md").write_text("# Title\n\nBody text here.\n")
    (tmp_path / "a" / "notes.odt").write_bytes(b"PK")
    result = load_paths([tmp_path], tmp_path, 10_000)
    assert [d.title for d in result.documents] == ["Title"]
    assert [(Path(p.path).name, p.kind) for p in result.problems] == [
        ("notes.odt", "unsupported type")
    ]
    assert result.documents[0].source.endswith("a/b/note.md")


def test_each_bad_file_gets_one_clear_reason_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("A real sentence about IT strategy.\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02abc")
    (tmp_path / "huge.txt").write_text("x" * 2_000)
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 strategy notes.".encode("latin-1"))
    missing = tmp_path / "nope.txt"
    result = load_paths([tmp_path, missing], tmp_path, 1_000)
    reasons = {Path(p.path).name: p.reason for p in result.problems}
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "exceeds the limit of 1,000" in reasons["huge.txt"]
    assert "not valid UTF-8" in reasons["latin1.txt"]
    assert "no such file" in reasons["nope.txt"]
    assert result.missing_paths == [str(missing)]
    loaded = sorted(d.path.name for d in result.documents)
    assert loaded == ["good.txt", "latin1.txt"]
    assert "Café" in next(d.text for d in result.documents if d.path.name == "latin1.txt")
