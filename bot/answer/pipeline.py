"""The answering pipeline: one `KnowledgeBot` for the CLI, HTTP and Slack.

It loads the ports once and runs the stages in order: understand the question → retrieve and
weigh the evidence → compose locally or generate with the LLM (falling back to local) → check
→ `Answer`. Each stage lives in its own module; this class only wires them together.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from bot.answer.calibration import Calibration
from bot.answer.check import checked_llm_answer, cite_passages
from bot.answer.classify import InitiativeClassifier, build_prototypes
from bot.answer.compose import abstain, answer_locally
from bot.answer.evidence import Evidence, weigh_readings
from bot.answer.generate import LlmBackend
from bot.answer.prototypes import prototype_units
from bot.answer.retrieve import Corpus, Hit, HybridRetriever, KnowledgeIndex, Weights
from bot.answer.route import Route, route
from bot.answer.understand import standalone_readings, validate_question
from bot.answer.verdict import classification_answer, local_verdict_answer
from bot.answer.watch import IndexWatcher
from bot.runtime.embeddings import embed_array, make_embeddings
from bot.runtime.lexical import LexicalIndex
from bot.runtime.schema import Answer, Turn
from bot.runtime.settings import Settings
from bot.runtime.store import Store, open_store

log = logging.getLogger(__name__)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class KnowledgeBot:
    """The whole answering pipeline, loaded once and shared by all front doors."""

    def __init__(self, settings: Settings, calibration: Calibration | None = None) -> None:
        self.settings = settings
        self.calibration = calibration or Calibration()
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._corpus: Corpus | None = None
        self._retriever: HybridRetriever | None = None
        self._watcher: IndexWatcher | None = None
        self._llm: Any = None

    # ------------------------------------------------------------------ ports
    def load(self) -> None:
        """Load the embedder and open Chroma and the lexical index (idempotent, seconds at any
        corpus size: nothing of the corpus is read into memory)."""
        with self._lock:
            if self._store is None:
                embeddings = make_embeddings(self.settings)
                if hasattr(embeddings, "load"):
                    embeddings.load()
                store = open_store(self.settings, embeddings)
                self._corpus = Corpus(
                    lambda: self._current_store(),
                    LexicalIndex(self.settings),
                    page=self.settings.read_page_size,
                )
                self._retriever = HybridRetriever(self._corpus, Weights())
                self._watcher = IndexWatcher(self.settings, store, self._corpus, self._prototypes)
                self._store = store
                self._watcher.start()

    def _current_store(self) -> Store:
        assert self._watcher is not None
        return self._watcher.store

    @property
    def store(self) -> Store:
        """The vector store (loads on first use; replaced when another process ingests)."""
        self.load()
        return self._current_store()

    @property
    def retriever(self) -> HybridRetriever:
        """The hybrid retriever (loads on first use)."""
        self.load()
        assert self._retriever is not None
        return self._retriever

    def index(self) -> KnowledgeIndex:
        """A fresh working set over the knowledge base (cheap: nothing is loaded up front)."""
        self.load()
        assert self._corpus is not None
        return KnowledgeIndex(self._corpus)

    def ensure_index(self) -> bool:
        """Ingest the bundled corpus if the index is empty; True if it ingested."""
        coll = self.store.collection()
        if coll is not None and coll.count() > 0:
            return False
        from ingest.index import ingest  # the one sanctioned bot → ingest edge (first use)

        ingest(None, self.settings, self.store)
        assert self._watcher is not None
        self._watcher.changed()
        return True

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts with the index's embedder."""
        return embed_array(self.store.embeddings, texts)

    def llm_backend(self, override: str | None = None) -> str:
        """`local` or `openai` for this request."""
        if override in ("local", "openai"):
            return override
        return self.settings.llm_backend

    def _llm_client(self) -> LlmBackend:
        with self._lock:
            if self._llm is None:
                self._llm = LlmBackend(self.settings)
        return self._llm

    def _prototypes(self, index: KnowledgeIndex) -> InitiativeClassifier:
        """A classifier from prototypes found by bounded queries (see `prototype_units`)."""
        prototype_units(index, self.embed)
        return InitiativeClassifier(
            build_prototypes(index, self.embed),
            margin=self.calibration.classify_margin,
            both_gap=self.calibration.classify_both_gap,
        )

    def classifier(self) -> InitiativeClassifier:
        """The corpus-grounded initiative classifier (rebuilt in the background after an
        ingest; built here only the first time)."""
        self.load()
        assert self._watcher is not None
        return self._watcher.classifier()

    # ------------------------------------------------------------------ status
    def ready(self) -> dict[str, Any]:
        """Whether the bot can answer, and what the index holds."""
        info: dict[str, Any] = {
            "ready": False,
            "reason": None,
            "chroma": self.settings.chroma_url or str(self.settings.chroma_dir),
            "collection": self.settings.collection,
            "documents": 0,
            "chunks": 0,
            "embedding_model": None,
        }
        try:
            coll = self.store.collection()
            info["embedding_model"] = self.store.model
            chunks = coll.count() if coll is not None else 0
        except Exception as exc:
            info["reason"] = f"Chroma unavailable: {exc}"
            return info
        if chunks == 0:
            info["reason"] = "no index: run `kb ingest`"
            return info
        assert self._watcher is not None
        info.update(ready=True, documents=len(self._watcher.sources()), chunks=chunks)
        return info

    def sources(self) -> list[dict[str, Any]]:
        """Documents in the knowledge base with titles and chunk counts."""
        self.load()
        assert self._watcher is not None
        return self._watcher.sources()

    def _titles(self) -> list[str]:
        return [c["title"] for c in self.sources()[:3]]

    # ------------------------------------------------------------------ answering
    def validate(self, question: str) -> str:
        """The cleaned question, or QuestionError saying what is wrong."""
        return validate_question(question, self.settings.max_question_chars)

    def answer(
        self, question: str, history: list[Turn] | None = None, *, llm: str | None = None
    ) -> Answer:
        """Answer a question (with optional conversation history) from the knowledge base."""
        started = time.perf_counter()
        backend = self.llm_backend(llm)
        readings = self._readings(self.validate(question), history, backend)
        decision = route(readings[0])
        if decision.kind == "classify":
            result = self._classify(decision.initiative, backend)
        else:
            result = self._answer(readings, decision, history, backend)
        result.latency_ms = _elapsed_ms(started)
        return result

    def classify(self, initiative: str, *, llm: str | None = None) -> Answer:
        """Classify an initiative as IT, digital or both."""
        started = time.perf_counter()
        result = self._classify(self.validate(initiative), self.llm_backend(llm))
        result.latency_ms = _elapsed_ms(started)
        return result

    def stream(
        self, question: str, history: list[Turn] | None = None, *, llm: str | None = None
    ) -> Iterator[str | Answer]:
        """Text pieces as they are produced, then the final `Answer`."""
        started = time.perf_counter()
        backend = self.llm_backend(llm)
        readings = self._readings(self.validate(question), history, backend)
        decision = route(readings[0])
        if backend == "openai" and decision.kind != "classify":
            yield from self._stream_llm(readings, decision, history, started)
            return
        result = self.answer(question, history, llm=llm)
        for piece in re.split(r"(?<=\s)", result.answer):
            if piece:
                yield piece
        yield result

    def _readings(self, question: str, history: list[Turn] | None, backend: str) -> list[str]:
        condense = self._llm_client().condense if backend == "openai" else None
        return standalone_readings(question, history, condense)

    def _evidence(self, readings: list[str]) -> tuple[Evidence, list[Hit]]:
        """The best-supported reading with its evidence score, and its retrieved chunks."""
        evidence = weigh_readings(readings, self.embed(readings), self.index(), self.calibration)
        hits = self.retriever.search(evidence.question, evidence.vector, self.settings.top_k)
        return evidence, hits

    def _weak(self, evidence: Evidence, hits: list[Hit]) -> bool:
        return not hits or evidence.score < self.calibration.abstain_below

    def _abstain(self, hits: list[Hit], backend: str) -> Answer:
        return abstain(hits, backend, self.index(), self._titles())

    def _answer_local(self, evidence: Evidence, hits: list[Hit], decision: Route) -> Answer:
        return answer_locally(
            evidence.question,
            evidence.vector,
            hits,
            decision,
            self.index(),
            search=self.retriever.search,
            embed=self.embed,
            top_k=self.settings.top_k,
            floor=self.calibration.unit_floor,
            fallback_titles=self._titles(),
        )

    def _answer(
        self, readings: list[str], decision: Route, history: list[Turn] | None, backend: str
    ) -> Answer:
        evidence, hits = self._evidence(readings)
        if self._weak(evidence, hits):
            return self._abstain(hits, "local")
        if backend == "openai":
            try:
                text, kept = self._llm_client().answer(readings[0], history, hits)
                return self._checked(evidence, text, kept)
            except Exception as exc:
                log.warning("LLM answer failed, falling back to the local answer: %s", exc)
                local = self._answer_local(evidence, hits, decision)
                local.degraded = True
                return local
        return self._answer_local(evidence, hits, decision)

    def _checked(self, evidence: Evidence, text: str, kept: list[Hit]) -> Answer:
        return checked_llm_answer(
            evidence.question, evidence.vector, text, kept, self.index(), self._titles()
        )

    def _stream_llm(
        self, readings: list[str], decision: Route, history: list[Turn] | None, started: float
    ) -> Iterator[str | Answer]:
        evidence, hits = self._evidence(readings)
        if self._weak(evidence, hits):
            result = self._abstain(hits, "local")  # decided before any LLM call, as in _answer
        else:
            sent: list[str] = []
            try:
                pieces, kept = self._llm_client().stream(readings[0], history, hits)
                for piece in pieces:
                    sent.append(piece)
                    yield piece
                result = self._checked(evidence, "".join(sent).strip(), kept)
            except Exception as exc:
                log.warning("LLM stream failed, falling back to the local answer: %s", exc)
                result = self._answer_local(evidence, hits, decision)
                result.degraded = True
                if sent:
                    yield "\n\n(The language model failed mid-answer; here is the offline answer.)\n\n"
                yield result.answer
                result.latency_ms = _elapsed_ms(started)
                yield result
                return
        if result.abstained:
            yield result.answer
        result.latency_ms = _elapsed_ms(started)
        yield result

    # ------------------------------------------------------------------ classification
    def _classify(self, initiative: str, backend: str) -> Answer:
        if backend == "openai":
            try:
                return self._classify_llm(initiative)
            except Exception as exc:
                log.warning("LLM classification failed, falling back to local: %s", exc)
                result = self._classify_local(initiative)
                result.degraded = True
                return result
        return self._classify_local(initiative)

    def _classify_local(self, initiative: str) -> Answer:
        self.load()
        assert self._watcher is not None
        classifier, index = self._watcher.classifier_and_index()
        verdict = classifier.classify(initiative, self.embed)
        return local_verdict_answer(initiative, verdict, classifier, index)

    def _classify_llm(self, initiative: str) -> Answer:
        qvec = self.embed([initiative])[0]
        hits = self.retriever.search(initiative, qvec, self.settings.top_k)
        result, kept = self._llm_client().classify(initiative, hits)
        citations = cite_passages(
            result.rationale, kept, initiative, qvec, self.index(), default=[1]
        )
        return classification_answer(
            initiative, result.label, result.confidence, result.rationale, citations, "openai"
        )
