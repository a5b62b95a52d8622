"""Calibrate kb's thresholds and weights on the DEV split only (run by hand).

    python -m evals.tune            # dev: suggestions, routing accuracy, company abstention
    python -m evals.tune --test     # report routing and company abstention on test (no tuning)
    python -m evals.tune --routing [--test]   # only the classifier and the routing phrasings
    python -m evals.tune --save-examples      # after editing bot/answer/exemplars.py

Prints, for the current index: the abstention threshold that best separates answerable from
off-topic dev questions, the classifier's `both` gap and IT margin that maximise dev accuracy,
and the dense/lexical fusion weights that maximise dev source hit@1 of retrieval. Copy the
values into `bot/answer/calibration.py::Calibration` and `bot/answer/retrieve.py::Weights`, then run the eval on
the test split to report an unbiased figure.
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import numpy as np

from bot.answer import KnowledgeBot
from bot.answer.relevance import Relevance, relevance, should_abstain
from bot.answer.retrieve import Weights
from bot.runtime.schema import Turn
from bot.runtime.settings import PACKAGE_ROOT, Settings

DATASETS = PACKAGE_ROOT / "evals" / "datasets"


def dev_cases(kind: str) -> list[dict]:
    """Dev-split cases of one dataset file."""
    lines = (DATASETS / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()
    return [c for c in map(json.loads, lines) if c["split"] == "dev"]


def _gathered(bot: KnowledgeBot, case: dict):  # type: ignore[no-untyped-def]
    history = [Turn(**t) for t in case.get("history", [])] or None
    dl = bot._deadline("local", None, None)
    readings = bot._readings(bot.validate(case["question"]), history, "local", dl)
    return bot._gather(readings, dl), bool(history)


def evidence(bot: KnowledgeBot, case: dict) -> float:
    """The abstention evidence score kb computes for a case."""
    return _gathered(bot, case)[0].evidence.score


def tune_abstention(bot: KnowledgeBot) -> float:
    """Threshold maximising balanced accuracy between answerable and off-topic dev cases."""
    answerable = [evidence(bot, c) for c in dev_cases("knowledge") + dev_cases("multiturn")]
    off_topic = [evidence(bot, c) for c in dev_cases("abstain")]
    for case in dev_cases("adversarial"):
        (off_topic if case["expect"] == "abstain" else answerable).append(evidence(bot, case))
    best = max(
        np.linspace(0.0, 0.8, 81),
        key=lambda t: (
            np.mean([e >= t for e in answerable]) + np.mean([e < t for e in off_topic]),
            -abs(t - 0.3),
        ),
    )
    print(f"abstention: answerable min {min(answerable):.3f}, off-topic max {max(off_topic):.3f}")
    print(f"  suggested Calibration.abstain_below = {best:.2f}")
    return float(best)


def ask_points(bot: KnowledgeBot, cases: list[dict]) -> list[tuple[bool, Relevance]]:
    """(should abstain, relevance) of the cases that pass every other abstain check: only
    these depend on `Calibration.relevance_min`."""
    points = []
    for case in cases:
        gathered, follow_up = _gathered(bot, case)
        ev = gathered.evidence
        args = (ev.question, ev.vector, ev.score, gathered.hits, gathered.index, bot.calibration)
        if follow_up or should_abstain(*args, check_ask=False):
            continue
        found = relevance(ev.question, ev.vector, gathered.hits, gathered.index)
        points.append((case["expect"] == "abstain", found))
    return points


SAFETY = 0.05  # least distance of every answerable dev point above the relevance bar


def tune_relevance(points: list[tuple[bool, Relevance]], weight: float) -> float:
    """The "does the evidence answer the ask?" bar on the dev points of every corpus. A false
    abstention costs most: the bar sits `SAFETY` below the weakest answerable point, and the
    off-topic points under it are the ones declined."""
    joint = [(off, r.similarity + weight * r.coverage) for off, r in points]
    answerable = sorted(z for off, z in joint if not off)
    off_topic = sorted(z for off, z in joint if off)
    bar = answerable[0] - SAFETY if answerable else 0.0
    print(f"relevance (similarity + {weight} × coverage), lowest answerable: "
          + ", ".join(f"{z:.3f}" for z in answerable[:5]))  # fmt: skip
    print("  highest off-topic: " + ", ".join(f"{z:.3f}" for z in off_topic[-6:]))
    declined = sum(z < bar for z in off_topic)
    print(
        f"  {len(answerable)} answerable, {len(off_topic)} off-topic dev cases reach the check; "
        f"{declined} off-topic declined at the bar"
    )
    print(f"  suggested Calibration.relevance_min = {bar:.3f}")
    return bar


def tune_classifier(bot: KnowledgeBot) -> None:
    """Grid over the examples' weight, the IT margin and the `both` gap, by label accuracy on
    the dev initiatives (seed classify cases and routing phrasings, frames removed as /ask
    removes them)."""
    from bot.answer.route import route

    cases = [c for c in dev_cases("classify") + routing_cases("dev") if c["label"] != "none"]
    initiatives = []
    for case in cases:
        decision = route(case["question"])
        initiatives.append(decision.initiative if decision.kind == "classify" else case["question"])
    vectors: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:  # the grid classifies the same clauses often
        missing = [t for t in texts if t not in vectors]
        if missing:
            vectors.update(zip(missing, bot.embed(missing), strict=True))
        return np.stack([vectors[t] for t in texts])

    classifier = bot.classifier()
    calibrated = (classifier.example_weight, classifier.margin, classifier.both_gap)
    results = []
    for weight, margin, gap in itertools.product(
        [0.3, 0.5, 0.7, 1.0], [-0.01, 0.0, 0.01, 0.02], [0.0, 0.02, 0.04]
    ):
        classifier.example_weight, classifier.margin, classifier.both_gap = weight, margin, gap
        correct = sum(
            classifier.classify(text, embed).label == case["label"]
            for text, case in zip(initiatives, cases, strict=True)
        )
        results.append((correct / len(cases), -abs(margin), weight, gap, margin))
    classifier.example_weight, classifier.margin, classifier.both_gap = calibrated
    accuracy, _, weight, gap, margin = max(results)
    print(
        f"classifier: dev accuracy {accuracy:.3f} of {len(cases)} with classify_example_weight="
        f"{weight} classify_both_gap={gap} classify_margin={margin}"
    )


def _reciprocal_rank(sources: list[str], expected: list[str]) -> float:
    return next((1.0 / (i + 1) for i, s in enumerate(sources) if s in expected), 0.0)


def tune_fusion(bot: KnowledgeBot) -> None:
    """Grid over dense/lexical fusion weights by dev MRR of the retrieved chunks' sources."""
    cases = dev_cases("knowledge")
    vectors = bot.embed([c["question"] for c in cases])
    scores = []
    for lexical in [0.0, 0.3, 0.5, 0.7, 1.0, 1.5]:
        bot.retriever.weights = Weights(dense=1.0, lexical=lexical)
        ranks = [
            _reciprocal_rank(
                [h.chunk.source for h in bot.retriever.search(c["question"], v, 5)],
                c["expected_sources"],
            )
            for c, v in zip(cases, vectors, strict=True)
        ]
        hit1 = statistics.mean(r == 1.0 for r in ranks)
        scores.append((statistics.mean(ranks), lexical))
        print(
            f"fusion: lexical weight {lexical:.1f} → dev MRR {scores[-1][0]:.3f}, hit@1 {hit1:.3f}"
        )
    print(f"  suggested Weights.lexical = {max(scores)[1]}")


def routing_cases(split: str) -> list[dict]:
    """Classification phrasings (IT / digital / both / none) of one split."""
    lines = (DATASETS / "routing" / "initiatives.jsonl").read_text(encoding="utf-8").splitlines()
    return [c for c in map(json.loads, lines) if c["split"] == split]


def routing_accuracy(bot: KnowledgeBot, split: str, verbose: bool = True) -> dict[str, float]:
    """Label accuracy through /ask (bot.answer) and /classify (bot.classify) alike, over the
    routing phrasings and the seed classify cases; "none" means no label (not an initiative).
    Prints the confusion (expected → got) and each miss, and the non-initiative floor's margins."""
    cases = routing_cases(split) + [
        {**c, "door": "ask"} for c in dev_or_test("classify", split) if c["split"] == split
    ]
    accuracy: dict[str, float] = {}
    for door in ("ask", "classify"):
        subset = [c for c in cases if door == "classify" or c["door"] == "ask"]
        fn = bot.answer if door == "ask" else bot.classify
        confusion: dict[tuple[str, str], int] = {}
        for case in subset:
            got = fn(case["question"]).classification
            label = got.label if got else "none"
            key = (case["label"], label)
            confusion[key] = confusion.get(key, 0) + 1
            if verbose and label != case["label"]:
                print(f"  ✗ /{door} {case['id']} {case['label']}→{label}: {case['question']}")
        right = sum(n for (want, got), n in confusion.items() if want == got)
        accuracy[door] = right / len(subset)
        print(f"routing ({split}, /{door}): accuracy {accuracy[door]:.3f} of {len(subset)}")
        labels = ("it", "digital", "both", "none")
        print("  confusion (row expected, column got): " + " ".join(f"{g:>7}" for g in labels))
        for want in labels:
            row = " ".join(f"{confusion.get((want, g), 0):>7}" for g in labels)
            print(f"  {want:>38}: {row}")
    classifier = bot.classifier()
    near: dict[bool, list[float]] = {}
    for case in cases:
        vector = bot.embed([case["initiative"] or "-"])[0]
        near.setdefault(case["label"] == "none", []).append(classifier.nearness(vector))
    print(
        f"  nearness: initiatives min {min(near.get(False, [0])):.3f}, "
        f"non-initiatives max {max(near.get(True, [0])):.3f} "
        f"(Calibration.initiative_floor = {bot.calibration.initiative_floor})"
    )
    return accuracy


def dev_or_test(kind: str, split: str) -> list[dict]:
    """Cases of one dataset file and split."""
    lines = (DATASETS / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()
    return [c for c in map(json.loads, lines) if c["split"] == split]


COMPANY = PACKAGE_ROOT / "evals" / "corpora" / "company"


def company_abstention(split: str, data_dir: Path) -> list[tuple[bool, Relevance]]:
    """Abstention over the seed corpus alone and with the company documents added: cases
    expected to abstain must abstain, the company documents' questions must be answered.
    Returns the relevance check's points of both (for tuning on dev)."""
    from ingest.index import ingest

    cases = [
        c
        for c in map(json.loads, (COMPANY / "cases.jsonl").read_text("utf-8").splitlines())
        if c["split"] == split
    ]
    points: list[tuple[bool, Relevance]] = []
    for corpus in ("seed", "company"):
        settings = Settings(data_dir=data_dir / corpus, llm="local")
        bot = KnowledgeBot(settings)
        bot.ensure_index()
        if corpus == "company":
            ingest([COMPANY], settings, bot.store)
            bot = KnowledgeBot(settings)
        right, total = 0, 0
        points += ask_points(bot, [c for c in cases if c["corpus"] == corpus])
        for case in (c for c in cases if c["corpus"] == corpus):
            answer = bot.answer(case["question"])
            ok = answer.abstained == (case["expect"] == "abstain")
            text = " ".join(answer.answer.lower().split())
            ok = ok and all(any(p.lower() in text for p in fact) for fact in case["key_facts"])
            right, total = right + ok, total + 1
            if not ok:
                print(f"  ✗ [{corpus}] {case['question']} → {answer.answer[:100]!r}")
        print(f"company abstention ({split}, {corpus} corpus): {right}/{total} as expected")
    return points


def expecting(cases: list[dict], kind: str) -> list[dict]:
    """Cases with `expect` set: a dataset's kind says it unless the case does."""
    default = "abstain" if kind == "abstain" else "answer"
    return [{"expect": default, **c} for c in cases]


def dev_points(bot: KnowledgeBot, settings: Settings) -> list[tuple[bool, Relevance]]:
    """The relevance check's dev points over the seed corpus and the SQLite corpus."""
    from evals.corpus_eval import corpus_settings

    cases = [c for k in KINDS for c in expecting(dev_cases(k), k)]
    points = ask_points(bot, cases)
    sqlite = KnowledgeBot(corpus_settings(settings, "sqlite"))
    sqlite.ensure_index()
    for kind in ("knowledge", "abstain"):
        lines = (DATASETS / "sqlite" / f"{kind}.jsonl").read_text("utf-8").splitlines()
        cases = [c for c in map(json.loads, lines) if c["split"] == "dev"]
        points += ask_points(sqlite, expecting(cases, kind))
    return points


KINDS = ("knowledge", "multiturn", "abstain", "adversarial")


def main() -> None:
    """Run every calibration on the dev split and print suggestions."""
    import sys
    import tempfile

    split = "test" if "--test" in sys.argv else "dev"
    settings = Settings(data_dir=Path(".kb"), llm="local")
    bot = KnowledgeBot(settings)
    if "--save-examples" in sys.argv:  # after editing bot/answer/exemplars.py
        from bot.answer.example_vectors import save_example_vectors

        print(f"wrote {save_example_vectors(bot.embed)}")
        return
    bot.ensure_index()
    if "--routing" in sys.argv:  # only the classification part
        if split == "dev":
            tune_classifier(bot)
        routing_accuracy(bot, split)
        return
    if split == "dev":
        tune_abstention(bot)
        tune_classifier(bot)
        tune_fusion(bot)
    routing_accuracy(bot, split)
    with tempfile.TemporaryDirectory() as tmp:
        company = company_abstention(split, Path(tmp))
    if split == "dev":
        tune_relevance(dev_points(bot, settings) + company, bot.calibration.cover_weight)


if __name__ == "__main__":
    main()
