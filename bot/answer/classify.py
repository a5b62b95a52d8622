"""The local "is this an IT or a digital initiative?" classifier, grounded in the corpus.

Label prototypes are the corpus' own sentences, tagged by which side of a comparison they
describe: the section they sit in ("IT Strategy › Risk Management", "Digital Transformation:
Driving Business Innovation") or the subject they open with ("IT transformation is…",
"Digital marketing is…"); the IT/digital columns of comparison tables become one prototype
each. Beside them sit labelled example initiatives written after the corpus' criteria
(`exemplars`), from which a linear separator is learnt (`example_vectors.separate`), so that an
initiative is also judged against work of its own kind ("replacing the storage arrays", "an app
to book appointments") rather than only against general descriptions. An initiative is
embedded; the two sides' scores blend the mean similarity of its nearest corpus prototypes with
the separator's signed score, weighed by `example_weight`. `both` is one piece of IT work
joined to a digital, customer-facing change: a means and its purpose ("upgrade X so that
customers can Y") or two pieces of work ("replacing X and launching Y"), classified separately
and landing on different sides. Whether text is an initiative at all is its nearness to the
written initiatives against the written non-initiatives.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from bot.answer.example_vectors import examples
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
# Two pieces of work in one initiative: "replacing X and launching Y", "X, then Y".
_STEPS = re.compile(
    r",?\s+(?:and(?:\s+then)?|then|plus|while\s+also|as\s+well\s+as)\s+(?=[a-z]+ing\b)|,\s+(?=[a-z]+ing\b)"
)
TOP_K = 4
EXAMPLES_K = 3  # nearest examples whose mean similarity is a text's nearness
SEPARATOR_SCALE = 0.2  # the separator's output in units of prototype similarity


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
    # weights and bias, > 0 reads as IT (see `example_vectors.separate`)
    separator: np.ndarray | None = None
    other_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 384), np.float32))


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
    protos.example_sides = ["it"] * len(IT_EXAMPLES) + ["digital"] * len(DIGITAL_EXAMPLES)
    protos.example_vectors, protos.other_vectors, protos.separator = examples(embed)
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
    """The corpus' own IT and digital descriptions (nearest prototypes, quoted as evidence)
    blended with a separator learnt from written example initiatives."""

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
        """Per side, the mean top-k similarity to its corpus prototypes blended with the
        examples' separator (half its signed score to each side); and the side's best corpus
        prototypes (what a verdict cites)."""
        sims = self.protos.vectors @ vector
        scores: dict[str, float] = {}
        best: dict[str, list[int]] = {}
        for side, idx in self._side_idx.items():
            order = idx[np.argsort(-sims[idx])][:TOP_K]
            scores[side] = float(sims[order].mean()) if order.size else 0.0
            best[side] = [int(i) for i in order]
        separator = self.protos.separator
        if separator is not None:
            # A corpus that describes only one side (or neither) cannot weigh the two.
            weight = self.example_weight if all(i.size for i in self._side_idx.values()) else 1.0
            lean = SEPARATOR_SCALE * float(vector @ separator[:-1] + separator[-1]) / 2
            scores = {
                "it": (1 - weight) * scores["it"] + weight * lean,
                "digital": (1 - weight) * scores["digital"] - weight * lean,
            }
        scores["it"] += self.margin
        return scores, best

    def nearness(self, vector: np.ndarray) -> float:
        """How much nearer a text lies to IT or digital work than to anything else: the mean
        similarity of its closest written examples of either side, less that of its closest
        examples of text that is no work at all (small talk, leisure, trivia). Without
        examples, the similarity of its closest corpus prototypes."""
        if not len(self.protos.example_vectors):
            scores, _ = self.side_scores(vector)
            return max(scores["it"] - self.margin, scores["digital"])
        sims = self.protos.example_vectors @ vector
        work = max(_top_mean(sims[idx]) for idx in self._example_idx.values() if idx.size)
        other = self.protos.other_vectors @ vector
        return work - (_top_mean(other) if other.size else 0.0)

    def _side(
        self, vector: np.ndarray
    ) -> tuple[str, float, dict[str, float], dict[str, list[int]]]:
        scores, best = self.side_scores(vector)
        diff = scores["it"] - scores["digital"]
        return ("it" if diff >= 0 else "digital"), diff, scores, best

    def classify(self, initiative: str, embed) -> Verdict:  # type: ignore[no-untyped-def]
        """Label an initiative; `embed(texts) -> array` embeds it (and its clauses).

        `both` is one piece of IT work joined to one digital change: a means and its purpose
        ("upgrade X so that customers can Y"), or two pieces of work ("replacing X and
        launching Y") of which one reads as IT and the other as digital."""
        purpose = [p.strip() for p in _PURPOSE.split(f" {initiative} ", maxsplit=1)]
        steps = [p.strip() for p in _STEPS.split(f" {initiative} ")]
        clauses: list[str] = []
        if (
            len(purpose) == 2
            and all(len(p.split()) >= 2 for p in purpose)
            and _is_work(initiative, purpose[0])
        ):
            clauses = purpose
        elif len(steps) >= 2 and all(len(p.split()) >= 2 for p in steps):
            clauses = steps
        vectors = np.asarray(embed([initiative, *clauses]), dtype=np.float32)
        label, diff, scores, best = self._side(vectors[0])
        verdict = Verdict(label, _sigmoid(abs(diff) * self.scale), scores, best[label])
        if not clauses:
            return verdict
        sides = [self._side(v) for v in vectors[1:]]
        if clauses is purpose:
            means, goal = sides
            # The means is IT work (an internal system), the purpose a digital, customer-facing
            # change, and the two lie far enough apart.
            ok = means[1] >= self.both_means and goal[1] < 0
        else:  # steps in any order: the most IT-like one is IT, the least a digital one
            order = sorted(range(len(sides)), key=lambda i: -sides[i][1])
            means, goal = sides[order[0]], sides[order[-1]]
            clauses = [clauses[order[0]], clauses[order[-1]]]
            ok = means[1] >= 0 > goal[1]
        if ok and means[1] - goal[1] > self.both_gap:
            strength = min(abs(means[1]), abs(goal[1]))
            return Verdict(
                "both",
                _sigmoid(strength * self.scale),
                scores,
                means[3]["it"][:1] + goal[3]["digital"][:1],
                means=clauses[0],
                purpose=clauses[1],
            )
        return verdict


def _is_work(initiative: str, means: str) -> bool:
    """False for a thing described by a relative clause ("an online configurator that lets
    buyers …": the clause is a feature of the product, not the purpose of a piece of work)."""
    marker = _PURPOSE.search(f" {initiative} ")
    relative = bool(marker and re.match(r"\s(?:which|that)\s", marker.group(0), re.I))
    first = means.split()[0].lower()
    return not relative or first.endswith("ing") or first in ("we", "our", "i")


def _top_mean(sims: np.ndarray) -> float:
    return float(np.sort(sims)[-EXAMPLES_K:].mean())


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
