"""HTML pages: the main content picked by readability-lxml (the Readability algorithm:
scores blocks by text and link density, drops sidebars, menus and footers), then walked with
BeautifulSoup into the shared shape. On top, from the HTML structure only: `nav`, `header`
(without a heading), `footer`, `aside`, forms and ARIA navigation/banner/contentinfo regions
are dropped, blocks made mostly of links are dropped, and permalink anchors (a link whose text
is one symbol, such as "¶") are removed. The title is the page's `<title>`, shortened by
readability to the page's own part ("Page — Site" -> "Page")."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Doctype

from ingest.loaders.shape import Blocks, Loaded, LoaderError
from ingest.loaders.text import decode

log = logging.getLogger(__name__)

_DROP_TAGS = ["script", "style", "noscript", "template", "svg", "canvas", "head", "nav", "aside",
              "footer", "form", "button", "input", "select", "textarea", "iframe", "object"]  # fmt: skip
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCK = {
    *_HEADINGS,
    *("p", "div", "section", "article", "main", "ul", "ol", "li", "table", "pre", "blockquote"),
    *("dl", "dt", "dd", "figure", "figcaption", "hr", "center", "details", "summary", "header"),
    *("tbody", "thead", "tfoot", "tr", "td", "th", "caption", "address", "body", "html"),
}
_CONTAINERS = ("div", "ul", "ol", "table", "section", "p", "dl", "td")
# A block whose text is mostly link text, with several links, is navigation.
LINK_DENSITY = 0.6
MIN_LINKS = 3
# If the readability pick holds less than this share of the page's cleaned text, it missed
# the content (e.g. a page of many short sections) and the whole cleaned body is used.
MIN_MAIN_SHARE = 0.3
_SYMBOL = re.compile(r"[^\w\s]{1,2}")
_PROTECTED = ["table", "ul", "ol", "dl", "pre"]
_MARK = "\u2063kb"  # invisible separator + tag: cannot occur in real page text
_PLACEHOLDER = re.compile(rf"\s*{_MARK}(\d+){_MARK}")


def _text(node: Tag) -> str:
    return " ".join(node.get_text(" ", strip=True).split())


def _prune(soup: BeautifulSoup | Tag) -> None:
    """Remove boilerplate found from the HTML structure."""
    for node in soup.find_all(string=lambda s: isinstance(s, Comment | Doctype)):
        node.extract()
    for br in soup.find_all("br"):
        br.replace_with("\n")  # a line break: a space in prose, a new line in <pre>
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": True}):
        if not tag.decomposed and str(tag.get("role")).lower() in _DROP_ROLES:
            tag.decompose()
    for tag in soup.find_all(attrs={"hidden": True}):
        if not tag.decomposed:
            tag.decompose()
    for tag in soup.find_all(attrs={"aria-hidden": "true"}):
        if not tag.decomposed:
            tag.decompose()
    for tag in soup.find_all("header"):
        if not tag.decomposed and not tag.find(list(_HEADINGS)):
            tag.decompose()
    for link in soup.find_all("a"):
        if not link.decomposed and _SYMBOL.fullmatch(link.get_text(strip=True) or "x"):
            link.decompose()  # permalink anchors: "¶", "#", "§"
    for tag in soup.find_all(_CONTAINERS):
        if tag.decomposed or tag.find(list(_HEADINGS)):
            continue
        links = tag.find_all("a")
        if len(links) < MIN_LINKS:
            continue
        total = len(_text(tag))
        linked = sum(len(_text(a)) for a in links)
        if total and linked / total >= LINK_DENSITY:
            tag.decompose()


def _all_bold(node: Tag) -> bool:
    """True when every visible piece of text in `node` sits inside <b> or <strong>."""
    pieces = [t for t in node.find_all(string=True) if t.strip()]
    return bool(pieces) and all(
        any(p.name in ("b", "strong") for p in t.parents if p is not node and node in p.parents)
        for t in pieces
    )


def _is_data_table(table: Tag) -> bool:
    """A table of data, not one used for page layout."""
    return table.find(["table", "p", "ul", "ol", "pre", "div", *_HEADINGS]) is None


def _walk(node: Tag, blocks: Blocks, depth: int = -1) -> None:
    """Append `node`'s children to `blocks` in reading order."""
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            blocks.paragraph(" ".join(buffer))
            buffer.clear()

    for child in node.children:
        if isinstance(child, NavigableString):
            buffer.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name not in _BLOCK:
            buffer.append(child.get_text())
            continue
        flush()
        if name in _HEADINGS:
            blocks.heading(_HEADINGS[name], child.get_text())
        elif name in ("ul", "ol"):
            _list(child, blocks, depth + 1)
            if depth < 0:
                blocks.end_group()
        elif name == "li":  # a stray item outside a list
            _item(child, blocks, max(depth, 0))
        elif name == "pre":
            blocks.code(child.get_text())
        elif name == "table" and _is_data_table(child):
            for tr in child.find_all("tr"):
                blocks.row([c.get_text(" ") for c in tr.find_all(["th", "td"])])
            blocks.end_group()
        elif name == "hr" or (name == "p" and _all_bold(child) and blocks.label(child.get_text())):
            continue  # a rule, or a bold-only paragraph just added as a sub-heading
        else:
            _walk(child, blocks, depth)
    flush()


def _list(node: Tag, blocks: Blocks, depth: int) -> None:
    for child in node.find_all("li", recursive=False):
        _item(child, blocks, depth)


def _item(li: Tag, blocks: Blocks, depth: int) -> None:
    """A list item: its inline text as a `- ` line; block content after it in order."""
    lead: list[str] = []
    rest: list[Tag] = []
    for child in li.children:
        if isinstance(child, Tag) and child.name in _BLOCK:
            if not lead and not rest and child.name == "p":
                lead.append(child.get_text())  # "<li><p>text</p>…" — the text is the item
            else:
                rest.append(child)
        elif not rest:
            lead.append(child.get_text() if isinstance(child, Tag) else str(child))
        else:
            rest.append(child)  # type: ignore[arg-type]
    blocks.item(" ".join(lead), depth)
    for child in rest:
        if isinstance(child, Tag) and child.name in ("ul", "ol"):
            _list(child, blocks, depth + 1)
        elif isinstance(child, Tag):
            holder = BeautifulSoup("", "html.parser").new_tag("div")
            holder.append(child.__copy__())
            _walk(holder, blocks, depth)
        elif str(child).strip():
            blocks.paragraph(str(child))


def _main_content(body: Tag, html: str) -> Tag:
    """The page's main content: its `<main>` (or single `<article>`) when it marks one, else
    readability's pick. Readability also drops short lists and tables it judges thin, which
    are often the heart of a page, so those go through it as placeholder paragraphs carrying
    their text (for its scoring) and come back whole afterwards."""
    from readability import Document  # readability-lxml

    marked = body.find_all("main") or body.find_all(attrs={"role": "main"})
    articles = body.find_all("article")
    if len(marked) == 1 or (not marked and len(articles) == 1):
        return _drop_unlikely((marked or articles)[0])
    kept: list[Tag] = []
    for tag in body.find_all(_PROTECTED):
        if tag.find_parent(_PROTECTED) is None:
            holder = BeautifulSoup("", "html.parser").new_tag("p")
            holder.string = f"{_MARK}{len(kept)}{_MARK} {_text(tag)}"
            kept.append(tag.replace_with(holder))
    try:
        picked = BeautifulSoup(Document(str(body)).summary(html_partial=True), "html.parser")
    except Exception as exc:  # readability raises on pages it cannot parse; keep the body
        log.debug("readability failed (%s); using the whole body", exc)
        picked = None
    for holder in (picked or body).find_all("p"):
        found = _PLACEHOLDER.match(holder.get_text())
        if found:
            holder.replace_with(kept[int(found.group(1))])
    if picked is None or len(_text(picked)) < MIN_MAIN_SHARE * len(_text(body)):
        return _drop_unlikely(body)
    return picked


def _drop_unlikely(main: Tag) -> Tag:
    """`main` without the page furniture readability itself discards before it scores:
    elements whose class or id reads as comments, a sidebar, a menu, a footer, a pager…
    (readability-lxml's own patterns). Readability drops them from what it picks, but a page
    that marks its `<main>` is taken whole, comments and all. An element holding the page's
    `<h1>` stays (an "entry-header" is the title, not furniture)."""
    from readability.readability import REGEXES  # readability-lxml

    unlikely, maybe = REGEXES["unlikelyCandidatesRe"], REGEXES["okMaybeItsACandidateRe"]
    for tag in main.find_all(True):
        if tag.decomposed or tag.name in ("html", "body", "main", "article"):
            continue
        cues = " ".join([*tag.get("class", []), str(tag.get("id", ""))])
        if unlikely.search(cues) and not maybe.search(cues) and not tag.find("h1"):
            tag.decompose()
    return main


def html_blocks(html: str) -> tuple[Blocks, str]:
    """The page `html` as blocks, and its title ("" if it has none)."""
    from readability import Document  # readability-lxml

    soup = BeautifulSoup(html, "html.parser")
    title = ""
    if soup.title and soup.title.get_text(strip=True):
        try:
            title = Document(html).short_title()  # "Page — Site" -> "Page"
        except Exception:
            title = soup.title.get_text(strip=True)
    body = soup.find("body") or soup
    _prune(body)
    blocks = Blocks()
    _walk(_main_content(body, html), blocks)
    return blocks, " ".join(title.split())


def html_to_text(html: str) -> str:
    """Visible main text of an HTML page in the shared shape."""
    return html_blocks(html)[0].render()


def load(data: bytes, path: Path) -> Loaded:
    """An HTML page in the shared shape; its title from `<title>`, else its first heading."""
    source, warnings = decode(data)
    try:
        blocks, title = html_blocks(source)
    except (ValueError, TypeError) as exc:
        raise LoaderError(f"cannot parse HTML: {exc}") from exc
    return Loaded(text=blocks.render(), title=title or blocks.first_heading(), warnings=warnings)
