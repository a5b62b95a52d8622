"""The evaluation runner: datasets, the gate on the real index, the baseline, the report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from bot.runtime.schema import Answer, Citation
from bot.runtime.settings import Settings
from evals.dataset import Case, check_cases, load_cases
from evals.metrics import summarize
from evals.runner import (
    EvalReport,
    LlmJudge,
    SystemResult,
    eval_command,
    gate,
    load_thresholds,
    parse_judge_score,
    render_table,
    run_eval,
    run_system,
)
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(scope="module")
def test_report(indexed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> EvalReport:
    """kb alone on the test split, gated by the real thresholds file."""
    out = tmp_path_factory.mktemp("report")
    return run_eval(indexed_settings, "test", report_dir=out, baseline=False)


def test_datasets_load_and_pass_the_maintainer_checks() -> None:
    cases = load_cases()
    assert len(cases) >= 200
    assert {c.split for c in cases} == {"dev", "test"}
    assert check_cases(cases) == []
    assert all(c.history for c in cases if c.kind == "multiturn")


def test_gate_passes_on_the_test_split(test_report: EvalReport) -> None:
    assert test_report.cases == len(load_cases(split="test"))
    assert test_report.kb.errors == 0
    assert test_report.gate_failures == []
    assert set(test_report.systems) == {"kb"}
    assert test_report.kb.metrics["faithfulness"] is None  # no LLM configured: n/a


def test_report_files_are_written(test_report: EvalReport) -> None:
    assert test_report.report_dir is not None
    data = json.loads((test_report.report_dir / "report.json").read_text(encoding="utf-8"))
    assert data["split"] == "test" and data["gate"]["passed"] is True
    assert data["systems"]["kb"]["metrics"]["hit_at_5"] == test_report.kb.metrics["hit_at_5"]
    assert len(data["systems"]["kb"]["cases"]) == test_report.cases
    assert len(data["systems"]["kb"]["confusion"]["matrix"]) == 3
    md = (test_report.report_dir / "report.md").read_text(encoding="utf-8")
    assert "## Classification confusion matrix (kb)" in md
    assert "## Failed cases (kb)" in md
    assert "| source hit@5 |" in md


def test_report_shows_the_baseline_beside_kb(indexed_settings: Settings, tmp_path: Path) -> None:
    wanted = {"k001", "k002", "c001", "c002", "a001", "m001"}
    report = run_eval(
        indexed_settings, "all", report_dir=tmp_path, case_filter=lambda c: c.id in wanted
    )
    assert report.cases == len(wanted)
    assert set(report.systems) == {"kb", "baseline"}
    assert report.systems["baseline"].metrics["abstention_recall"] == 0.0  # it never abstains
    assert report.delta()["abstention_recall"] == 1.0
    columns = [c.header for c in render_table(report).columns]
    assert columns == ["metric", "kb", "baseline", "Δ", "gate"]
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert set(data["systems"]) == {"kb", "baseline"}
    assert "| metric | kb | baseline | Δ | gate |" in (tmp_path / "report.md").read_text(
        encoding="utf-8"
    )


def test_gate_fails_when_retrieval_returns_nothing(
    indexed_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Quality lowered through configuration only: an empty collection over the same data dir."""
    monkeypatch.setenv("KB_DATA_DIR", str(indexed_settings.data_dir))
    monkeypatch.setenv("KB_COLLECTION", "empty_collection")
    monkeypatch.setenv("KB_LLM", "local")
    with pytest.raises(typer.Exit) as exit_info:
        eval_command(split="test", baseline=False, ingest=False, report=tmp_path)
    assert exit_info.value.exit_code == 1
    err = capsys.readouterr().err
    assert "gate failed" in err and "hit_at_5" in err
    assert (
        json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["gate"]["passed"]
        is False
    )


def _report(metrics: dict[str, float | None], split: str = "test") -> EvalReport:
    kb = SystemResult("kb", metrics, {}, [], [])
    return EvalReport(split, "local", "now", 0.0, 0, {"kb": kb}, "n/a")


def test_gate_rules() -> None:
    thresholds = {
        "dev": {"mrr": 0.5, "max": {"latency_p95_ms": 100}},
        "test": {"mrr": 0.8, "hit_at_5": 0.9, "faithfulness": 0.9, "max": {"latency_p95_ms": 200}},
    }
    good = {"mrr": 0.85, "hit_at_5": 0.95, "latency_p95_ms": 150.0, "faithfulness": None}
    assert gate(_report(good), thresholds) == []  # LLM-judged metrics never gate
    bad = gate(_report({"mrr": 0.7, "hit_at_5": None, "latency_p95_ms": 250.0}), thresholds)
    # a p95 over an old [test.max] ceiling fails nothing: timings never gate
    assert [f.split(" ", 1)[0] for f in bad] == ["mrr", "hit_at_5:"]
    slow = {"mrr": 0.85, "hit_at_5": 0.95, "latency_p95_ms": 9000.0}
    assert gate(_report(slow), {"test": {"mrr": 0.8, "latency_p95_ms": 10}}) == []
    # `all` gates on the looser of dev and test
    assert (
        gate(_report({"mrr": 0.6, "hit_at_5": 0.95, "latency_p95_ms": 150.0}, "all"), thresholds)
        == []
    )
    assert gate(_report(good), {"test": {"hit_at_55": 0.1}}) == [
        "hit_at_55: unknown metric in thresholds"
    ]


def test_thresholds_file_gates_the_agreed_metrics() -> None:
    table = load_thresholds()
    gated = {
        "hit_at_5",
        "mrr",
        "key_fact_recall",
        "classification_accuracy",
        "abstention_recall",
        "abstention_precision",
        "adversarial_pass_rate",
    }
    for split in ("dev", "test"):
        assert set(table[split]) == gated  # quality only: no timing in the gate


def test_parse_judge_score() -> None:
    assert parse_judge_score('{"score": 0.75, "reason": "most claims supported"}') == 0.75
    assert parse_judge_score('Sure! ```json\n{"score": 1}\n```') == 1.0
    assert parse_judge_score("score: 0.4") == 0.4
    assert parse_judge_score('{"score": 7}') == 1.0
    assert parse_judge_score(" 0.3 ") == 0.3
    assert parse_judge_score("Default answer [1].") is None
    assert parse_judge_score("no idea") is None


def test_llm_judge_scores_answers_through_an_openai_compatible_server() -> None:
    case = Case(
        id="k001",
        split="dev",
        kind="knowledge",
        question="What is IT strategy?",
        expected_sources=("corpus/a.txt",),
        key_facts=(("business",),),
    )
    reply = Answer(
        answer="It aligns IT with business goals [1].",
        citations=[
            Citation(n=1, source="corpus/a.txt", title="t", quote="business goals", score=1)
        ],
    )
    with FakeOpenAI() as fake:
        fake.enqueue('{"score": 0.9, "reason": "supported"}', '{"score": 0.5, "reason": "partly"}')
        settings = Settings(llm="openai", openai_base_url=fake.base_url, llm_max_retries=0)
        result = run_system("kb", lambda q, h: reply, [case], LlmJudge(settings))
    metrics = summarize(result.scores)
    assert (metrics["faithfulness"], metrics["answer_relevancy"]) == (0.9, 0.5)
