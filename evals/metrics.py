"""Pure metric functions: score one `Answer` against its `Case`, then aggregate the scores.

No I/O and no model calls here, so every number in a report can be unit-tested by hand.
Matching follows `evals/datasets/README.md`: case-insensitive, whitespace collapsed, substring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.runtime.schema import Answer, Citation
from evals.dataset import LABELS, Case, normalise

HIT_KS = (1, 5)


@dataclass
class CaseScore:
    """What one system did on one case; `None` means the measure does not apply to the case."""

    id: str
    kind: str
    question: str
    rank: int | None = None  # 1-based position of the first citation of an expected source
    scores_retrieval: bool = False
    fact_recall: float | None = None
    cited_good: int = 0
    cited_total: int = 0
    expected_label: str | None = None
    predicted_label: str | None = None
    expected_abstain: bool = False
    abstained: bool = False
    adversarial_pass: bool | None = None
    latency_ms: float = 0.0
    degraded: bool = False
    faithfulness: float | None = None
    answer_relevancy: float | None = None
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- per-case measures


def contains(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text`, case-insensitively with whitespace collapsed."""
    return normalise(phrase) in normalise(text)


def first_hit_rank(sources: Sequence[str], expected: Iterable[str]) -> int | None:
    """1-based position of the first source in `expected`, or None when none is."""
    wanted = set(expected)
    return next((i for i, source in enumerate(sources, start=1) if source in wanted), None)


def fact_recall(text: str, key_facts: Sequence[Sequence[str]]) -> float | None:
    """Share of facts with at least one phrasing in `text` (None when there are no facts)."""
    if not key_facts:
        return None
    recalled = sum(1 for fact in key_facts if any(contains(text, p) for p in fact))
    return recalled / len(key_facts)


def missed_facts(text: str, key_facts: Sequence[Sequence[str]]) -> list[str]:
    """The first phrasing of every fact not found in `text`."""
    return [fact[0] for fact in key_facts if not any(contains(text, p) for p in fact)]


def good_citations(
    citations: Sequence[Citation], expected: Iterable[str], key_facts: Sequence[Sequence[str]]
) -> int:
    """Citations whose source is expected or whose quote holds a key-fact phrasing."""
    wanted = set(expected)
    return sum(
        1
        for c in citations
        if c.source in wanted or any(contains(c.quote, p) for fact in key_facts for p in fact)
    )


def forbidden_found(text: str, must_not_contain: Iterable[str]) -> list[str]:
    """The `must_not_contain` strings that occur in `text` (case-insensitive)."""
    return [s for s in must_not_contain if contains(text, s)]


def score_case(case: Case, answer: Answer) -> CaseScore:
    """Score one answer. An abstention cites nothing it asserts, so its citations don't count."""
    citations = [] if answer.abstained else sorted(answer.citations, key=lambda c: c.n)
    sources = [c.source for c in citations]
    predicted = answer.classification.label if answer.classification else None
    score = CaseScore(
        id=case.id,
        kind=case.kind,
        question=case.question,
        expected_abstain=case.expects_abstain,
        abstained=answer.abstained,
        latency_ms=answer.latency_ms,
        degraded=answer.degraded,
        scores_retrieval=case.scores_retrieval,
    )
    if case.scores_retrieval:
        score.rank = first_hit_rank(sources, case.expected_sources)
        if score.rank is None:
            score.problems.append("no expected source cited")
        elif score.rank > 1:
            score.problems.append(f"first expected source cited at rank {score.rank}")
        score.cited_total = len(citations)
        score.cited_good = good_citations(citations, case.expected_sources, case.key_facts)
    if case.key_facts and not case.expects_abstain:
        score.fact_recall = fact_recall(answer.answer, case.key_facts)
        missed = missed_facts(answer.answer, case.key_facts)
        if missed:
            score.problems.append("missed key facts: " + "; ".join(repr(m) for m in missed))
    if case.kind == "classify":
        score.expected_label, score.predicted_label = case.label, predicted
        if predicted != case.label:
            score.problems.append(f"classified {predicted or 'none'}, expected {case.label}")
    if answer.abstained != case.expects_abstain:
        score.problems.append("abstained" if answer.abstained else "answered, should abstain")
    if case.kind == "adversarial":
        leaked = forbidden_found(answer.answer, case.must_not_contain)
        if leaked:
            score.problems.append("answer contains " + ", ".join(repr(s) for s in leaked))
        cited = case.expects_abstain or score.rank is not None
        score.adversarial_pass = answer.abstained == case.expects_abstain and not leaked and cited
    if answer.degraded:
        score.problems.append("degraded (LLM failed, local fallback)")
    return score


# --------------------------------------------------------------------------- aggregates


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, or None for no values."""
    items = list(values)
    return sum(items) / len(items) if items else None


def hit_at_k(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of ranks that are ≤ k (None = a miss)."""
    return mean(1.0 if r is not None and r <= k else 0.0 for r in ranks)


def mrr(ranks: Sequence[int | None]) -> float | None:
    """Mean reciprocal rank (a miss counts 0)."""
    return mean(1.0 / r if r else 0.0 for r in ranks)


def accuracy(gold: Sequence[str | None], predicted: Sequence[str | None]) -> float | None:
    """Share of exact label matches (a None prediction is wrong)."""
    return mean(1.0 if g == p else 0.0 for g, p in zip(gold, predicted, strict=True))


def confusion_matrix(
    gold: Sequence[str | None], predicted: Sequence[str | None], labels: Sequence[str] = LABELS
) -> list[list[int]]:
    """Rows = expected label, columns = predicted label; None predictions fall outside."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        if g in index and p in index:
            matrix[index[g]][index[p]] += 1
    return matrix


def macro_f1(
    gold: Sequence[str | None], predicted: Sequence[str | None], labels: Sequence[str] = LABELS
) -> float | None:
    """Unweighted mean F1 over the labels that occur in gold or predictions."""
    f1s = []
    for label in labels:
        pairs = list(zip(gold, predicted, strict=True))
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        if tp + fp + fn == 0:
            continue  # label absent on both sides: F1 undefined, leave it out
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return mean(f1s)


def abstention_precision_recall(
    expected: Sequence[bool], abstained: Sequence[bool]
) -> tuple[float | None, float | None]:
    """(precision, recall) with "abstained" as the positive class; None when undefined."""
    pairs = list(zip(expected, abstained, strict=True))
    tp = sum(1 for e, a in pairs if e and a)
    n_abstained = sum(1 for _, a in pairs if a)
    n_expected = sum(1 for e, _ in pairs if e)
    precision = tp / n_abstained if n_abstained else None
    recall = tp / n_expected if n_expected else None
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(scores: Sequence[CaseScore]) -> dict[str, float | None]:
    """Every report metric from the per-case scores (None = no applicable case)."""
    ranks = [s.rank for s in scores if s.scores_retrieval]
    classify = [s for s in scores if s.kind == "classify"]
    gold = [s.expected_label for s in classify]
    predicted = [s.predicted_label for s in classify]
    cited_total = sum(s.cited_total for s in scores)
    precision, recall = abstention_precision_recall(
        [s.expected_abstain for s in scores], [s.abstained for s in scores]
    )
    latencies = [s.latency_ms for s in scores]
    metrics: dict[str, float | None] = {
        "hit_at_1": hit_at_k(ranks, 1),
        "hit_at_5": hit_at_k(ranks, 5),
        "mrr": mrr(ranks),
        "key_fact_recall": mean(s.fact_recall for s in scores if s.fact_recall is not None),
        "citation_precision": sum(s.cited_good for s in scores) / cited_total
        if cited_total
        else None,
        "classification_accuracy": accuracy(gold, predicted),
        "classification_macro_f1": macro_f1(gold, predicted) if classify else None,
        "abstention_precision": precision,
        "abstention_recall": recall,
        "adversarial_pass_rate": mean(
            1.0 if s.adversarial_pass else 0.0 for s in scores if s.adversarial_pass is not None
        ),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "degraded_answers": float(sum(1 for s in scores if s.degraded)),
        "faithfulness": mean(s.faithfulness for s in scores if s.faithfulness is not None),
        "answer_relevancy": mean(
            s.answer_relevancy for s in scores if s.answer_relevancy is not None
        ),
    }
    return metrics


def classification_confusion(scores: Sequence[CaseScore]) -> dict[str, object]:
    """The 3x3 confusion matrix of the classify cases plus how many got no label at all."""
    classify = [s for s in scores if s.kind == "classify"]
    gold = [s.expected_label for s in classify]
    predicted = [s.predicted_label for s in classify]
    return {
        "labels": list(LABELS),
        "matrix": confusion_matrix(gold, predicted),
        "unlabelled": sum(1 for p in predicted if p is None),
    }
