"""Abstention follows the evidence, not the wording: company questions are declined over the
reference articles alone, yet answered once the company's own documents (a project charter, a
policy) are ingested; unrelated questions stay declined. Cases: the dev split of
evals/corpora/company/cases.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.answer import KnowledgeBot
from bot.runtime.settings import PACKAGE_ROOT
from ingest.index import ingest
from tests.conftest import bot_over, make_settings

COMPANY = PACKAGE_ROOT / "evals" / "corpora" / "company"
CASES = [
    c
    for c in map(json.loads, (COMPANY / "cases.jsonl").read_text(encoding="utf-8").splitlines())
    if c["split"] == "dev"
]


@pytest.fixture(scope="module")
def company_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBot:
    """A bot over the bundled corpus plus the company documents."""
    settings = make_settings(Path(tmp_path_factory.mktemp("company")))
    bot = KnowledgeBot(settings)
    bot.ensure_index()
    ingest([COMPANY], settings, bot.store)
    return KnowledgeBot(settings)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["corpus"] == "seed"], ids=lambda c: c["question"]
)
def test_company_questions_are_declined_over_the_reference_articles(
    kb: KnowledgeBot, case: dict
) -> None:
    assert kb.answer(case["question"]).abstained


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["corpus"] == "company"], ids=lambda c: c["question"]
)
def test_with_company_documents_their_questions_are_answered(
    company_kb: KnowledgeBot, case: dict
) -> None:
    answer = company_kb.answer(case["question"])
    assert answer.abstained == (case["expect"] == "abstain"), answer.answer
    text = " ".join(answer.answer.lower().split())
    for fact in case["key_facts"]:
        assert any(p.lower() in text for p in fact), (fact, answer.answer)
    if not answer.abstained:
        assert any(c.source.endswith((".md",)) for c in answer.citations)


ONBOARDING = """# Engineering Onboarding

Welcome to the platform team. This page explains what happens in your first two weeks.

## Your first week

On day one you receive a laptop from the service desk and an account in the identity
provider. Your manager assigns you an onboarding buddy who answers questions about code review.

## On-call

New engineers join the on-call rotation after their third month.
"""


@pytest.fixture(scope="module")
def onboarding_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBot:
    return bot_over(tmp_path_factory.mktemp("onboarding"), {"onboarding.md": ONBOARDING})


def test_a_short_question_in_everyday_words_is_answered(onboarding_kb: KnowledgeBot) -> None:
    # The document never says "get": a common verb the corpus lacks weighs little next to
    # "laptop", which it names, so the question is not declined for its phrasing.
    answer = onboarding_kb.answer("Where do I get my laptop?")
    assert not answer.abstained, answer.answer
    assert "service desk" in answer.answer
    assert onboarding_kb.answer("What is the capital of Australia?").abstained
