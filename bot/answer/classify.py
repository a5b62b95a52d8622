"""The local "is this an IT or a digital initiative?" classifier, grounded in the corpus.

Label prototypes are the corpus' own sentences, tagged by which side of a comparison they
describe: the section they sit in ("IT Strategy › Risk Management", "Digital Transformation:
Driving Business Innovation") or the subject they open with ("IT transformation is…",
"Digital marketing is…"); the IT/digital columns of comparison tables become one prototype
each. Beside them sit labelled example initiatives written after the corpus' criteria
(`exemplars`), so that an initiative is also compared with work of its own kind ("replacing the
storage arrays", "an app to book appointments") rather than only with general descriptions. An
initiative is embedded; each side scores the mean similarity of its nearest corpus prototypes
and of its nearest examples, blended by `example_weight`. An initiative that modernises IT *in
order to* enable a customer-facing change is `both`: its means and its purpose are classified
separately and land on different sides.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from bot.answer.exemplars import DIGITAL_EXAMPLES, IT_EXAMPLES
from bot.answer.retrieve import ChunkRecord, KnowledgeIndex, UnitRecord
from bot.runtime.text import SECTION_SEP

Side = str  # "it" | "digital"

_IT_SUBJECT = re.compile(
    r"^(?:(?:your|the|an?)\s+)?(?:IT(?:'s|’s)?|Information Technology|IT strategy|IT transformation|IT professionals|IT modernization)\b"
)
_DIGITAL_SUBJECT = re.compile(
    r"^(?:(?:your|the|a)\s+)?(?:Digital (?:strategy|transformation|marketing|marketers|channels?)|Digital marketing(?:'s|’s)?)\b",
    re.IGNORECASE,
)
_IT_SECTION = re.compile(r"\bIT (?:Strategy|Transformation)\b")
_DIGITAL_SECTION = re.compile(r"\bDigital (?:Strategy|Transformation|Marketing)\b", re.IGNORECASE)
# Purpose clauses: "upgrade X so that customers can Y", "migrate X in order to launch Y".
_PURPOSE = re.compile(
    r"\s(?:so\s+that|in\s+order\s+to|to\s+(?:enable|launch|offer|power|support|let|allow|deliver|open|sell|create)"
    r"|enabling|(?:which|that)\s+(?:will\s+)?(?:enables?|lets?|allows?))\s+"
    r"|\sso\s+(?=(?:[\w'’-]+\s+){1,4}(?:can|could|get|gets|will|may|stops?|is|are)\b)",
    re.IGNORECASE,
)
TOP_K = 4
EXAMPLES_K = 3


@dataclass
class Prototypes:
    """Side-tagged corpus sentences and their vectors."""

    sides: list[Side] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    chunk_ids: list[str] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)  # verbatim unit text to cite
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 384), np.float32))
    example_sides: list[Side] = field(default_factory=list)
    example_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 384), np.float32))


def side_of(unit: UnitRecord, chunk: ChunkRecord) -> Side | None:
    """Which side of the IT/digital comparison a corpus sentence describes, if any: its
    grammatical subject first ("IT transformation is…"), else its top-level section."""
    text = unit.text.strip()
    if _IT_SUBJECT.match(text):
        return "it"
    if _DIGITAL_SUBJECT.match(text):
        return "digital"
    top = chunk.section.split(SECTION_SEP)[0]
    in_it, in_digital = bool(_IT_SECTION.search(top)), bool(_DIGITAL_SECTION.search(top))
    if in_it != in_digital:
        return "it" if in_it else "digital"
    return None


def build_prototypes(index: KnowledgeIndex, embed) -> Prototypes:  # type: ignore[no-untyped-def]
    """Prototypes from the index; `embed(texts) -> array` embeds the table-cell prototypes."""
    protos = Prototypes()
    rows: list[int] = []
    extra_texts: list[tuple[Side, str, str, str]] = []
    by_id = index.by_id
    for unit in index.units:
        chunk = by_id.get(unit.chunk_id)
        if chunk is None:
            continue
        if unit.kind == "row":
            extra_texts.extend(_table_prototypes(unit, chunk, index))
            continue
        side = side_of(unit, chunk)
        if side and len(unit.text.split()) >= 6:
            protos.sides.append(side)
            protos.texts.append(unit.text)
            protos.chunk_ids.append(unit.chunk_id)
            protos.quotes.append(unit.text)
            rows.append(unit.row)
    vectors = (
        index.unit_vectors[rows] if rows else np.zeros((0, index.unit_vectors.shape[1]), np.float32)
    )
    if extra_texts:
        extra = np.asarray(embed([t for _, t, _, _ in extra_texts]), dtype=np.float32)
        vectors = np.vstack([vectors, extra]) if len(vectors) else extra
        for side, text, chunk_id, quote in extra_texts:
            protos.sides.append(side)
            protos.texts.append(text)
            protos.chunk_ids.append(chunk_id)
            protos.quotes.append(quote)
    protos.vectors = vectors
    examples = [("it", t) for t in IT_EXAMPLES] + [("digital", t) for t in DIGITAL_EXAMPLES]
    protos.example_sides = [side for side, _ in examples]
    protos.example_vectors = np.asarray(embed([t for _, t in examples]), dtype=np.float32)
    return protos


def _table_prototypes(
    unit: UnitRecord, chunk: ChunkRecord, index: KnowledgeIndex
) -> list[tuple[Side, str, str, str]]:
    """One prototype per side from a comparison-table row, using the header to know sides."""
    header = next((u for u in index.units_of(chunk.id) if u.kind == "row"), None)
    if header is None or header is unit or header.text == unit.text:
        return []
    heads = [h.strip() for h in header.text.strip("|").split("|")]
    cells = [c.strip() for c in unit.text.strip("|").split("|")]
    out = []
    for head, cell in zip(heads[1:], cells[1:], strict=False):
        side = (
            "it"
            if _IT_SECTION.search(head) or head.upper().startswith("IT")
            else (
                "digital"
                if _DIGITAL_SECTION.search(head) or head.lower().startswith("digital")
                else None
            )
        )
        if side and cell:
            out.append((side, f"{head} {cells[0].lower()}: {cell}", chunk.id, unit.text))
    return out


@dataclass
class Verdict:
    """A classification with the prototypes that support it."""

    label: str
    confidence: float
    scores: dict[str, float]
    evidence: list[int]  # prototype indices, best first
    means: str = ""
    purpose: str = ""


class InitiativeClassifier:
    """Nearest-prototype classifier over the corpus' own IT and digital descriptions."""

    def __init__(
        self,
        prototypes: Prototypes,
        margin: float = 0.0,
        scale: float = 25.0,
        both_gap: float = 0.04,
        example_weight: float = 0.5,
        both_means: float = 0.0,
    ) -> None:
        self.both_means = both_means  # how IT-like the means of a `both` must at least read
        self.protos = prototypes
        self.example_weight = example_weight  # share of the examples in a side's score
        self.both_gap = both_gap
        self.margin = margin  # added to the IT score: calibrated on the dev split
        self.scale = scale
        self._side_idx = {
            side: np.array([i for i, s in enumerate(prototypes.sides) if s == side], dtype=int)
            for side in ("it", "digital")
        }
        self._example_idx = {
            side: np.array(
                [i for i, s in enumerate(prototypes.example_sides) if s == side], dtype=int
            )
            for side in ("it", "digital")
        }

    def side_scores(self, vector: np.ndarray) -> tuple[dict[str, float], dict[str, list[int]]]:
        """Per side, the blend of the mean top-k similarity to its corpus prototypes and to its
        examples; and the side's best corpus prototypes (what a verdict cites)."""
        sims = self.protos.vectors @ vector
        example_sims = self.protos.example_vectors @ vector
        scores: dict[str, float] = {}
        best: dict[str, list[int]] = {}
        for side, idx in self._side_idx.items():
            order = idx[np.argsort(-sims[idx])][:TOP_K]
            corpus = float(sims[order].mean()) if order.size else 0.0
            best[side] = [int(i) for i in order]
            ex = self._example_idx[side]
            if ex.size == 0:
                scores[side] = corpus
                continue
            example = float(np.sort(example_sims[ex])[-EXAMPLES_K:].mean())
            scores[side] = (1 - self.example_weight) * corpus + self.example_weight * example
        scores["it"] += self.margin
        return scores, best

    def nearness(self, vector: np.ndarray) -> float:
        """How near a text lies to IT or digital work: the mean similarity of its closest
        written examples of either side (of the corpus prototypes when there are none). The
        examples are initiatives, so small talk and questions lie far from them, whereas
        the corpus' general descriptions of the two sides sit near many ordinary words."""
        if not len(self.protos.example_vectors):
            scores, _ = self.side_scores(vector)
            return max(scores["it"] - self.margin, scores["digital"])
        sims = self.protos.example_vectors @ vector
        return max(
            float(np.sort(sims[idx])[-EXAMPLES_K:].mean())
            for idx in self._example_idx.values()
            if idx.size
        )

    def _side(
        self, vector: np.ndarray
    ) -> tuple[str, float, dict[str, float], dict[str, list[int]]]:
        scores, best = self.side_scores(vector)
        diff = scores["it"] - scores["digital"]
        return ("it" if diff >= 0 else "digital"), diff, scores, best

    def classify(self, initiative: str, embed) -> Verdict:  # type: ignore[no-untyped-def]
        """Label an initiative; `embed(texts) -> array` embeds it (and its clauses)."""
        parts = _PURPOSE.split(f" {initiative} ", maxsplit=1)
        texts = [initiative]
        split = len(parts) == 2 and all(len(p.split()) >= 2 for p in parts)
        if split:
            texts += [parts[0].strip(), parts[1].strip()]
        vectors = np.asarray(embed(texts), dtype=np.float32)
        label, diff, scores, best = self._side(vectors[0])
        confidence = 1.0 / (1.0 + math.exp(-abs(diff) * self.scale))
        if split:
            _means_label, means_diff, _, means_best = self._side(vectors[1])
            _purpose_label, purpose_diff, _, purpose_best = self._side(vectors[2])
            # The means is IT work (an internal system), the purpose a digital, customer-facing
            # change, and the two lie far enough apart.
            if (
                means_diff >= self.both_means
                and purpose_diff < 0
                and means_diff - purpose_diff > self.both_gap
            ):
                strength = min(abs(means_diff), abs(purpose_diff))
                return Verdict(
                    "both",
                    1.0 / (1.0 + math.exp(-strength * self.scale)),
                    scores,
                    means_best["it"][:1] + purpose_best["digital"][:1],
                    means=parts[0].strip(),
                    purpose=parts[1].strip(),
                )
        return Verdict(label, confidence, scores, best[label])
