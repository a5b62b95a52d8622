"""The OpenAI backend over real HTTP against a stand-in OpenAI-compatible server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.runtime.schema import Answer, Turn
from bot.runtime.settings import Settings
from bot.runtime.tokens import encoding_for_model
from tests.fakes.openai_server import Error, FakeOpenAI, Hang, Malformed, Reply


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture()
def llm_bot(fake: FakeOpenAI, indexed_settings: Settings) -> KnowledgeBot:
    fake.reset()
    settings = indexed_settings.model_copy(
        update={
            "llm": "openai",
            "openai_base_url": fake.base_url,
            "openai_api_key": SecretStr("test-key"),
            "llm_max_retries": 0,
            "llm_timeout": 5.0,
        }
    )
    return KnowledgeBot(settings)


def _system_prompt(fake: FakeOpenAI, i: int = -1) -> str:
    messages = fake.chat_requests[i].json["messages"]
    return str(messages[0]["content"])


def test_plain_answer_carries_context_and_citation_rules(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue("An IT strategy aims at operational efficiency and lower costs [1].")
    answer = llm_bot.answer("What are the objectives of an IT strategy?")
    assert answer.backend == "openai" and not answer.degraded and not answer.abstained
    assert answer.answer.endswith("[1].")
    assert [c.n for c in answer.citations] == [1]
    chunk_texts = [c.text for c in llm_bot.index().chunks]
    assert any(answer.citations[0].quote in t for t in chunk_texts)
    system = _system_prompt(fake)
    assert "Cite every claim" in system and "[1] " in system
    assert "improving operational efficiency" in system  # the retrieved passage itself
    body = fake.chat_requests[-1].json
    assert body["model"] == "gpt-4o-mini" and body["max_tokens"] == 512  # compatible servers


def test_streaming_yields_model_text_then_the_answer(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(Reply("Digital strategy focuses on customers [1] and channels [2]."))
    parts = list(llm_bot.stream("What does digital strategy focus on?"))
    final = parts[-1]
    assert isinstance(final, Answer) and final.backend == "openai"
    text = "".join(p for p in parts[:-1] if isinstance(p, str))
    assert text == "Digital strategy focuses on customers [1] and channels [2]."
    assert len(parts) > 3  # really streamed in pieces
    assert fake.chat_requests[-1].json["stream"] is True


def test_429_then_success_is_retried(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    bot = KnowledgeBot(llm_bot.settings.model_copy(update={"llm_max_retries": 2}))
    fake.enqueue(Error(429, headers={"Retry-After": "0"}), Reply("Budgets and timeframes [1]."))
    answer = bot.answer("What does a technology plan contain?")
    assert answer.backend == "openai" and not answer.degraded
    assert len(fake.chat_requests) == 2


@pytest.mark.parametrize(
    "failure",
    [Error(500), Error(429, headers={"Retry-After": "0"}), Malformed(), Hang(3.0)],
    ids=["500", "429", "malformed", "timeout"],
)
def test_llm_failure_degrades_to_the_local_answer(
    fake: FakeOpenAI, llm_bot: KnowledgeBot, failure: object
) -> None:
    bot = KnowledgeBot(llm_bot.settings.model_copy(update={"llm_timeout": 0.5}))
    fake.enqueue(failure, failure, failure)  # type: ignore[arg-type]
    answer = bot.answer("What are the objectives of an IT strategy?")
    assert answer.degraded and answer.backend == "local" and not answer.abstained
    assert answer.citations and "[1]" in answer.answer


def test_stream_failure_still_ends_with_a_degraded_answer(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(Error(500))
    parts = list(llm_bot.stream("What are the objectives of an IT strategy?"))
    final = parts[-1]
    assert isinstance(final, Answer) and final.degraded and final.citations


def test_context_respects_the_token_budget(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    bot = KnowledgeBot(llm_bot.settings.model_copy(update={"context_tokens": 300}))
    fake.enqueue("Answer [1].")
    bot.answer("Compare IT strategy and digital strategy in detail")
    system = _system_prompt(fake)
    context = system.split("Context passages:\n", 1)[1]
    assert len(encoding_for_model("gpt-4o-mini").encode(context)) <= 300
    assert "[1] " in context


def test_model_saying_not_covered_becomes_an_abstention(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue("The knowledge base does not cover this.")
    answer = llm_bot.answer("What are the objectives of an IT strategy?")
    assert answer.abstained and answer.backend == "openai"


def test_classification_uses_structured_output(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    fake.enqueue(
        '{"label": "both", "confidence": 0.82, "rationale": "Modernises IT [1] to enable customers [2]."}'
    )
    answer = llm_bot.classify("upgrading the order system so customers can track orders online")
    assert answer.classification is not None and answer.classification.label == "both"
    assert answer.classification.confidence == pytest.approx(0.82)
    assert answer.backend == "openai" and answer.citations
    assert (
        "response_format" in fake.chat_requests[-1].json or "tools" in fake.chat_requests[-1].json
    )


def test_malformed_classification_falls_back_to_local(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue('{"label": "maybe"}')
    answer = llm_bot.classify("rolling out multi-factor authentication for all staff")
    assert (
        answer.degraded
        and answer.classification is not None
        and answer.classification.label == "it"
    )


def test_follow_up_is_condensed_by_the_llm(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    fake.enqueue(
        "Who owns digital transformation?",
        "The CEO, CIO, COO, CDO and cross-functional leadership [1].",
    )
    history = [
        Turn(role="user", content="What is digital transformation?"),
        Turn(role="assistant", content="A business-driven journey [1]."),
    ]
    answer = llm_bot.answer("and who owns it?", history)
    assert answer.backend == "openai" and "CDO" in answer.answer
    condense_request = fake.chat_requests[-2].json["messages"]
    assert "and who owns it?" in condense_request[-1]["content"]
    assert "What is digital transformation?" in condense_request[-1]["content"]
