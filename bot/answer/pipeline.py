"""The answering pipeline: one `KnowledgeBot` for the CLI, HTTP and Slack.

It loads the ports once and runs the stages in order: understand the question → retrieve and
weigh the evidence → compose locally or generate with the LLM (falling back to local) → check
→ `Answer`. Each stage lives in its own module; this class only wires them together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from bot.answer.calibration import Calibration
from bot.answer.classification import Classifying, classify_initiative
from bot.answer.classify import InitiativeClassifier, build_prototypes
from bot.answer.compose import abstain
from bot.answer.deadline import Deadline, bounded, direct
from bot.answer.feedback_prior import FeedbackPrior
from bot.answer.generate import LlmBackend
from bot.answer.knowledge import Corpus
from bot.answer.local import answer_locally
from bot.answer.prototypes import prototype_units
from bot.answer.relevance import should_abstain, warm_in_background
from bot.answer.respond import Gathered, degrade, gather, llm_answer, words
from bot.answer.retrieve import Hit, HybridRetriever, KnowledgeIndex, Weights
from bot.answer.route import Route, asks_for_decision, extract_initiative, route
from bot.answer.structure import next_chunks
from bot.answer.understand import standalone_readings, validate_question
from bot.answer.watch import IndexWatcher
from bot.runtime.embeddings import embed_array, make_embeddings
from bot.runtime.feedback_store import open_feedback_store
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
        self._wait = bounded if settings.chroma_server else direct  # only a server can freeze
        self._searches = ThreadPoolExecutor(settings.workers, thread_name_prefix="kb-bm25")
        self.prior = FeedbackPrior(
            lambda: open_feedback_store(settings), self.embed, lambda: self.store.model
        )

    # ------------------------------------------------------------------ ports
    def load(self) -> None:
        """Load the embedder and open Chroma and the lexical index (idempotent, seconds at any
        corpus size: of the corpus only a small collection's chunk vectors are read)."""
        with self._lock:
            if self._store is None:
                warm_in_background()
                embeddings = make_embeddings(self.settings)
                if hasattr(embeddings, "load"):
                    embeddings.load()
                store = open_store(self.settings, embeddings)
                self._corpus = Corpus.open(self.settings, lambda: self._current_store())
                self._retriever = HybridRetriever(self._corpus, Weights(), self._searches)
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
        """Ingest the bundled corpus if the index is empty, or built by an earlier kb (the
        ingest moves its sentence units, embedding nothing); True if it ingested."""
        coll = self.store.collection()
        if coll is not None and coll.count() > 0 and self.store.legacy_units() is None:
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
            example_weight=self.calibration.classify_example_weight,
            both_means=self.calibration.classify_both_means,
        )

    def classifier(self) -> InitiativeClassifier:
        """The initiative classifier (rebuilt in the background after an ingest)."""
        return self._classifier_and_index()[0]

    def _classifier_and_index(self) -> tuple[InitiativeClassifier, KnowledgeIndex]:
        self.load()
        assert self._watcher is not None
        return self._watcher.classifier_and_index()

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
        info.update(ready=True, documents=self._watcher.document_count(), chunks=chunks)
        return info

    def sources(self) -> list[dict[str, Any]]:
        """Documents in the knowledge base with titles and chunk counts."""
        self.load()
        assert self._watcher is not None
        return self._watcher.sources()

    # ------------------------------------------------------------------ answering
    def validate(self, question: str) -> str:
        """The cleaned question, or QuestionError saying what is wrong."""
        return validate_question(question, self.settings.max_question_chars)

    def _deadline(
        self, backend: str, at: float | None, cancelled: threading.Event | None
    ) -> Deadline:
        # Loading the ports (and the LLM client) is a start-up cost, not a per-request wait:
        # it is never cut short, and a default deadline starts after it.
        self.load()
        if backend == "openai":
            self._llm_client()
        seconds = (
            self.settings.deadline_llm if backend == "openai" else self.settings.deadline_local
        )
        return Deadline.start(at, seconds, cancelled)

    def answer(
        self,
        question: str,
        history: list[Turn] | None = None,
        *,
        llm: str | None = None,
        deadline: float | None = None,
        cancelled: threading.Event | None = None,
    ) -> Answer:
        """Answer a question (with optional conversation history) from the knowledge base.

        `deadline` is an absolute `time.monotonic()` instant (default: now plus the configured
        deadline of the backend); when it passes, or `cancelled` is set because the client has
        gone, the local answer is returned, degraded, with the reason."""
        result = None
        for item in self._respond(question, history, llm, deadline, cancelled, streaming=False):
            if isinstance(item, Answer):
                result = item
        assert result is not None
        return result

    def classify(
        self,
        initiative: str,
        *,
        llm: str | None = None,
        deadline: float | None = None,
        cancelled: threading.Event | None = None,
    ) -> Answer:
        """Classify an initiative as IT, digital or both (deadline as for `answer`)."""
        started = time.perf_counter()
        backend = self.llm_backend(llm)
        dl = self._deadline(backend, deadline, cancelled)
        text = self.validate(initiative)
        if asks_for_decision(text):  # "Is X an IT or a digital initiative?" sent as the initiative
            text = extract_initiative(text)
        result = self._classify(text, backend, dl)
        result.latency_ms = _elapsed_ms(started)
        return result

    def stream(
        self,
        question: str,
        history: list[Turn] | None = None,
        *,
        llm: str | None = None,
        deadline: float | None = None,
        cancelled: threading.Event | None = None,
    ) -> Iterator[str | Answer]:
        """Text pieces as they are produced, then the final `Answer`. When the LLM fails (even
        before its first token) the text says so before the offline answer follows."""
        yield from self._respond(question, history, llm, deadline, cancelled, streaming=True)

    def _respond(
        self,
        question: str,
        history: list[Turn] | None,
        llm: str | None,
        at: float | None,
        cancelled: threading.Event | None,
        *,
        streaming: bool,
    ) -> Iterator[str | Answer]:
        started = time.perf_counter()
        backend = self.llm_backend(llm)
        dl = self._deadline(backend, at, cancelled)
        readings = self._readings(self.validate(question), history, backend, dl)
        decision = route(readings[0])
        if decision.kind == "classify":
            result = self._classify(decision.initiative, backend, dl)
        else:
            gathered = self._gather(readings, dl)
            if self._weak(gathered, bool(history)):
                result = abstain(gathered.hits, "local", gathered.index, gathered.titles)
                if gathered.stalled:
                    degrade(result, gathered.stalled)
            elif backend == "openai" and gathered.stalled is None:
                for item in llm_answer(
                    self._llm_client(),
                    gathered,
                    readings[0],
                    history,
                    self.embed,
                    lambda: self._answer_local(gathered, decision),
                ):
                    if isinstance(item, Answer):
                        item.latency_ms = _elapsed_ms(started)
                    yield item
                return
            else:
                result = self._answer_local(gathered, decision)
                if gathered.stalled:
                    degrade(result, gathered.stalled)
        result.latency_ms = _elapsed_ms(started)
        if streaming:
            yield from words(result.answer)
        yield result

    def _weak(self, gathered: Gathered, follow_up: bool = False) -> bool:
        ev = gathered.evidence  # a stalled store has no sentence units to check the ask against
        return should_abstain(
            ev.question, ev.vector, ev.score, gathered.hits, gathered.index, self.calibration,
            check_ask=not (follow_up or gathered.stalled),
        )  # fmt: skip

    def _readings(
        self, question: str, history: list[Turn] | None, backend: str, dl: Deadline
    ) -> list[str]:
        condense = None
        if backend == "openai" and history:
            # Rewriting a follow-up may use a third of the time left; the answer needs the rest.
            part = Deadline(time.monotonic() + dl.remaining() / 3, dl.cancelled)
            llm = self._llm_client()
            condense = lambda q, h: llm.condense(q, h, part)  # noqa: E731
        return standalone_readings(question, history, condense)

    def _gather(self, readings: list[str], dl: Deadline) -> Gathered:
        ahead = self.retriever.lexical_ahead(readings[0], self.settings.top_k)  # beside embedding
        gathered = gather(
            readings, self.embed(readings), dl, self.index, self.retriever.search,
            self.index(), self.calibration, self.settings.top_k, self._wait, ahead,
        )  # fmt: skip
        if self.settings.feedback_ranking:  # documents voted 👎 for similar questions drop
            gathered.hits = self.prior.rerank(gathered.evidence.vector, gathered.hits)
        return gathered

    def retrieve(self, question: str) -> list[Hit]:
        """The chunks a question retrieves, best first, as the answer is composed from them."""
        dl = self._deadline("local", None, None)
        return self._gather([self.validate(question)], dl).hits

    def _answer_local(self, gathered: Gathered, decision: Route) -> Answer:
        evidence = gathered.evidence
        return answer_locally(
            evidence.question,
            evidence.vector,
            gathered.hits,
            decision,
            gathered.index,
            search=gathered.search,
            embed=self.embed,
            top_k=self.settings.top_k,
            floor=self.calibration.unit_floor,
            fallback_titles=gathered.titles,
            next_chunks=next_chunks(gathered.index.corpus, gathered.hits, evidence.question),
        )

    # ------------------------------------------------------------------ classification
    def _classify(self, initiative: str, backend: str, dl: Deadline) -> Answer:
        port = Classifying(
            self.embed, self._classifier_and_index, self.index,
            lambda q, v: self.retriever.search(q, v, self.settings.top_k), self._wait,
            self._llm_client, self.calibration.initiative_floor,
        )  # fmt: skip
        return classify_initiative(port, initiative, backend, dl)
