"""Markdown through markdown-it-py (CommonMark plus tables; YAML front matter through
mdit-py-plugins): headings keep their level, paragraphs' soft-wrapped lines are joined,
`**bold**`, `_em_`, links and inline code are reduced to their text, list items become `- `
lines, tables pipe rows, code blocks lines. The front matter's `title`, if any, is the title."""

from __future__ import annotations

from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from ingest.loaders.shape import Blocks, Loaded, inline
from ingest.loaders.text import decode

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"]).use(front_matter_plugin)


def _front_matter_title(content: str) -> str:
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        return ""
    title = data.get("title") if isinstance(data, dict) else None
    return inline(str(title)) if title else ""


def _inline_text(token: Token) -> str:
    """Visible text of an inline token: markup dropped, soft and hard breaks as spaces."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)  # the alt text
        elif child.type in ("html_inline",):
            continue
    return "".join(parts)


def _all_bold(token: Token) -> bool:
    """An inline token that is one `**bold**` run and nothing else (a label line)."""
    kinds = [c.type for c in token.children or [] if c.type != "text" or c.content.strip()]
    return (
        len(kinds) >= 3
        and kinds[0] == "strong_open"
        and kinds[-1] == "strong_close"
        and (kinds.count("strong_open") == 1)
    )


def to_blocks(source: str) -> tuple[Blocks, str]:
    """The Markdown document `source` as blocks, and its front matter title ("" if none)."""
    blocks = Blocks()
    title = ""
    tokens = _PARSER.parse(source)
    depth = -1  # list nesting
    in_item = False  # inside a list item, before its first paragraph was taken as the item
    row: list[str] = []
    in_cell = False
    heading_level = 0
    for token in tokens:
        kind = token.type
        if kind == "front_matter":
            title = _front_matter_title(token.content)
        elif kind in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            if depth < 0:
                blocks.end_group()
        elif kind == "list_item_open":
            in_item = True
        elif kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind == "tr_open":
            row = []
        elif kind in ("th_open", "td_open"):
            in_cell = True
        elif kind in ("th_close", "td_close"):
            in_cell = False
        elif kind == "tr_close":
            blocks.row(row)
        elif kind == "table_close":
            blocks.end_group()
        elif kind == "inline":
            text = _inline_text(token)
            if heading_level:
                blocks.heading(heading_level, text)
                heading_level = 0
            elif in_cell:
                row.append(text)
            elif in_item:
                blocks.item(text, depth)
                in_item = False
            elif not (_all_bold(token) and blocks.label(text)):
                blocks.paragraph(text)
        elif kind in ("fence", "code_block"):
            blocks.code(token.content)
        elif kind == "html_block":
            continue
    return blocks, title


def load(data: bytes, path: Path) -> Loaded:
    """A Markdown file in the shared shape; its title from front matter or the first heading."""
    source, warnings = decode(data)
    blocks, title = to_blocks(source)
    title = title or blocks.first_heading()
    return Loaded(text=blocks.render(), title=title, warnings=warnings)
