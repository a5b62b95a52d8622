"""Answers read as a colleague would write them: every eval answer is whole sentences or whole
list items (no word cut off, no stray markup), two-part questions get both parts, lists come
whole, definitions come first; each door renders the same neutral text in its own format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.answer import KnowledgeBot
from bot.runtime.render import as_markdown, as_mrkdwn, as_rich_markup
from bot.runtime.schema import Answer, Classification
from bot.runtime.settings import BUNDLED_CORPUS, PACKAGE_ROOT
from evals.dataset import load_cases
from tests.conftest import make_settings

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_MARKUP = re.compile(
    r"\*\*|(?<!\w)\*\S|\S\*(?!\w)|(?<!\w)_\S.*?\S_(?!\w)|`|^#+\s|</?[a-zA-Z][^>]*>", re.M
)

_DOUBLED = re.compile(r"(?<!\.)[.:;]\.(?!\.)")  # ":." or ".." (an ellipsis is fine)
_COMMAND_END = re.compile(r"&&|\s--?[a-z][\w-]*\s\[\d+\]")  # a command quoted as it stands


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


SQLITE = PACKAGE_ROOT / "evals" / "corpora" / "sqlite"


@pytest.fixture(scope="module")
def sqlite_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBot:
    """A bot over the second, real corpus (31 pages of the SQLite documentation, as HTML)."""
    bot = KnowledgeBot(make_settings(tmp_path_factory.mktemp("sqlite"), corpus_dir=SQLITE))
    bot.ensure_index()
    return bot


def _form_problems(bot: KnowledgeBot, corpus_dir: Path, datasets: Path) -> list[str]:
    """What is wrong with the form of every eval answer over a corpus (empty when none)."""
    corpus = set()
    for path in corpus_dir.glob("*.*"):
        corpus |= _words(path.read_text(encoding="utf-8", errors="replace"))
    for module in ("compose.py", "verdict.py"):  # kb's own sentences (declining, labels)
        corpus |= _words((PACKAGE_ROOT / "bot" / "answer" / module).read_text(encoding="utf-8"))
    problems = []
    for case in load_cases(datasets, split="all"):
        answer = bot.answer(case.question, list(case.history) or None)
        text = answer.answer
        if _MARKUP.search(text):
            problems.append(f"{case.id}: markup in {text[:120]!r}")
        if _DOUBLED.search(text):
            problems.append(f"{case.id}: doubled punctuation in {text[:120]!r}")
        # Every word is whole: it occurs in the corpus or in the question (an initiative).
        known = corpus | _words(case.question) | _words(" ".join(t.content for t in case.history))
        cut = _words(text) - known
        if cut:
            problems.append(f"{case.id}: words not in the corpus {sorted(cut)} in {text[:120]!r}")
        if answer.abstained or answer.classification:
            continue
        for line in text.splitlines():
            if line.startswith("• "):
                continue  # a list item, quoted whole
            # Each quoted passage ends a sentence (or introduces a list) before its marker.
            for before in re.findall(r"(.{0,3})\s\[\d+\]", line):
                if not re.search(r"[.!?:;\"”’)]$", before) and not _COMMAND_END.search(line):
                    problems.append(f"{case.id}: passage ends mid-sentence in {line[:160]!r}")
    return problems


def test_every_eval_answer_is_whole_and_plain(kb: KnowledgeBot) -> None:
    problems = _form_problems(kb, Path(BUNDLED_CORPUS), PACKAGE_ROOT / "evals" / "datasets")
    assert not problems, "\n".join(problems[:20])


def test_every_answer_over_the_sqlite_pages_is_whole_and_plain(sqlite_kb: KnowledgeBot) -> None:
    problems = _form_problems(sqlite_kb, SQLITE, PACKAGE_ROOT / "evals" / "datasets" / "sqlite")
    assert not problems, "\n".join(problems[:20])


def test_a_two_part_question_gets_both_parts(kb: KnowledgeBot) -> None:
    answer = kb.answer(
        "How long did the digital strategy assessment take, and which techniques did it use?"
    )
    assert "3 weeks" in answer.answer  # the "Duration: …" line
    items = [line for line in answer.answer.splitlines() if line.startswith("• ")]
    assert len(items) >= 3  # the techniques, as a whole list


def test_a_definition_question_opens_with_the_definition(kb: KnowledgeBot) -> None:
    first = kb.answer("What is digital transformation?").answer.splitlines()[0]
    assert first.lower().startswith("digital transformation")
    assert not re.search(r"\bI(?:['’]ve|['’]m)?\b", first)  # no anecdote as the opening


def test_each_door_renders_the_same_answer_in_its_format() -> None:
    answer = Answer(
        answer="IT transformation: It modernises systems. [1]\nTechniques: [2]\n• Interviews\n• A review",
        classification=Classification(label="it", confidence=0.815, rationale="r"),
    )  # type: ignore[call-arg]
    markdown = as_markdown(answer)
    assert markdown.startswith("**IT transformation:** It modernises")
    assert "\n- Interviews\n- A review" in markdown
    assert markdown.count("82%") == 1  # the confidence, once
    assert as_mrkdwn(answer.answer).startswith("*IT transformation:* It")
    assert as_rich_markup(answer.answer).startswith("[bold]IT transformation:[/bold]")
    long_sentence = Answer(answer="A sentence that runs on for quite a while: it ends. [1]")  # type: ignore[call-arg]
    assert as_markdown(long_sentence) == long_sentence.answer  # not a label: left alone
