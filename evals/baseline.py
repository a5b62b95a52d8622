"""A plain LangChain RAG to show what kb gains over the textbook recipe.

Same embedder as kb, but: raw files read as text (no cleaning), a character splitter
(1,000 characters, 200 overlap), a throw-away embedded Chroma, top-4 similarity search, and
the nearest chunk's first sentences as the answer. It never abstains, ignores the conversation
history, and labels initiatives by counting "IT" and "digital" in the nearest chunk. It exposes
kb's `answer(question, history)` so the same metric code scores both systems.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from bot.runtime.embeddings import make_embeddings
from bot.runtime.schema import Answer, Citation, Classification, Label, Turn
from bot.runtime.settings import Settings

log = logging.getLogger(__name__)

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
TOP_K = 4
ANSWER_SENTENCES = 3
QUOTE_CHARS = 300
TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_IT = re.compile(r"\bIT\b")  # case-sensitive: "it" the pronoun must not count
_DIGITAL = re.compile(r"\bdigital\b", re.IGNORECASE)


def load_raw_documents(corpus_dir: Path) -> list[Document]:
    """Every text file of the corpus as one raw `Document` (no cleaning, no manifest)."""
    docs = []
    for path in sorted(corpus_dir.rglob("*")):
        if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES and path.name != "README.md":
            text = path.read_text(encoding="utf-8", errors="replace")
            title = next((line.strip() for line in text.splitlines() if line.strip()), path.name)
            source = f"{corpus_dir.name}/{path.relative_to(corpus_dir).as_posix()}"
            docs.append(
                Document(page_content=text, metadata={"source": source, "title": title[:120]})
            )
    return docs


def first_sentences(text: str, count: int = ANSWER_SENTENCES) -> str:
    """The first `count` sentences of `text`, whitespace collapsed."""
    flat = re.sub(r"\s+", " ", text).strip()
    return " ".join(_SENTENCE_END.split(flat)[:count])


def quote_of(text: str, limit: int = QUOTE_CHARS) -> str:
    """A verbatim slice of the chunk: its start, cut at a word boundary near `limit`."""
    stripped = text.strip()
    if len(stripped) <= limit:
        return stripped
    cut = stripped.rfind(" ", 0, limit)
    return stripped[: cut if cut > 0 else limit]


def count_label(text: str) -> tuple[Label, float, str]:
    """(label, confidence, rationale) from how often the chunk says "IT" versus "digital"."""
    it, digital = len(_IT.findall(text)), len(_DIGITAL.findall(text))
    label: Label = "it" if it > digital else "digital" if digital > it else "both"
    confidence = max(it, digital) / (it + digital) if it + digital else 0.0
    rationale = f'The nearest passage [1] says "IT" {it} times and "digital" {digital} times.'
    return label, confidence, rationale


class BaselineRag:
    """Plain RAG over the raw corpus in a temporary Chroma; use as a context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tmp = tempfile.TemporaryDirectory(prefix="kb-baseline-")
        self._store: Any = None

    def __enter__(self) -> BaselineRag:
        self.build()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def build(self) -> None:
        """Split and embed the raw corpus into a fresh Chroma collection (idempotent)."""
        if self._store is not None:
            return
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma

        started = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
        )
        chunks = splitter.split_documents(load_raw_documents(self.settings.corpus_dir))
        client = chromadb.PersistentClient(
            path=self._tmp.name, settings=ChromaSettings(anonymized_telemetry=False)
        )
        embeddings = make_embeddings(self.settings)
        if hasattr(embeddings, "load"):
            embeddings.load()  # OnnxMiniLM must load its session before the first embed call
        self._store = Chroma(
            collection_name="baseline",
            embedding_function=embeddings,
            client=client,
        )
        if chunks:
            self._store.add_documents(chunks)
        log.info("baseline: %d chunks indexed in %.2fs", len(chunks), time.perf_counter() - started)

    def close(self) -> None:
        """Drop the temporary index."""
        self._store = None
        self._tmp.cleanup()

    def answer(self, question: str, history: list[Turn] | None = None) -> Answer:
        """The nearest chunk's first sentences, citing the top-4 chunks; history is ignored."""
        self.build()
        started = time.perf_counter()
        hits: list[tuple[Document, float]] = self._store.similarity_search_with_score(
            question, k=TOP_K
        )
        citations = [
            Citation(
                n=i,
                source=str(doc.metadata.get("source", "")),
                title=str(doc.metadata.get("title", "")),
                quote=quote_of(doc.page_content),
                # Chroma's default space is squared L2; on unit vectors 1 - d/2 is the cosine.
                score=round(1.0 - float(distance) / 2.0, 4),
            )
            for i, (doc, distance) in enumerate(hits, start=1)
        ]
        text = f"{first_sentences(hits[0][0].page_content)} [1]" if hits else ""
        classification = None
        if hits:
            label, confidence, rationale = count_label(hits[0][0].page_content)
            classification = Classification(
                label=label, confidence=round(confidence, 3), rationale=rationale
            )
        return Answer(
            answer=text,
            citations=citations,
            classification=classification,
            abstained=False,
            backend="local",
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
