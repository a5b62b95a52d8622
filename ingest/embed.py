"""Vectors for a batch of chunks and their quotable units (sentences, table rows).

Three ways (`method`):
- "units" (what ingest uses): one embedding pass over short texts only: each chunk's units
  (table rows spelled out with their header), its headings and its context line (title ›
  section). A unit's vector is its own; the chunk's vector is the normalised mean of its texts'
  vectors weighted by length, the context line `HEAD_WEIGHT` times (MiniLM reads a whole chunk
  through its opening line: with it weighted so, the mean's cosine to the chunk's own vector
  rose from 0.88 to ~0.91 on the seed corpus). A text met twice in a batch (the overlap between
  chunks, repeated context lines) is embedded once. Short inputs cost no more than the chunk
  pass they replace, so ingest embeds about as much as a plain RAG ingest of the chunk texts.
  Measured against "separate" (2026-11-24, `kb eval`, separate -> units): seed dev hit@1
  0.897 -> 0.897, hit@5 0.983 -> 0.966, MRR 0.932 -> 0.928, key-fact recall 0.695 -> 0.695;
  seed test hit@1 0.912 -> 0.912, MRR 0.950 -> 0.950, key-fact 0.775 -> 0.784; SQLite pages dev
  hit@1 0.900 -> 0.950, key-fact 0.717 -> 0.750; SQLite pages test hit@1 0.850 -> 0.850,
  key-fact 0.950 -> 0.900 (one answer quotes another true sentence of the right page).
  Context-line weight 1: seed dev MRR 0.925;
  8: hit@1 0.879; unweighted mean: MRR 0.917; no context line: hit@5 0.948.
- "separate": the chunk text is embedded whole and each unit again on its own (two passes).
- "pooled" (measured by evals/bench.py): the ONNX model's token states of the chunk's own pass
  are mean-pooled over each sentence's span. It costs answer quality (2026-11-24, separate ->
  pooled): dev classification accuracy 0.933 -> 0.867, abstention precision 1.0 -> 0.938, hit@1
  0.914 -> 0.897; test key-fact recall 0.675 -> 0.602. A token read inside its chunk means
  something else than in its sentence alone (cosine to the standalone vector ~0.71), and the
  answer thresholds are calibrated on standalone unit vectors, which "units" keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.runtime.embeddings import embed_array, embed_with_spans
from bot.runtime.text import Unit, row_as_sentence, units
from ingest.chunk import Chunk

HEAD_WEIGHT = 4.0  # the context line's weight per character in a chunk's vector (tuned on dev)


@dataclass(frozen=True)
class UnitRow:
    """A quotable unit of a chunk, ready for the units collection."""

    id: str
    unit: Unit
    chunk: Chunk


def unit_rows(chunk: Chunk, with_headings: bool = False) -> list[tuple[UnitRow, str | None]]:
    """(row, text to embed instead of the unit's own text, if any) of a chunk's units
    (headings are not quotable units; they are listed only `with_headings`)."""
    found = units(chunk.text)
    header = next((u.text for u in found if u.kind == "row"), None)
    rows: list[tuple[UnitRow, str | None]] = []
    for unit in found:
        if unit.kind == "heading" and not with_headings:
            continue
        # A bare row ("Ownership | CTO, IT department | …") embeds poorly; with its header
        # spelled out it reads as the sentence it stands for.
        alt = row_as_sentence(unit.text, header) if unit.kind == "row" else None
        rows.append((UnitRow(f"{chunk.id}:{unit.position}", unit, chunk), alt))
    return rows


def _from_units(
    embeddings: Embeddings, chunks: list[Chunk]
) -> tuple[np.ndarray, list[UnitRow], np.ndarray]:
    """(chunk vectors, unit rows, unit vectors) from one pass over short texts only."""
    rows: list[UnitRow] = []
    row_text: list[int] = []  # per unit row: its text's index in `texts`
    parts: list[list[tuple[int, float]]] = []  # per chunk: (text index, weight)
    texts: list[str] = []
    first_seen: dict[str, int] = {}

    def index_of(text: str) -> int:
        at = first_seen.setdefault(text, len(texts))
        if at == len(texts):
            texts.append(text)
        return at

    for chunk in chunks:
        mine: list[tuple[int, float]] = []
        head = chunk.embed_text()[: len(chunk.embed_text()) - len(chunk.text)].strip()
        if head:
            mine.append((index_of(head), HEAD_WEIGHT * len(head)))
        for row, alt in unit_rows(chunk, with_headings=True):
            k = index_of(alt if alt is not None else row.unit.text)
            mine.append((k, float(len(row.unit.text))))
            if row.unit.kind != "heading":
                rows.append(row)
                row_text.append(k)
        if len(mine) <= 1:  # no units: the chunk is embedded as it is
            mine = [(index_of(chunk.embed_text()), 1.0)]
        parts.append(mine)
    vectors = embed_array(embeddings, texts)
    dim = vectors.shape[1] if len(vectors) else int(getattr(embeddings, "dimension", 384))
    chunk_vecs = np.zeros((len(chunks), dim), np.float32)
    for i, mine in enumerate(parts):
        mean = np.sum([w * vectors[k] for k, w in mine], axis=0)
        chunk_vecs[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    unit_vecs = vectors[row_text] if row_text else np.zeros((0, dim), np.float32)
    return chunk_vecs, rows, unit_vecs


def embed_chunks(
    embeddings: Embeddings, chunks: list[Chunk], pooled: bool = False, method: str = "units"
) -> tuple[np.ndarray, list[UnitRow], np.ndarray]:
    """(chunk vectors, unit rows, unit vectors) for `chunks`; `pooled=True` means "pooled"."""
    method = "pooled" if pooled else method
    if method == "units":
        return _from_units(embeddings, chunks)
    if method not in ("separate", "pooled"):
        raise ValueError(f"unknown embedding method {method!r}")
    pooled = method == "pooled"
    texts = [c.embed_text() for c in chunks]
    rows: list[UnitRow] = []
    alone: list[str] = []  # texts embedded on their own
    first_seen: dict[str, int] = {}  # text -> its index in `alone`
    spans: list[list[tuple[int, int]]] = [[] for _ in chunks]
    source: list[tuple[int, int]] = []  # per unit row: (0, n) = n-th of `alone`, (1, n) = span
    n_spans = 0
    for i, chunk in enumerate(chunks):
        base = len(texts[i]) - len(chunk.text)  # the chunk text ends its embedded text
        cursor = 0
        for row, alt in unit_rows(chunk):
            rows.append(row)
            at = chunk.text.find(row.unit.text, cursor) if pooled and alt is None else -1
            if at < 0:
                # The same sentence often opens one chunk and ends the previous (the overlap):
                # it is embedded once.
                text = alt if alt is not None else row.unit.text
                source.append((0, first_seen.setdefault(text, len(alone))))
                if first_seen[text] == len(alone):
                    alone.append(text)
                continue
            cursor = at + len(row.unit.text)
            source.append((1, n_spans))
            spans[i].append((base + at, base + cursor))
            n_spans += 1
    if pooled:
        chunk_vecs, span_vecs = embed_with_spans(embeddings, texts, spans)
        alone_vecs = embed_array(embeddings, alone)
    else:
        # One call for both, so the embedder batches short and long texts together.
        both = embed_array(embeddings, texts + alone)
        chunk_vecs, alone_vecs = both[: len(texts)], both[len(texts) :]
        span_vecs = np.zeros((0, chunk_vecs.shape[1]), np.float32)
    dim = chunk_vecs.shape[1] if len(chunk_vecs) else 0
    unit_vecs = np.zeros((len(rows), dim), np.float32)
    for n, (kind, k) in enumerate(source):
        unit_vecs[n] = span_vecs[k] if kind else alone_vecs[k]
    return chunk_vecs, rows, unit_vecs
