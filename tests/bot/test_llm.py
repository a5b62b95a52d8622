"""The OpenAI backend over real HTTP against the loopback OpenAI stand-in: prompts, checked
citations, the fallbacks, and one deadline per request (retries, Retry-After, cancellation)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.runtime.schema import Answer, Turn
from bot.runtime.settings import Settings
from bot.runtime.tokens import encoding_for_model
from tests.fakes.openai_server import Drop, Error, FakeOpenAI, Hang, Malformed, Reply

QUESTION = "What are the objectives of an IT strategy?"
SUPPORTED = "An IT strategy aims at improving operational efficiency and reducing costs."
UNSUPPORTED = "The moon is made of green cheese and bananas grow on it."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def llm_settings(fake: FakeOpenAI, indexed_settings: Settings) -> Settings:
    return indexed_settings.model_copy(
        update={
            "llm": "openai",
            "openai_base_url": fake.base_url,
            "openai_api_key": SecretStr("test-key"),
            "llm_max_retries": 0,
            "llm_timeout": 2.0,
            "deadline_llm": 10.0,
        }
    )


@pytest.fixture(scope="module")
def module_bot(llm_settings: Settings) -> KnowledgeBot:
    bot = KnowledgeBot(llm_settings)
    bot.index()  # loaded before any test's deadline starts
    return bot


@pytest.fixture()
def llm_bot(fake: FakeOpenAI, module_bot: KnowledgeBot) -> KnowledgeBot:
    fake.reset()
    return module_bot


def _bot(llm_bot: KnowledgeBot, **update: object) -> KnowledgeBot:
    return KnowledgeBot(llm_bot.settings.model_copy(update=update))


def _text(parts: list[str | Answer]) -> str:
    return "".join(p for p in parts if isinstance(p, str))


def _quoted_verbatim(bot: KnowledgeBot, answer: Answer) -> bool:
    texts = [c.text for c in bot.index().chunks]
    return all(any(c.quote in t for t in texts) for c in answer.citations)


# --------------------------------------------------------------------------- prompt


def test_passages_go_in_a_delimited_user_block_not_the_system_message(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(f"{SUPPORTED} [1]")
    answer = llm_bot.answer(QUESTION)
    assert answer.backend == "openai" and not answer.degraded and not answer.abstained
    assert [c.n for c in answer.citations] == [1] and _quoted_verbatim(llm_bot, answer)
    system, user = fake.last_messages()[0], fake.last_messages()[-1]
    assert system["role"] == "system" and "cite the passage" in system["content"]
    assert "improving operational efficiency" not in system["content"]  # no corpus text there
    assert user["role"] == "user" and user["content"].startswith("<context>\n<passage n=1>")
    context, question = user["content"].split("</context>")
    assert (
        "improving operational efficiency" in context
        and question.strip() == f"Question: {QUESTION}"
    )
    body = fake.chat_requests[-1].json
    assert body["model"] == "gpt-4o-mini" and body["max_tokens"] == 512  # compatible servers


def test_context_respects_the_token_budget(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    bot = _bot(llm_bot, context_tokens=300)
    fake.enqueue(f"{SUPPORTED} [1]")
    bot.answer("Compare IT strategy and digital strategy in detail")
    context = fake.last_messages()[-1]["content"].split("</context>")[0]
    assert len(encoding_for_model("gpt-4o-mini").encode(context)) <= 300 + 10
    assert "[1] " in context


# --------------------------------------------------------------------------- checking markers


def test_an_answer_without_markers_is_cited_from_the_passages(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(SUPPORTED)
    answer = llm_bot.answer(QUESTION)
    assert not answer.degraded and answer.backend == "openai"
    assert answer.citations and answer.answer.endswith(f"[{answer.citations[0].n}].")
    assert "operational efficiency" in answer.citations[0].quote
    assert _quoted_verbatim(llm_bot, answer)


def test_a_lead_in_line_is_not_cited(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    fake.enqueue(f"The objectives of an IT strategy are [2]:\n- {SUPPORTED}")
    answer = llm_bot.answer(QUESTION)
    lead, item = answer.answer.splitlines()
    assert lead == "The objectives of an IT strategy are:" and item.endswith("].")
    assert len(answer.citations) == 1 and "operational efficiency" in answer.citations[0].quote


def test_out_of_range_markers_are_replaced(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    fake.enqueue(f"{SUPPORTED[:-1]} [9].")
    answer = llm_bot.answer(QUESTION)
    assert "[9]" not in answer.answer and not answer.degraded
    assert answer.citations and all(1 <= c.n <= 6 for c in answer.citations)


def test_an_unsupported_claim_gets_no_quote(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    fake.enqueue(f"{SUPPORTED[:-1]} [1]. {UNSUPPORTED[:-1]} [1].")
    answer = llm_bot.answer(QUESTION)
    assert not answer.degraded and len(answer.citations) == 1
    cheese = answer.answer.split("operational efficiency", 1)[1]
    assert "green cheese" in cheese and "[" not in cheese.split("]", 1)[1]  # no marker after it
    assert "cheese" not in answer.citations[0].quote


def test_a_wholly_unsupported_answer_is_replaced_by_the_local_one(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(f"{UNSUPPORTED[:-1]} [1].")
    answer = llm_bot.answer(QUESTION)
    assert answer.degraded and answer.backend == "local" and "cheese" not in answer.answer
    assert answer.degraded_reason and "not supported" in answer.degraded_reason


def test_model_saying_not_covered_becomes_an_abstention(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue("The knowledge base does not cover this.")
    answer = llm_bot.answer(QUESTION)
    assert answer.abstained and answer.backend == "openai"


# --------------------------------------------------------------------------- streaming


def test_streaming_yields_model_text_then_the_checked_answer(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(Reply(f"{SUPPORTED} [1]"))
    parts = list(llm_bot.stream(QUESTION))
    final = parts[-1]
    assert isinstance(final, Answer) and final.backend == "openai" and not final.degraded
    assert _text(parts) == f"{SUPPORTED} [1]" and len(parts) > 3  # really in pieces
    assert fake.chat_requests[-1].json["stream"] is True


def test_a_stream_without_finish_reason_is_not_passed_off_as_complete(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(Reply(SUPPORTED, finish_reason=None))
    parts = list(llm_bot.stream(QUESTION))
    final = parts[-1]
    assert isinstance(final, Answer) and final.degraded and final.backend == "local"
    assert "finish reason" in (final.degraded_reason or "")
    assert "not usable" in _text(parts) and final.answer in _text(parts)
    fake.enqueue(Reply(SUPPORTED, finish_reason=None))
    assert llm_bot.answer(QUESTION).degraded


def test_a_server_down_before_the_first_token_is_said_in_the_stream(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(Drop())
    parts = list(llm_bot.stream(QUESTION))
    first, final = parts[0], parts[-1]
    assert isinstance(first, str) and first.startswith("(The language model could not answer")
    assert isinstance(final, Answer) and final.degraded and final.citations
    assert final.answer in _text(parts)


# --------------------------------------------------------------------------- failures, retries


@pytest.mark.parametrize(
    "failure", [Error(500), Malformed(), Hang(3.0)], ids=["500", "malformed", "timeout"]
)
def test_llm_failure_degrades_to_the_local_answer(
    fake: FakeOpenAI, llm_bot: KnowledgeBot, failure: object
) -> None:
    fake.enqueue(failure)  # type: ignore[arg-type]
    answer = llm_bot.answer(QUESTION)
    assert answer.degraded and answer.backend == "local" and not answer.abstained
    assert answer.citations and "[1]" in answer.answer and answer.degraded_reason


def test_429_then_success_is_retried(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    bot = _bot(llm_bot, llm_max_retries=2)
    fake.enqueue(Error(429, headers={"Retry-After": "0.2"}), Reply(f"{SUPPORTED} [1]"))
    answer = bot.answer(QUESTION)
    assert answer.backend == "openai" and not answer.degraded
    assert len(fake.chat_requests) == 2


def test_retry_after_beyond_the_deadline_is_not_waited_for(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    bot = _bot(llm_bot, llm_max_retries=5)
    fake.enqueue(Error(429, headers={"Retry-After": "30"}))
    answer = bot.answer(QUESTION)  # gives up at once: 30 s is past the 10 s deadline
    assert answer.degraded and "would miss the deadline" in (answer.degraded_reason or "")
    assert len(fake.chat_requests) == 1


def test_a_slow_model_gives_way_to_the_local_answer_at_the_deadline(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue(Reply(SUPPORTED, chunk_delay=0.4))  # ~5 s in all, past the 1.5 s deadline
    answer = llm_bot.answer(QUESTION, deadline=time.monotonic() + 1.5)
    assert answer.degraded and "deadline ran out" in (answer.degraded_reason or "")


def test_a_cancelled_request_closes_the_upstream_call_and_makes_no_more(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    bot = _bot(llm_bot, llm_max_retries=3)
    bot.index()
    time.sleep(0.5)  # let earlier tests' abandoned responses finish
    fake.reset()
    fake.enqueue(Reply(SUPPORTED, chunk_delay=0.3), Reply(SUPPORTED), Reply(SUPPORTED))
    cancelled = threading.Event()
    threading.Timer(0.8, cancelled.set).start()
    answer = bot.answer(QUESTION, cancelled=cancelled)
    assert answer.degraded and "cancelled" in (answer.degraded_reason or "")
    time.sleep(0.8)  # the fake notices the closed connection at its next write
    assert fake.disconnects >= 1 and len(fake.chat_requests) == 1


def test_no_key_and_no_base_url_fails_at_once(indexed_settings: Settings) -> None:
    bot = KnowledgeBot(indexed_settings.model_copy(update={"llm": "openai"}))
    answer = bot.answer(QUESTION)  # no retries: there is nothing to retry against
    assert answer.degraded and "no LLM is configured" in (answer.degraded_reason or "")


# --------------------------------------------------------------------------- classification


def test_classification_uses_structured_output(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    fake.enqueue(
        '{"label": "both", "confidence": 0.82, "rationale": "IT transformation provides the '
        'secure, scalable foundation that digital transformation initiatives require [1]."}'
    )
    answer = llm_bot.classify("upgrading the order system so customers can track orders online")
    assert answer.classification is not None and answer.classification.label == "both"
    assert answer.classification.confidence == pytest.approx(0.82)
    assert answer.backend == "openai" and answer.citations and not answer.degraded
    assert fake.chat_requests[-1].json["response_format"]["type"] == "json_schema"


def test_an_unsupported_rationale_gets_no_quote(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    fake.enqueue('{"label": "it", "confidence": 0.6, "rationale": "Bananas are yellow [1]."}')
    answer = llm_bot.classify("rolling out multi-factor authentication for all staff")
    assert answer.classification is not None and answer.classification.label == "it"
    assert answer.citations == [] and "[1]" not in answer.answer


def test_classification_falls_back_to_json_mode_when_json_schema_is_rejected(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.reject_json_schema = True  # as llama.cpp's server does, with HTTP 500
    fake.enqueue('{"label": "IT", "confidence": 0.9, "rationale": "Internal security [1]."}')
    answer = llm_bot.classify("rolling out multi-factor authentication for all staff")
    assert answer.classification is not None and answer.classification.label == "it"
    assert answer.backend == "openai" and not answer.degraded
    formats = [(r.json.get("response_format") or {}).get("type") for r in fake.chat_requests]
    assert formats == ["json_schema", "json_object"]


def test_classification_parses_a_plain_reply_when_no_format_is_honoured(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.reject_json_schema = True
    fake.enqueue(
        "I cannot do JSON mode.",
        'Sure! {"label": "digital", "confidence": 0.7, "rationale": "Customers [1]."} Hope it helps.',
    )
    answer = llm_bot.classify("launching a loyalty app for our customers")
    assert answer.classification is not None and answer.classification.label == "digital"
    assert not answer.degraded
    assert "response_format" not in fake.chat_requests[-1].json


def test_malformed_classification_falls_back_to_local(
    fake: FakeOpenAI, llm_bot: KnowledgeBot
) -> None:
    fake.enqueue('{"label": "maybe"}', "no idea", "none")
    answer = llm_bot.classify("rolling out multi-factor authentication for all staff")
    assert answer.degraded and answer.backend == "local" and answer.degraded_reason
    assert answer.classification is not None and answer.classification.label == "it"


# --------------------------------------------------------------------------- follow-ups


def test_follow_up_is_condensed_by_the_llm(fake: FakeOpenAI, llm_bot: KnowledgeBot) -> None:
    fake.enqueue(
        "Who owns digital transformation?",
        "Digital transformation is owned by the CEO, the CIO, the CDO and cross-functional "
        "leadership [1].",
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


# --------------------------------------------------------------------------- CLI and eval


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "KB_LLM"))}
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "command",
    [
        ("bot.doors.cli", "ask", "What is IT strategy?", "--llm", "openai"),
        ("evals.runner", "--llm", "openai", "--split", "dev"),
    ],
    ids=["ask", "eval"],
)
def test_llm_openai_without_key_or_base_url_fails_with_one_line(command: tuple[str, ...]) -> None:
    result = _run(*command)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no LLM is configured" in lines[0], result.stderr


def test_eval_with_the_llm_down_fails_its_gate(indexed_settings: Settings, tmp_path: Path) -> None:
    from evals.runner import run_eval

    with socket.socket() as s:  # a port nobody listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    settings = indexed_settings.model_copy(
        update={"openai_base_url": dead, "llm_max_retries": 0, "deadline_llm": 2.0}
    )
    report = run_eval(
        settings, "dev", llm="openai", report_dir=tmp_path, baseline=False, thresholds={},
        limit=3, case_filter=lambda case: case.kind == "knowledge",
    )  # fmt: skip
    assert report.kb.metrics["degraded_answers"] == 3
    assert any("degraded_answers" in failure for failure in report.gate_failures)
