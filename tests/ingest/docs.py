"""Real documents of each format, generated with the format's own library, for the tests."""

from __future__ import annotations

from pathlib import Path

WRAPPED_MD = """# Cloud Migration Basics

Cloud migration is the process of moving applications, data and
infrastructure from an on-premises data centre to the cloud. At our
company the cloud migration programme is led by the platform team and
reviewed every quarter by the architecture board.

## The six Rs

The six Rs of cloud migration are **Rehost**, **Replatform**,
**Repurchase**, **Refactor**, **Retire** and **Retain**. Each
application gets exactly one of them after an
[assessment](https://example.com/assessment).

- **Rehost** moves an application as it is, which is quick but
  keeps its old design.
- **Retain** keeps an application where it is for now, usually
  because it is about to be replaced.
"""

SPHINX_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>4. Virtual Environments &#8212; Example 3.11 documentation</title>
<script>var x = 1;</script><style>body {color: red}</style></head>
<body>
<div class="related" role="navigation"><h3>Navigation</h3><ul>
<li><a href="genindex.html">index</a></li><li><a href="modindex.html">modules</a> |</li>
<li><a href="index.html">Home</a> &#187;</li><li><a href="tutorial.html">Tutorial</a> &#187;</li></ul></div>
<header><a href="/">Home</a> | <a href="/blog">Blog</a> | <a href="/contact">Contact</a></header>
<div class="document"><div class="body" role="main">
<section id="venv"><h1>4. Virtual Environments<a class="headerlink" href="#venv">¶</a></h1>
<p>Applications will sometimes need a specific version of a library, because the
application may require that a particular bug has been fixed or the application may
be written using an obsolete version of the library's interface.</p>
<section id="create"><h2>4.1. Creating Virtual Environments<a class="headerlink" href="#create">¶</a></h2>
<p>The module used to create and manage virtual environments is called
<code>venv</code>. To create a virtual environment, decide upon a directory where you
want to place it, and run the <code>venv</code> module as a script with the directory path:</p>
<pre>python3 -m venv tutorial-env</pre>
<p>This will create the <code>tutorial-env</code> directory if it doesn't exist, and also
create directories inside it containing a copy of the Python interpreter.</p>
<table><tr><th>Platform</th><th>Activation command</th></tr>
<tr><td>Windows</td><td>tutorial-env\\Scripts\\activate</td></tr>
<tr><td>Unix or MacOS</td><td>source tutorial-env/bin/activate</td></tr></table>
</section></section></div></div>
<div class="sphinxsidebar" role="navigation"><h3>Table of Contents</h3><ul>
<li><a href="#venv">4. Virtual Environments</a></li><li><a href="#create">4.1. Creating</a></li>
<li><a href="pip.html">4.2. Managing Packages with pip</a></li></ul>
<h4>Previous topic</h4><p><a href="modules.html">3. Modules</a></p>
<div role="note"><h3>This Page</h3><ul><li><a href="bugs.html">Report a Bug</a></li>
<li><a href="_sources/venv.rst.txt">Show Source</a></li></ul></div></div>
<footer class="footer">&#169; Copyright 2001-2023, Example Foundation. Share this |
<a href="/privacy">Privacy policy</a>. Created using <a href="https://www.sphinx-doc.org/">Sphinx</a> 7.2.6.</footer>
</body></html>
"""

PDF_SECTIONS = [
    (
        "Vendor Selection",
        0,
        "Every new supplier is assessed against security, cost and exit "
        "criteria before a contract is signed. The assessment is written down and kept for "
        "three years so that auditors can follow each decision later.",
    ),
    (
        "Contract Renewal",
        1,
        "Contracts are reviewed ninety days before they expire. The owner "
        "of the service decides whether to renew, renegotiate or replace the vendor, and records "
        "the reason in the vendor register.",
    ),
]


def write_pdf(path: Path) -> Path:
    """A two-section PDF with an outline (bookmarks), a title and wrapped paragraphs."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Procurement Handbook")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for heading, level, text in PDF_SECTIONS:
        pdf.start_section(heading, level=level)
        pdf.set_font("Helvetica", style="B", size=14)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(90, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.output(str(path))
    return path


def write_scanned_pdf(path: Path) -> Path:
    """A PDF whose page holds only a drawing: no text layer, as a scan without OCR."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    """A Word file with a title, headings, a bullet list and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Remote Work Policy", level=0)
    document.add_heading("Equipment", level=1)
    document.add_paragraph(
        "Every employee who works remotely receives a laptop, a headset and a monitor "
        "allowance of 300 euros, paid once every four years."
    )
    document.add_heading("Security rules", level=2)
    document.add_paragraph("Lock the screen whenever you leave the device.", style="List Bullet")
    document.add_paragraph("Use the company VPN on public networks.", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Region", "Allowance"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "EU", "300 euros"
    document.save(str(path))
    return path


def write_pptx(path: Path) -> Path:
    """A one-slide deck with a title and two bullet points."""
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly Hiring Plan"
    body = slide.placeholders[1].text_frame
    body.text = "The engineering team hires four data engineers in the first quarter."
    body.add_paragraph().text = "Interviews always include a pairing session."
    deck.save(str(path))
    return path


TRAVEL_PAGES = [
    "Economy class is booked for every flight shorter than six hours.",
    "Hotel nights are reimbursed up to 140 euros in capital cities.",
    "Meals on travel days are covered by a daily allowance of 45 euros.",
    "Receipts are uploaded to the expense tool within ten working days.",
]


def write_paged_pdf(path: Path) -> Path:
    """A four-page PDF with a running header and a numbered footer on every page."""
    from fpdf import FPDF

    class Paged(FPDF):  # type: ignore[misc]
        def header(self) -> None:
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, "Acme Travel Policy - Internal", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, f"Acme Corp | Revision 3 | Page {self.page_no()} of 4")

    pdf = Paged()
    pdf.set_title("Travel Policy")
    for text in TRAVEL_PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path
