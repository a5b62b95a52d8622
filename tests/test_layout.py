"""The layout keeps its direction: doors → answer → runtime; ingest and evals build on the
runtime; nothing outside the doors imports a door; no module in bot/ grows past ~350 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 360
# Benchmarks of the doors themselves drive them directly.
DOOR_BENCHMARKS = {"evals/bench_http.py", "evals/bench_slack.py"}


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, imported at module level?) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
    return found


def _ours(name: str) -> bool:
    return name.split(".")[0] in {"bot", "ingest", "evals"}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", _modules("bot/runtime"), ids=_rel)
def test_runtime_imports_only_runtime(path: Path) -> None:
    bad = [m for m, _ in _imports(path) if _ours(m) and not m.startswith("bot.runtime")]
    assert not bad, f"{_rel(path)} is a port and may import only bot.runtime: {bad}"


@pytest.mark.parametrize("path", _modules("bot/answer"), ids=_rel)
def test_answer_imports_runtime_and_never_a_door(path: Path) -> None:
    bad = []
    for module, top in _imports(path):
        if not _ours(module) or module.startswith(("bot.runtime", "bot.answer")):
            continue
        if module == "ingest.index" and not top and path.name == "pipeline.py":
            continue  # ingest on first use, imported lazily
        bad.append(module)
    assert not bad, f"{_rel(path)} may import bot.runtime and bot.answer only: {bad}"


@pytest.mark.parametrize("path", _modules("bot/doors"), ids=_rel)
def test_doors_use_only_the_pipeline_entry_points(path: Path) -> None:
    bad = [m for m, _ in _imports(path) if m.startswith("bot.answer.")]
    assert not bad, f"{_rel(path)} must import `bot.answer` itself, not its stages: {bad}"


@pytest.mark.parametrize("path", _modules("bot/answer", "bot/runtime", "ingest", "evals"), ids=_rel)
def test_nothing_imports_a_door(path: Path) -> None:
    if _rel(path) in DOOR_BENCHMARKS:
        return
    bad = [m for m, _ in _imports(path) if m.startswith("bot.doors")]
    assert not bad, f"{_rel(path)} imports a front door: {bad}"


@pytest.mark.parametrize("path", _modules("ingest"), ids=_rel)
def test_ingest_builds_on_the_runtime_only(path: Path) -> None:
    bad = [m for m, _ in _imports(path) if m.startswith(("bot.answer", "bot.doors", "evals"))]
    assert not bad, f"{_rel(path)} may use bot.runtime only: {bad}"


@pytest.mark.parametrize("path", _modules("bot"), ids=_rel)
def test_bot_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_rel(path)} has {lines} lines; split it by responsibility"
