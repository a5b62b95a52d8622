"""Each supported format, generated with its own library, loads into the shape the chunker
uses: headings become section paths, wrapped lines whole sentences, boilerplate is gone."""

from __future__ import annotations

from pathlib import Path

from bot.runtime.text import SECTION_SEP, units
from ingest.chunk import Chunk, chunk_text
from ingest.clean import clean_text
from ingest.load import RawDocument, load_paths
from tests.ingest.docs import (
    SPHINX_HTML,
    TRAVEL_PAGES,
    WRAPPED_MD,
    write_docx,
    write_paged_pdf,
    write_pdf,
    write_pptx,
    write_scanned_pdf,
)


def _load_one(path: Path) -> RawDocument:
    result = load_paths([path.parent], path.parent, 10_000_000)
    assert not result.problems, result.problems
    (doc,) = result.documents
    return doc


def _chunks(doc: RawDocument) -> list[Chunk]:
    return chunk_text(clean_text(doc.text), source=doc.source, title=doc.title)


def _sentences(chunks: list[Chunk]) -> list[str]:
    return [u.text for c in chunks for u in units(c.text) if u.kind == "sentence"]


def test_wrapped_markdown_is_whole_sentences_with_markup_reduced(tmp_path: Path) -> None:
    path = tmp_path / "cloud.md"
    path.write_text(WRAPPED_MD)
    doc = _load_one(path)
    chunks = _chunks(doc)
    sentences = _sentences(chunks)
    assert doc.title == "Cloud Migration Basics"
    assert (
        "Cloud migration is the process of moving applications, data and infrastructure "
        "from an on-premises data centre to the cloud." in sentences
    )
    assert (
        "The six Rs of cloud migration are Rehost, Replatform, Repurchase, Refactor, "
        "Retire and Retain." in sentences
    )
    assert not any(s.endswith((" an.", " from an", " our")) for s in sentences)
    text = "\n".join(c.text for c in chunks)
    assert "**" not in text and "](" not in text and "#" not in text
    # list items and wrapped lines are not section names; the real heading is
    assert {c.section for c in chunks} <= {"", "The six Rs"}
    assert any(
        c.section == "The six Rs" and "Retain keeps an application" in c.text for c in chunks
    )


def test_html_keeps_the_page_and_drops_its_navigation_and_footer(tmp_path: Path) -> None:
    path = tmp_path / "venv.html"
    path.write_text(SPHINX_HTML)
    doc = _load_one(path)
    assert doc.title == "4. Virtual Environments"  # the page's <title>, without the site
    text = "\n".join(c.text for c in _chunks(doc))
    for boilerplate in ("Home", "Blog", "Contact", "Previous topic", "Show Source", "Copyright",
                        "Sphinx", "Privacy", "Share this", "Table of Contents", "modules", "¶",
                        "var x", "color: red"):  # fmt: skip
        assert boilerplate not in text, boilerplate
    assert "python3 -m venv tutorial-env" in _sentences(_chunks(doc))  # a command is quotable
    assert "Unix or MacOS | source tutorial-env/bin/activate |" in text.splitlines()
    assert (
        "The module used to create and manage virtual environments is called venv."
        in _sentences(_chunks(doc))
    )
    sections = {c.section for c in _chunks(doc)}
    assert "Creating Virtual Environments" in sections


BLOG_WITH_MAIN = """<!DOCTYPE html><html><head><title>Cloud Cost Governance | Example Blog</title></head>
<body><div class="cookie-banner">We use cookies. <a href="#">Accept all</a></div>
<main>
<div class="entry-header"><h1>Cloud Cost Governance</h1></div>
<article>
<p>Cloud cost governance is the set of policies, roles and tools that keep cloud spending
predictable and tied to business value.</p>
<h2>Who owns the cloud bill?</h2>
<p>Each product team owns the resources it creates, and a central FinOps function reports the
spend per team every week.</p>
</article>
<section id="comments" class="comments-area"><h2>3 thoughts on this post</h2>
<p>Great article! Visit my shop for cheap watches.</p></section>
<div class="sidebar-widgets"><h3>Popular posts</h3><p>Kubernetes on a budget</p></div>
</main></body></html>
"""


def test_html_main_element_is_taken_without_its_comments_and_sidebar(tmp_path: Path) -> None:
    # A page that marks its <main> is taken whole; comments and widgets inside it are page
    # furniture all the same, while the header that holds the page's <h1> stays.
    path = tmp_path / "blog.html"
    path.write_text(BLOG_WITH_MAIN)
    doc = _load_one(path)
    for furniture in ("thoughts on this post", "cheap watches", "Popular posts", "Kubernetes",
                      "cookies"):  # fmt: skip
        assert furniture not in doc.text, furniture
    assert "# Cloud Cost Governance" in doc.text
    sentences = _sentences(_chunks(doc))
    assert any(s.startswith("Each product team owns the resources it creates") for s in sentences)


def test_pdf_outline_gives_section_paths_and_lines_are_joined(tmp_path: Path) -> None:
    doc = _load_one(write_pdf(tmp_path / "handbook.pdf"))
    assert doc.title == "Procurement Handbook" and doc.format == "pdf"
    chunks = _chunks(doc)
    by_section = {c.section: c.text for c in chunks}
    renewal = f"Vendor Selection{SECTION_SEP}Contract Renewal"
    assert renewal in by_section, by_section.keys()
    assert "Contracts are reviewed ninety days before they expire." in _sentences(chunks)
    assert (
        "The assessment is written down and kept for three years so that auditors can "
        "follow each decision later." in _sentences(chunks)
    )


def test_pdf_running_header_and_numbered_footer_are_dropped(tmp_path: Path) -> None:
    # The footer differs on every page only by its number: it is still a running line.
    doc = _load_one(write_paged_pdf(tmp_path / "travel.pdf"))
    assert "Acme Travel Policy" not in doc.text
    assert "Revision 3" not in doc.text and "Page 2 of 4" not in doc.text
    for text in TRAVEL_PAGES:
        assert text in _sentences(_chunks(doc))


def test_scanned_pdf_is_refused_with_no_text_layer(tmp_path: Path) -> None:
    path = write_scanned_pdf(tmp_path / "scan.pdf")
    result = load_paths([tmp_path], tmp_path, 10_000_000)
    assert not result.documents
    (problem,) = result.problems
    assert problem.path == str(path) and "no text layer" in problem.reason
    assert result.skipped == {"no text": 1}


def test_docx_headings_lists_and_tables(tmp_path: Path) -> None:
    doc = _load_one(write_docx(tmp_path / "policy.docx"))
    assert doc.title == "Remote Work Policy" and doc.format == "docx"
    chunks = _chunks(doc)
    sections: dict[str, str] = {}
    for chunk in chunks:
        sections[chunk.section] = sections.get(chunk.section, "") + chunk.text + "\n"
    rules = f"Equipment{SECTION_SEP}Security rules"
    assert rules in sections, sections.keys()
    assert "- Use the company VPN on public networks." in sections[rules].splitlines()
    assert "EU | 300 euros |" in sections[rules].splitlines()
    assert any("monitor allowance of 300 euros" in s for s in _sentences(chunks))


def test_pptx_slide_titles_are_headings(tmp_path: Path) -> None:
    doc = _load_one(write_pptx(tmp_path / "plan.pptx"))
    assert doc.title == "Quarterly Hiring Plan"
    assert "- Interviews always include a pairing session." in doc.text.splitlines()


def test_symlinks_are_followed_only_inside_the_corpus_root(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "app"
    corpus.mkdir()
    outside.mkdir()
    (outside / ".env").write_text("OPENAI_API_KEY=sk-secret-value\n")
    (outside / "notes.txt").write_text("Secret notes outside the corpus.\n")
    (corpus / "real.txt").write_text("The real document of the corpus.\n")
    (corpus / "env.txt").symlink_to(outside / ".env")
    (corpus / "linked_dir").symlink_to(outside, target_is_directory=True)
    (corpus / "alias.txt").symlink_to(corpus / "real.txt")
    result = load_paths([corpus], corpus, 10_000)
    assert [d.path.name for d in result.documents] == ["alias.txt"] or [
        d.path.name for d in result.documents
    ] == ["real.txt"]  # one document for one real file, whichever name is met first
    refused = {Path(p.path).name: p for p in result.problems}
    assert set(refused) == {"env.txt", "linked_dir"}
    assert all(p.kind == "outside root" for p in refused.values())
    assert "sk-secret-value" not in " ".join(d.text for d in result.documents)


def test_hard_wrapped_text_is_rejoined_but_one_line_paragraphs_are_kept(tmp_path: Path) -> None:
    wrapped = tmp_path / "wrapped.txt"
    wrapped.write_text(
        "Backup Policy\n\n"
        "Every production database is backed up each night to a second region, and\n"
        "the copies are kept for thirty-five days. Restores are tested once a\n"
        "month by the operations team on a randomly chosen database.\n\n"
        "- Backups are encrypted with keys that the security team\n"
        "  rotates every year.\n"
        "- Restore tests are logged.\n"
    )
    doc = _load_one(wrapped)
    sentences = _sentences(_chunks(doc))
    assert (
        "Every production database is backed up each night to a second region, and the "
        "copies are kept for thirty-five days." in sentences
    )
    assert "- Backups are encrypted with keys that the security team rotates every year." in (
        doc.text.splitlines()
    )
    flat = tmp_path / "flat" / "flat.txt"
    flat.parent.mkdir()
    body = "A paragraph written on one line, as editors with soft wrapping save it. " * 3
    flat.write_text(f"Title\n{body.strip()}\nSecond line that stays a line of its own.\n")
    assert _load_one(flat).text == flat.read_text()


def test_markdown_front_matter_gives_the_title_and_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("---\ntitle: Release Checklist\ntags: [ops]\n---\n\nShip on Tuesdays only.\n")
    doc = _load_one(path)
    assert doc.title == "Release Checklist"
    assert doc.text == "Ship on Tuesdays only.\n"


def test_a_bold_only_paragraph_names_its_section(tmp_path: Path) -> None:
    page = tmp_path / "features.html"
    page.write_text(
        "<html><head><title>Features</title></head><body><h1>Features</h1>"
        "<p><b>Zero configuration</b></p><p>Nothing needs to be installed before use.</p>"
        "<p><strong>Single file</strong></p><p>A database is one ordinary disk file.</p>"
        "<p>Some <b>bold</b> words inside a sentence stay prose.</p></body></html>"
    )
    chunks = _chunks(_load_one(page))
    sections = {c.section for c in chunks if "one ordinary disk file" in c.text}
    assert sections == {"Single file"}, [c.section for c in chunks]
    assert any("Some bold words inside a sentence stay prose." in c.text for c in chunks)


def test_a_fifo_in_the_corpus_is_reported_not_read(tmp_path: Path) -> None:
    import os

    (tmp_path / "real.txt").write_text("A real document about backups.\n")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block the ingest forever
    result = load_paths([tmp_path], tmp_path, 10_000)
    assert [d.path.name for d in result.documents] == ["real.txt"]
    assert [(Path(p.path).name, p.reason) for p in result.problems] == [
        ("pipe.txt", "not a regular file")
    ]
