"""Structure-aware chunking sized in tiktoken tokens.

Cleaned text is parsed into headings, paragraphs, bullet lists and pipe tables. A document
from a structured loader (Markdown, HTML, PDF outline, Word, PowerPoint) marks its headings
`#`…`######` (see `ingest/loaders/shape.py`): then only those lines are headings, at their
marked level, and the marker is dropped from the chunk text. Plain text has no markup, so its
headings are recognised by shape (plain, numbered, indented sub-items such as
"   1. Focus:"). Pieces are packed into chunks that never cross a top-level section, stay
under the token target, and carry their section path.
Oversized paragraphs fall back to LangChain's token-aware recursive splitter; oversized
tables are split by rows with the header row repeated.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

from langchain_text_splitters import RecursiveCharacterTextSplitter

from bot.runtime.text import SECTION_SEP, ChunkRecord, sentences
from bot.runtime.tokens import count_tokens, get_encoding

_NUMBERED = re.compile(r"^(?P<indent>\s*)(?P<num>\d{1,2})[.)]\s+(?P<name>.+)$")
_BULLET = re.compile(r"^\s*(?:[•\-*·▪◦]|\d{1,2}[.)])\s+\S")
_ATX = re.compile(r"^(?P<marks>#{1,6})\s+(?P<name>\S.*)$")
_SECTION_NUMBER = re.compile(r"^\d{1,3}(?:\.\d{1,3})*\.?\s+(?=\S)")  # "4.1. Creating…"


@dataclass(frozen=True)
class Chunk(ChunkRecord):
    """One retrievable unit of a document as the ingest makes it: a `ChunkRecord` plus its
    size and the hash of its text."""

    tokens: int
    content_hash: str


@dataclass
class _Piece:
    text: str
    path: tuple[str, ...]
    tokens: int
    kind: str = "text"  # "text" | "table"
    lines: list[str] = field(default_factory=list)


def _is_table_line(line: str) -> bool:
    return line.count("|") >= 2


def _heading_name(line: str) -> str:
    name = _NUMBERED.sub(r"\g<name>", line.strip())
    return name.strip().rstrip(":").strip()


def _heading_level(line: str, marked: bool = False) -> int | None:
    """Level of a heading line (1 plain, 2+ numbered by indentation), or None for prose.

    In a `marked` document only `#` lines are headings, at the level of their marker.
    """
    if marked:
        atx = _ATX.match(line)
        return len(atx.group("marks")) if atx else None
    stripped = line.strip()
    words = stripped.split()
    if not words or len(words) > 12 or _is_table_line(stripped):
        return None
    if stripped[-1] in ".!;," or ", " in stripped or stripped.startswith(("•", "-", "*")):
        return None
    numbered = _NUMBERED.match(line)
    if numbered:
        indent = len(numbered.group("indent").expandtabs(4))
        return 2 + (1 if indent else 0) + indent // 4
    if stripped.endswith(":") and len(words) > 6:
        return None  # a sentence introducing a list, not a heading
    if not (stripped[0].isupper() or stripped[0].isdigit()):
        return None
    return 1


def _parse(text: str, title: str, encoding: str) -> list[_Piece]:
    """Pieces of a cleaned document, each tagged with its section path."""
    stack: list[tuple[int, str]] = []
    pieces: list[_Piece] = []
    pending_headings: list[str] = []  # heading lines waiting to be glued to their first body
    lines = text.splitlines()
    marked = any(_ATX.match(line) for line in lines)
    title_key = re.sub(r"\W+", "", title.lower())
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        if _is_table_line(stripped):
            rows = []
            while i < len(lines) and _is_table_line(lines[i].strip()):
                rows.append(lines[i].strip())
                i += 1
            body = "\n".join(pending_headings + rows)
            pending_headings = []
            path = tuple(name for _, name in stack)
            pieces.append(_Piece(body, path, count_tokens(body, encoding), "table", rows))
            continue
        level = _heading_level(line, marked)
        if level is not None:
            if marked:
                stripped = _ATX.sub(r"\g<name>", stripped).strip()
                name = _SECTION_NUMBER.sub("", stripped).rstrip(":").strip()
            else:
                name = _heading_name(stripped)
            keys = {re.sub(r"\W+", "", n.lower()) for n in (name, stripped)}
            if title_key in keys or not name:
                i += 1
                continue  # the document's own title line is not a section
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, name))
            pending_headings.append(stripped)
            i += 1
            continue
        if _BULLET.match(line):
            items = []
            while i < len(lines) and lines[i].strip() and _BULLET.match(lines[i]):
                items.append(lines[i].strip())
                i += 1
            body = "\n".join(pending_headings + items)
        else:
            body = "\n".join([*pending_headings, stripped])
            i += 1
        pending_headings = []
        path = tuple(name for _, name in stack)
        pieces.append(_Piece(body, path, count_tokens(body, encoding)))
    if pending_headings:  # a trailing heading with no body still carries words worth finding
        body = "\n".join(pending_headings)
        pieces.append(_Piece(body, tuple(n for _, n in stack), count_tokens(body, encoding)))
    return pieces


@lru_cache(maxsize=8)
def _splitter(encoding: str, size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    get_encoding(encoding)  # make sure the BPE file is seeded before LangChain asks tiktoken
    return RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name=encoding,
        chunk_size=size,
        chunk_overlap=overlap,
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
    )


def _split_oversized(piece: _Piece, size: int, overlap: int, encoding: str) -> list[_Piece]:
    if piece.tokens <= size:
        return [piece]
    if piece.kind == "table" and len(piece.lines) > 2:
        header, rows = piece.lines[0], piece.lines[1:]
        out: list[_Piece] = []
        current: list[str] = []
        for row in rows:
            candidate = "\n".join([header, *current, row])
            if current and count_tokens(candidate, encoding) > size:
                body = "\n".join([header, *current])
                out.append(_Piece(body, piece.path, count_tokens(body, encoding), "table"))
                current = []
            current.append(row)
        body = "\n".join([header, *current])
        out.append(_Piece(body, piece.path, count_tokens(body, encoding), "table"))
        return out
    parts = _splitter(encoding, size, overlap).split_text(piece.text)
    return [_Piece(p.strip(), piece.path, count_tokens(p, encoding)) for p in parts if p.strip()]


def _tail_overlap(text: str, budget: int, encoding: str) -> str:
    """The last whole sentences of `text` that fit in `budget` tokens (for chunk overlap)."""
    if budget <= 0:
        return ""
    tail: list[str] = []
    for sentence in reversed(sentences(text.splitlines()[-1])):
        if count_tokens(" ".join([sentence, *tail]), encoding) > budget:
            break
        tail.insert(0, sentence)
    return " ".join(tail)


def _section_label(paths: list[tuple[str, ...]]) -> str:
    """Common section path of a chunk's pieces, with differing sub-sections listed."""
    paths = [p for p in paths if p] or [()]
    common: list[str] = []
    for names in zip(*paths, strict=False):
        if len(set(names)) != 1:
            break
        common.append(names[0])
    children = list(dict.fromkeys(p[len(common)] for p in paths if len(p) > len(common)))
    label = SECTION_SEP.join(common)
    if children:
        extra = ", ".join(children[:3]) + ("…" if len(children) > 3 else "")
        label = f"{label}{SECTION_SEP}{extra}" if label else extra
    return label


def chunk_text(
    text: str,
    *,
    source: str,
    title: str,
    chunk_tokens: int = 256,
    chunk_overlap: int = 32,
    encoding: str = "cl100k_base",
) -> list[Chunk]:
    """Chunks of one cleaned document, in reading order, with deterministic ids."""
    pieces: list[_Piece] = []
    for piece in _parse(text, title, encoding):
        pieces.extend(_split_oversized(piece, chunk_tokens, chunk_overlap, encoding))

    groups: list[list[_Piece]] = []
    for piece in pieces:
        current = groups[-1] if groups else None
        fits = current is not None and (
            sum(p.tokens for p in current) + piece.tokens <= chunk_tokens
            and current[-1].path[:1] == piece.path[:1]
            and piece.kind != "table"
            and current[-1].kind != "table"
        )
        if fits and current is not None:
            current.append(piece)
        else:
            if current and current[-1].path[:1] == piece.path[:1] and piece.kind == "text":
                # Split inside one section: repeat the tail of the previous chunk for context.
                tail = _tail_overlap(current[-1].text, chunk_overlap, encoding)
                if tail and tail != piece.text:
                    body = f"{tail}\n{piece.text}"
                    piece = _Piece(body, piece.path, count_tokens(body, encoding))
            groups.append([piece])

    chunks = []
    for index, group in enumerate(groups):
        body = "\n".join(p.text for p in group)
        digest = hashlib.sha256(body.encode()).hexdigest()
        chunk_id = hashlib.sha1(f"{source}\x00{index}\x00{digest}".encode()).hexdigest()[:24]
        chunks.append(
            Chunk(
                id=chunk_id,
                text=body,
                source=source,
                title=title,
                section=_section_label([p.path for p in group]),
                index=index,
                tokens=count_tokens(body, encoding),
                content_hash=digest,
            )
        )
    return chunks
