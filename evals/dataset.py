"""Load and validate the evaluation cases in `evals/datasets/*.jsonl` (schema: datasets/README.md).

`load_cases` enforces the schema and fails loudly on a bad line; `check_cases` runs the slower
maintainer checks against the corpus text (`python -m evals.dataset`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.runtime.schema import Turn
from bot.runtime.settings import PACKAGE_ROOT

log = logging.getLogger(__name__)

DATASET_DIR = Path(__file__).resolve().parent / "datasets"
Kind = Literal["knowledge", "classify", "abstain", "multiturn", "adversarial"]
Split = Literal["dev", "test"]
KINDS: dict[str, str] = {
    "knowledge": "k",
    "classify": "c",
    "abstain": "a",
    "multiturn": "m",
    "adversarial": "x",
}
SPLITS = ("dev", "test")
LABELS = ("it", "digital", "both")
MAX_QUESTION_CHARS = 2000


class DatasetError(ValueError):
    """A dataset line that does not follow the schema."""


@dataclass(frozen=True)
class Case:
    """One evaluation case, whatever its kind (unused fields keep their empty defaults)."""

    id: str
    split: Split
    kind: Kind
    question: str
    history: tuple[Turn, ...] = ()
    expected_sources: tuple[str, ...] = ()
    key_facts: tuple[tuple[str, ...], ...] = ()
    initiative: str = ""
    label: str | None = None
    expect: Literal["answer", "abstain"] = "answer"
    must_not_contain: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def expects_abstain(self) -> bool:
        """True when the bot must decline (off-topic, or an adversarial `expect: abstain`)."""
        return self.kind == "abstain" or (self.kind == "adversarial" and self.expect == "abstain")

    @property
    def scores_retrieval(self) -> bool:
        """True for cases that expect an answer backed by known sources (hit@k, MRR, recall)."""
        return (
            self.kind in ("knowledge", "multiturn", "adversarial")
            and not self.expects_abstain
            and bool(self.expected_sources)
        )


def _strings(value: Any, name: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: `{name}` must be a list of strings")
    return tuple(value)


def parse_case(raw: dict[str, Any], where: str) -> Case:
    """A `Case` from one decoded JSON line, or `DatasetError` naming the problem."""
    for name in ("id", "split", "kind", "question"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise DatasetError(f"{where}: missing or empty string field `{name}`")
    case_id, kind, split = raw["id"], raw["kind"], raw["split"]
    if kind not in KINDS:
        raise DatasetError(f"{where}: unknown kind {kind!r}")
    if split not in SPLITS:
        raise DatasetError(f"{where}: split must be dev or test, not {split!r}")
    if not re.fullmatch(rf"{KINDS[kind]}\d{{3}}", case_id):
        raise DatasetError(f"{where}: id {case_id!r} must be {KINDS[kind]!r} plus 3 digits")
    if len(raw["question"]) > MAX_QUESTION_CHARS:
        raise DatasetError(f"{where}: question longer than {MAX_QUESTION_CHARS} characters")
    try:
        history = tuple(Turn.model_validate(t) for t in raw.get("history", []))
    except Exception as exc:
        raise DatasetError(f"{where}: bad `history`: {exc}") from None
    facts_raw = raw.get("key_facts", [])
    if not isinstance(facts_raw, list):
        raise DatasetError(f"{where}: `key_facts` must be a list of lists of strings")
    facts = tuple(_strings(f, "key_facts[]", where) for f in facts_raw)
    if any(not f for f in facts):
        raise DatasetError(f"{where}: every key fact needs at least one phrasing")
    case = Case(
        id=case_id,
        split=split,
        kind=kind,
        question=raw["question"],
        history=history,
        expected_sources=_strings(raw.get("expected_sources", []), "expected_sources", where),
        key_facts=facts,
        initiative=str(raw.get("initiative", "")),
        label=raw.get("label"),
        expect=raw.get("expect", "answer"),
        must_not_contain=_strings(raw.get("must_not_contain", []), "must_not_contain", where),
        tags=_strings(raw.get("tags", []), "tags", where),
    )
    _check_kind_rules(case, where)
    return case


def _check_kind_rules(case: Case, where: str) -> None:
    if case.kind == "classify":
        if case.label not in LABELS:
            raise DatasetError(f"{where}: label must be one of {LABELS}, not {case.label!r}")
        if not case.initiative:
            raise DatasetError(f"{where}: classify cases need an `initiative`")
    if case.kind == "adversarial" and case.expect not in ("answer", "abstain"):
        raise DatasetError(f"{where}: expect must be answer or abstain")
    if case.expects_abstain and (case.expected_sources or case.key_facts):
        raise DatasetError(f"{where}: abstain cases have no expected_sources or key_facts")
    if case.kind in ("knowledge", "multiturn") and not (case.expected_sources and case.key_facts):
        raise DatasetError(f"{where}: {case.kind} cases need expected_sources and key_facts")
    if case.kind == "multiturn" and not case.history:
        raise DatasetError(f"{where}: multiturn cases need a history")


def load_cases(folder: Path = DATASET_DIR, split: str = "all") -> list[Case]:
    """All cases of `split` (`dev`, `test` or `all`) from every `*.jsonl` in `folder`."""
    if split not in (*SPLITS, "all"):
        raise DatasetError(f"split must be dev, test or all, not {split!r}")
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise DatasetError(f"no *.jsonl datasets in {folder}")
    cases: list[Case] = []
    seen: set[str] = set()
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{path.name}:{number}"
            if not line.strip():
                raise DatasetError(f"{where}: blank line")
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: invalid JSON: {exc}") from None
            if not isinstance(raw, dict):
                raise DatasetError(f"{where}: each line must be a JSON object")
            case = parse_case(raw, where)
            if case.id in seen:
                raise DatasetError(f"{where}: duplicate id {case.id}")
            if path.stem != case.kind:
                raise DatasetError(f"{where}: kind {case.kind!r} does not match file {path.name}")
            seen.add(case.id)
            if split in ("all", case.split):
                cases.append(case)
    log.info("loaded %d cases (split=%s) from %s", len(cases), split, folder)
    return cases


def normalise(text: str) -> str:
    """Lower-cased text with whitespace runs collapsed (the datasets' matching rule)."""
    return re.sub(r"\s+", " ", text).strip().lower()


def check_cases(cases: list[Case], root: Path = PACKAGE_ROOT) -> list[str]:
    """Maintainer checks against the corpus text; returns problems (empty = all good)."""
    problems: list[str] = []
    texts: dict[str, str] = {}
    for case in cases:
        for source in case.expected_sources:
            path = root / source
            if not path.is_file():
                problems.append(f"{case.id}: expected source {source} does not exist")
                continue
            texts.setdefault(source, normalise(path.read_text(encoding="utf-8", errors="replace")))
        corpus = " ".join(texts.get(s, "") for s in case.expected_sources)
        for fact in case.key_facts:
            if corpus and not any(normalise(p) in corpus for p in fact):
                problems.append(f"{case.id}: no phrasing of {list(fact)} occurs in its sources")
        if not case.expects_abstain:
            problems.extend(
                f"{case.id}: must_not_contain {s!r} occurs in its own sources"
                for s in case.must_not_contain
                if corpus and normalise(s) in corpus
            )
    counts = Counter((c.kind, c.split) for c in cases)
    for kind in KINDS:
        dev, test = counts[(kind, "dev")], counts[(kind, "test")]
        if dev + test and abs(dev - test) > max(2, (dev + test) // 5):
            problems.append(f"{kind}: unbalanced split (dev {dev}, test {test})")
    return problems


def main() -> int:
    """`python -m evals.dataset`: validate the datasets and report problems."""
    logging.basicConfig(level=logging.WARNING)
    try:
        cases = load_cases()
    except DatasetError as exc:
        sys.stderr.write(f"invalid dataset: {exc}\n")
        return 1
    problems = check_cases(cases)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    counts = Counter((c.kind, c.split) for c in cases)
    summary = ", ".join(f"{k} {counts[(k, 'dev')]}/{counts[(k, 'test')]}" for k in KINDS)
    sys.stdout.write(f"{len(cases)} cases (dev/test): {summary}\n")
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
