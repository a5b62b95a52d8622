"""Vectors for a batch of chunks and their quotable units (sentences, table rows).

Two ways to get sentence vectors:
- separate (what ingest uses): each sentence is embedded on its own, a second pass over the text.
- pooled (`pooled=True`, measured by evals/bench.py): the ONNX model's token states of the
  chunk's own pass are mean-pooled over each sentence's span, so sentences cost no second pass.
  It costs answer quality (2026-11-24, `kb eval`, separate -> pooled): dev classification
  accuracy 0.933 -> 0.867, abstention precision 1.0 -> 0.938, hit@1 0.914 -> 0.897; test
  key-fact recall 0.675 -> 0.602, hit@1 0.895 -> 0.877. A token read inside its chunk means
  something else than in its sentence alone (cosine to the standalone vector ~0.71 on the seed
  corpus), and the answer thresholds are calibrated on standalone vectors.
Table rows are always embedded separately: they are embedded spelled out with their header,
a text that does not occur in the chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.runtime.embeddings import embed_array, embed_with_spans
from bot.runtime.text import Unit, row_as_sentence, units
from ingest.chunk import Chunk


@dataclass(frozen=True)
class UnitRow:
    """A quotable unit of a chunk, ready for the units collection."""

    id: str
    unit: Unit
    chunk: Chunk


def unit_rows(chunk: Chunk) -> list[tuple[UnitRow, str | None]]:
    """(row, text to embed instead of the unit's own text, if any) of a chunk's units."""
    found = units(chunk.text)
    header = next((u.text for u in found if u.kind == "row"), None)
    rows: list[tuple[UnitRow, str | None]] = []
    for unit in found:
        if unit.kind == "heading":
            continue
        # A bare row ("Ownership | CTO, IT department | …") embeds poorly; with its header
        # spelled out it reads as the sentence it stands for.
        alt = row_as_sentence(unit.text, header) if unit.kind == "row" else None
        rows.append((UnitRow(f"{chunk.id}:{unit.position}", unit, chunk), alt))
    return rows


def embed_chunks(
    embeddings: Embeddings, chunks: list[Chunk], pooled: bool
) -> tuple[np.ndarray, list[UnitRow], np.ndarray]:
    """(chunk vectors, unit rows, unit vectors) for `chunks`."""
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
