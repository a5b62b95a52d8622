"""The answering service: one `answer()` for the CLI, HTTP and Slack.

route → (condense follow-up) → retrieve (hybrid) → answer (local extractive, or the LLM with
fallback to local) or classify → `Answer` with citations.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.classify import InitiativeClassifier, Prototypes, build_prototypes
from bot.embeddings import embed_array, make_embeddings
from bot.lexical import terms
from bot.llm import NOT_COVERED, LlmBackend, cited_numbers
from bot.local import MAX_UNITS, CitationBook, compose, pick, score_units
from bot.retrieve import Hit, HybridRetriever, IndexCache, KnowledgeIndex, Weights
from bot.route import Route, asks_for_internal_fact, route
from bot.schema import Answer, Citation, Classification, Turn
from bot.settings import Settings
from bot.store import Store, open_store

log = logging.getLogger(__name__)

NOT_IN_KB = "The knowledge base does not cover this"
LABEL_NAMES = {
    "it": "an IT initiative",
    "digital": "a digital initiative",
    "both": "both an IT and a digital initiative",
}
_PRONOUN = re.compile(r"\b(it|its|it's|this|that|they|them|their|these|those)\b", re.IGNORECASE)
_FOLLOW_UP_LEAD = re.compile(
    r"^\s*(and|also|so|what about|how about|and what about|ok and)\b", re.IGNORECASE
)
_QUESTION_LEAD = re.compile(
    r"^\s*(?:(?:so|and|ok|hey)[, ]+)?(?:what(?:'s| is| are| does| do| drives| defines| causes| makes)?|"
    r"who(?:'s| is| owns| runs| leads)?|how (?:is|are|does|do)|"
    r"why (?:is|are|does|do)|tell me about|explain|define|describe)\s+(?:the\s+|an?\s+)?",
    re.IGNORECASE,
)


class QuestionError(ValueError):
    """A question that cannot be answered as given (empty, too long…)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Calibration:
    """Thresholds tuned on the dev split of the evaluation set (see evals/tune.py)."""

    abstain_below: float = 0.30  # evidence score under which we abstain
    lexical_weight: float = 0.25  # weight of question-term coverage in the evidence score
    unit_floor: float = 0.30  # weakest unit score we quote
    classify_margin: float = 0.0  # added to the IT side's score
    classify_both_gap: float = 0.04  # how much more IT-like the means must read than the purpose


def clean_question(question: str) -> str:
    """Normalise user text: Unicode NFKC, no control characters, Slack/HTML markup removed."""
    text = unicodedata.normalize("NFKC", question.encode("utf-8", "replace").decode("utf-8"))
    text = re.sub(r"<[@#!][^>]*>", " ", text)  # Slack mentions, channels, specials
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL)
    text = re.sub(r"</?[a-zA-Z][^>]*>", " ", text)  # HTML tags
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def subject_of(question: str) -> str:
    """The topic of a question ("What is digital transformation?" → "digital transformation")."""
    text = _QUESTION_LEAD.sub("", question.strip()).strip(" ?.!")
    return text


def _replace_pronoun(question: str, subject: str) -> str:
    def swap(match: re.Match[str]) -> str:
        return f"{subject}'s" if match.group(0).lower() in {"its", "their"} else subject

    return _PRONOUN.sub(swap, question, count=1)


def condense_locally(question: str, history: list[Turn]) -> list[str]:
    """Standalone readings of a follow-up, most likely first ("and who owns it?" →
    "and who owns digital transformation?")."""
    previous = next((t.content for t in reversed(history) if t.role == "user"), "")
    subject = subject_of(clean_question(previous)) if previous else ""
    if not subject:
        return [question]
    readings = []
    if _PRONOUN.search(question):
        readings.append(_replace_pronoun(question, subject))
    readings.append(f"{question.rstrip(' ?')} ({subject})?")
    if not (
        _PRONOUN.search(question) or _FOLLOW_UP_LEAD.match(question) or len(terms(question)) <= 3
    ):
        readings.append(question)  # may well stand on its own
    return readings


def question_parts(question: str) -> list[str]:
    """The sentences of a long or multi-part question (padding and injected instructions
    then cannot drown the real question)."""
    parts = [p.strip() for p in re.split(r"(?<=[.?!:;])\s+|\n+", question) if len(p.split()) >= 3]
    if len(parts) <= 1:
        return []
    # Questions first, then the end (where a padded question usually sits), then the start.
    ordered = [p for p in parts if p.endswith("?")] + parts[::-1][:3] + parts[:3]
    return list(dict.fromkeys(ordered))[:8]


class KnowledgeBot:
    """The whole answering pipeline, loaded once and shared by all front doors."""

    def __init__(self, settings: Settings, calibration: Calibration | None = None) -> None:
        self.settings = settings
        self.calibration = calibration or Calibration()
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._cache: IndexCache | None = None
        self._retriever: HybridRetriever | None = None
        self._classifier: tuple[Any, InitiativeClassifier] | None = None
        self._llm: Any = None

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Load embedder, Chroma client and the in-memory index (idempotent)."""
        with self._lock:
            if self._store is None:
                embeddings = make_embeddings(self.settings)
                if hasattr(embeddings, "load"):
                    embeddings.load()
                self._store = open_store(self.settings, embeddings)
                self._cache = IndexCache(self._store)
                self._retriever = HybridRetriever(self._store, self._cache, Weights())

    @property
    def store(self) -> Store:
        """The vector store (loads on first use)."""
        self.load()
        assert self._store is not None
        return self._store

    @property
    def retriever(self) -> HybridRetriever:
        """The hybrid retriever (loads on first use)."""
        self.load()
        assert self._retriever is not None
        return self._retriever

    def index(self) -> KnowledgeIndex:
        """The current in-memory index."""
        self.load()
        assert self._cache is not None
        return self._cache.get()

    def ensure_index(self) -> bool:
        """Ingest the bundled corpus if the index is empty; True if it ingested."""
        coll = self.store.collection()
        if coll is not None and coll.count() > 0:
            return False
        from ingest.index import ingest  # the one sanctioned bot → ingest edge (first use)

        ingest(None, self.settings, self.store)
        assert self._cache is not None
        self._cache.invalidate()
        return True

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts with the index's embedder."""
        return embed_array(self.store.embeddings, texts)

    def llm_backend(self, override: str | None = None) -> str:
        """`local` or `openai` for this request."""
        if override in ("local", "openai"):
            return override
        return self.settings.llm_backend

    def _llm_client(self) -> Any:
        with self._lock:
            if self._llm is None:
                self._llm = LlmBackend(self.settings)
        return self._llm

    def classifier(self) -> InitiativeClassifier:
        """The corpus-grounded initiative classifier for the current index."""
        index = self.index()
        cached = self._classifier
        if cached is None or cached[0] is not index:
            prototypes: Prototypes = build_prototypes(index, self.embed)
            cached = (
                index,
                InitiativeClassifier(
                    prototypes,
                    margin=self.calibration.classify_margin,
                    both_gap=self.calibration.classify_both_gap,
                ),
            )
            self._classifier = cached
        return cached[1]

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
        except Exception as exc:
            info["reason"] = f"Chroma unavailable: {exc}"
            return info
        if coll is None or coll.count() == 0:
            info["reason"] = "no index: run `kb ingest`"
            return info
        index = self.index()
        info.update(
            ready=True,
            documents=len({c.source for c in index.chunks}),
            chunks=len(index.chunks),
        )
        return info

    def sources(self) -> list[dict[str, Any]]:
        """Documents in the knowledge base with titles and chunk counts."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in self.index().chunks:
            entry = found.setdefault(
                chunk.source, {"source": chunk.source, "title": chunk.title, "chunks": 0}
            )
            entry["chunks"] += 1
        return sorted(found.values(), key=lambda e: e["source"])

    # ------------------------------------------------------------------ answering
    def validate(self, question: str) -> str:
        """The cleaned question, or QuestionError saying what is wrong."""
        if not isinstance(question, str):
            raise QuestionError("invalid_question", "the question must be a string")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                "question_too_long",
                f"the question is {len(question):,} characters; the limit is "
                f"{self.settings.max_question_chars:,} (KB_MAX_QUESTION_CHARS)",
            )
        cleaned = clean_question(question)
        if not cleaned:
            raise QuestionError("empty_question", "the question is empty")
        return cleaned

    def answer(
        self, question: str, history: list[Turn] | None = None, *, llm: str | None = None
    ) -> Answer:
        """Answer a question (with optional conversation history) from the knowledge base."""
        started = time.perf_counter()
        cleaned = self.validate(question)
        backend = self.llm_backend(llm)
        readings = self._standalone(cleaned, history, backend)
        decision = route(readings[0])
        if decision.kind == "classify":
            result = self._classify(decision.initiative, backend)
        else:
            result = self._answer(readings, decision, history, backend)
        result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return result

    def classify(self, initiative: str, *, llm: str | None = None) -> Answer:
        """Classify an initiative as IT, digital or both."""
        started = time.perf_counter()
        cleaned = self.validate(initiative)
        result = self._classify(cleaned, self.llm_backend(llm))
        result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return result

    def stream(
        self, question: str, history: list[Turn] | None = None, *, llm: str | None = None
    ) -> Iterator[str | Answer]:
        """Text pieces as they are produced, then the final `Answer`."""
        started = time.perf_counter()
        cleaned = self.validate(question)
        backend = self.llm_backend(llm)
        readings = self._standalone(cleaned, history, backend)
        decision = route(readings[0])
        if backend == "openai" and decision.kind != "classify":
            yield from self._stream_llm(readings, decision, history, started)
            return
        result = self.answer(question, history, llm=llm)
        for piece in re.split(r"(?<=\s)", result.answer):
            if piece:
                yield piece
        yield result

    def _standalone(self, question: str, history: list[Turn] | None, backend: str) -> list[str]:
        """Query readings to try, the primary (used for routing) first."""
        readings = [question]
        if history:
            readings = condense_locally(question, history)
            if backend == "openai":
                try:
                    readings = [str(self._llm_client().condense(question, history)), *readings]
                except Exception as exc:
                    log.warning("condense via LLM failed, condensing locally: %s", exc)
        readings += question_parts(readings[0])
        return list(dict.fromkeys(readings))

    def _retrieve(self, readings: list[str]) -> tuple[str, np.ndarray, list[Hit], float]:
        """The best-supported reading, its vector, its hits and its evidence score."""
        index = self.index()
        vectors = self.embed(readings)
        best_unit = (
            (vectors @ index.unit_vectors.T).max(axis=1)
            if len(index.units)
            else np.zeros(len(readings))
        )
        scores = []
        for reading, unit_score in zip(readings, best_unit, strict=True):
            qterms = set(terms(reading))
            coverage = len(qterms & index.bm25.vocabulary) / len(qterms) if qterms else 0.0
            scores.append(float(unit_score) + self.calibration.lexical_weight * (coverage - 1.0))
        best = int(np.argmax(scores))
        if asks_for_internal_fact(readings[best]):
            scores[best] = min(scores[best], self.calibration.abstain_below - 1.0)
        hits = self.retriever.search(readings[best], vectors[best], self.settings.top_k)
        return readings[best], vectors[best], hits, scores[best]

    def _abstain(self, hits: list[Hit], backend: str, degraded: bool = False) -> Answer:
        topics = list(dict.fromkeys(h.chunk.title for h in hits))[:3] or [
            c["title"] for c in self.sources()[:3]
        ]
        citations = [
            Citation(
                n=i + 1,
                source=h.chunk.source,
                title=h.chunk.title,
                quote=self._first_sentence(h),
                score=round(h.dense, 4),
                section=h.chunk.section,
            )
            for i, h in enumerate(hits[:3])
        ]
        listed = "; ".join(topics)
        text = f"{NOT_IN_KB}. It covers topics such as: {listed}" + (
            "" if listed[-1:] in ".?!" else "."
        )
        return Answer(
            answer=text, citations=citations, abstained=True, backend=backend, degraded=degraded
        )  # type: ignore[arg-type]

    def _first_sentence(self, hit: Hit) -> str:
        units = [u for u in self.index().units_of(hit.chunk.id) if u.kind != "heading"]
        return units[0].text if units else hit.chunk.text[:200]

    def _answer(
        self, readings: list[str], decision: Route, history: list[Turn] | None, backend: str
    ) -> Answer:
        question, qvec, hits, evidence = self._retrieve(readings)
        if not hits or evidence < self.calibration.abstain_below:
            return self._abstain(hits, "local")
        if backend == "openai":
            try:
                return self._answer_llm(readings[0], qvec, history, hits)
            except Exception as exc:
                log.warning("LLM answer failed, falling back to the local answer: %s", exc)
                local = self._answer_local(question, qvec, hits, decision)
                local.degraded = True
                return local
        return self._answer_local(question, qvec, hits, decision)

    def _answer_local(
        self, question: str, qvec: np.ndarray, hits: list[Hit], decision: Route
    ) -> Answer:
        index = self.index()
        book = CitationBook()
        floor = self.calibration.unit_floor
        if decision.kind == "compare" and decision.sides:
            parts = []
            used: set[str] = set()
            # A comparison-table row that matches the question answers both sides at once
            # ("Scope — IT Transformation: Internal systems…; Digital Transformation: …").
            overall = score_units(question, qvec, hits, index)
            row = next((s for s in overall[:3] if s.unit.kind == "row"), None)
            if row is not None:
                parts.append(compose([row], index, book))
                used.add(row.unit.text)
            side_vectors = self.embed([f"{side}: {question}" for side in decision.sides])
            for side, svec in zip(decision.sides, side_vectors, strict=True):
                side_hits = self.retriever.search(side, svec, self.settings.top_k)
                ranked = [
                    s
                    for s in score_units(side, svec, side_hits, index)
                    if s.unit.text not in used and s.unit.kind != "row"  # rows speak for both sides
                ]
                # Prefer sentences that have this side as their subject ("IT transformation is…").
                side_terms = set(terms(side))
                about_side = [
                    s
                    for s in ranked
                    if side_terms and side_terms <= set(terms(" ".join(s.unit.text.split()[:6])))
                ]
                chosen = pick(about_side or ranked, index, 2, floor)
                used.update(s.unit.text for s in chosen)
                if chosen:
                    parts.append(f"*{side[:1].upper()}{side[1:]}:* {compose(chosen, index, book)}")
            if parts:
                return Answer(answer="\n".join(parts), citations=book.citations, backend="local")
        chosen = pick(score_units(question, qvec, hits, index), index, MAX_UNITS, floor)
        if not chosen:
            return self._abstain(hits, "local")
        return Answer(
            answer=compose(chosen, index, book), citations=book.citations, backend="local"
        )

    def _cite_passages(
        self,
        text: str,
        kept: list[Hit],
        question: str,
        qvec: np.ndarray,
        default: list[int] | None = None,
    ) -> list[Citation]:
        """Citations for the [n] markers of an LLM's text; each quote is the passage's unit that
        best matches the question (verbatim chunk text, whatever the model wrote)."""
        index = self.index()
        citations = []
        for n in cited_numbers(text) or (default or []):
            if 1 <= n <= len(kept):
                hit = kept[n - 1]
                best = score_units(question, qvec, [hit], index)
                citations.append(
                    Citation(
                        n=n,
                        source=hit.chunk.source,
                        title=hit.chunk.title,
                        quote=best[0].unit.text if best else self._first_sentence(hit),
                        score=round(hit.dense, 4),
                        section=hit.chunk.section,
                    )
                )
        return citations

    def _llm_answer_from_text(
        self, question: str, qvec: np.ndarray, text: str, kept: list[Hit]
    ) -> Answer:
        if NOT_COVERED in text.lower():
            return self._abstain(kept, "openai")
        citations = self._cite_passages(text, kept, question, qvec)
        return Answer(answer=text, citations=citations, backend="openai")

    def _answer_llm(
        self, question: str, qvec: np.ndarray, history: list[Turn] | None, hits: list[Hit]
    ) -> Answer:
        text, kept = self._llm_client().answer(question, history, hits)
        return self._llm_answer_from_text(question, qvec, text, kept)

    def _stream_llm(
        self, readings: list[str], decision: Route, history: list[Turn] | None, started: float
    ) -> Iterator[str | Answer]:
        question, qvec, hits, evidence = self._retrieve(readings)
        if not hits or evidence < self.calibration.abstain_below:
            result = self._abstain(hits, "local")  # decided before any LLM call, as in _answer
        else:
            sent: list[str] = []
            try:
                pieces, kept = self._llm_client().stream(readings[0], history, hits)
                for piece in pieces:
                    sent.append(piece)
                    yield piece
                result = self._llm_answer_from_text(question, qvec, "".join(sent).strip(), kept)
            except Exception as exc:
                log.warning("LLM stream failed, falling back to the local answer: %s", exc)
                result = self._answer_local(question, qvec, hits, decision)
                result.degraded = True
                if sent:
                    yield "\n\n(The language model failed mid-answer; here is the offline answer.)\n\n"
                yield result.answer
                result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
                yield result
                return
        if result.abstained:
            yield result.answer
        result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        yield result

    # ------------------------------------------------------------------ classification
    def _classify(self, initiative: str, backend: str) -> Answer:
        if backend == "openai":
            try:
                qvec = self.embed([initiative])[0]
                hits = self.retriever.search(initiative, qvec, self.settings.top_k)
                return self._classify_llm(initiative, qvec, hits)
            except Exception as exc:
                log.warning("LLM classification failed, falling back to local: %s", exc)
                result = self._classify_local(initiative)
                result.degraded = True
                return result
        return self._classify_local(initiative)

    def _classify_local(self, initiative: str) -> Answer:
        classifier = self.classifier()
        verdict = classifier.classify(initiative, self.embed)
        protos = classifier.protos
        by_id = self.index().by_id
        book: list[Citation] = []
        numbers: dict[str, int] = {}
        quotes = []
        for i in verdict.evidence[:2]:
            chunk = by_id[protos.chunk_ids[i]]
            if chunk.id not in numbers:
                numbers[chunk.id] = len(book) + 1
                book.append(
                    Citation(
                        n=numbers[chunk.id],
                        source=chunk.source,
                        title=chunk.title,
                        quote=protos.quotes[i],
                        score=round(float(max(verdict.scores.values())), 4),
                        section=chunk.section,
                    )
                )
            quotes.append((protos.sides[i], protos.quotes[i], numbers[chunk.id]))
        label = verdict.label
        if label == "both":
            (_, q1, n1), (_, q2, n2) = quotes[0], quotes[-1]
            rationale = (
                f"It modernises IT (“{verdict.means}”), which the corpus describes as IT work: “{q1}” [{n1}]; "
                f"in order to enable a customer-facing change (“{verdict.purpose}”), which it describes as digital: “{q2}” [{n2}]."
            )
        else:
            side_name = (
                "IT strategy/transformation" if label == "it" else "digital strategy/transformation"
            )
            rationale = f"Closest to how the knowledge base describes {side_name}: " + " ".join(
                f"“{q}” [{n}]" for _, q, n in quotes
            )
        classification = Classification(
            label=label, confidence=round(verdict.confidence, 3), rationale=rationale
        )  # type: ignore[arg-type]
        text = f"“{initiative}” is {LABEL_NAMES[label]} (confidence {verdict.confidence:.0%}). {rationale}"
        return Answer(answer=text, citations=book, classification=classification, backend="local")

    def _classify_llm(self, initiative: str, qvec: np.ndarray, hits: list[Hit]) -> Answer:
        result, kept = self._llm_client().classify(initiative, hits)
        citations = self._cite_passages(result.rationale, kept, initiative, qvec, default=[1])
        classification = Classification(
            label=result.label, confidence=result.confidence, rationale=result.rationale
        )
        text = f"“{initiative}” is {LABEL_NAMES[result.label]} (confidence {result.confidence:.0%}). {result.rationale}"
        return Answer(
            answer=text, citations=citations, classification=classification, backend="openai"
        )
