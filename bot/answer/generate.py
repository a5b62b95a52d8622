"""Stage 3b, generate with an LLM (OpenAI or any OpenAI-compatible server): answer, stream,
classify and condense, each bounded by the request's deadline (see `llm_client`).

Only the calls live here; choosing the backend, checking the reply and falling back to the
local answer is the pipeline's job.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from bot.answer.deadline import Deadline
from bot.answer.llm_client import ChatStream, LlmClient, LlmError
from bot.answer.prompt import (
    CLASSIFY_PROMPT,
    SYSTEM_PROMPT,
    condense_messages,
    history_messages,
    pack_context,
    user_message,
)
from bot.answer.retrieve import Hit
from bot.runtime.schema import Turn
from bot.runtime.settings import Settings
from bot.runtime.tokens import encoding_for_model

log = logging.getLogger(__name__)

__all__ = ["LlmBackend", "LlmClassification", "LlmError", "make_chat_model"]


class LlmClassification(BaseModel):
    """Structured output of the classification prompt."""

    label: Literal["it", "digital", "both"]
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str

    @field_validator("label", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def _schema_format() -> dict[str, Any]:
    schema = LlmClassification.model_json_schema()
    schema["additionalProperties"] = False
    return {
        "type": "json_schema",
        "json_schema": {"name": "classification", "schema": schema, "strict": True},
    }


# Tried in order: servers differ in what they accept (llama.cpp's rejects json_schema with 500).
RESPONSE_FORMATS: list[tuple[str, dict[str, Any] | None]] = [
    ("json_schema", _schema_format()),
    ("json_object", {"type": "json_object"}),
    ("plain", None),
]


def parse_classification(text: str) -> LlmClassification:
    """The first JSON object in a reply, as a classification (LlmError if there is none)."""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(text[start:])
            return LlmClassification.model_validate(value)
        except (ValueError, ValidationError):
            start = text.find("{", start + 1)
    raise LlmError(f"no valid classification in the reply: {text[:120]!r}")


def make_chat_model(settings: Settings):  # type: ignore[no-untyped-def]
    """A `ChatOpenAI` from settings (used by the eval's LLM judge, not by answering)."""
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    base_url = settings.openai_base_url
    extra_body = None
    if base_url and "api.openai.com" not in base_url:
        extra_body = {"max_tokens": settings.llm_max_tokens}  # llama.cpp ignores the other name
    return ChatOpenAI(
        model=settings.openai_model,
        api_key=key,  # type: ignore[arg-type]
        base_url=base_url,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        max_completion_tokens=settings.llm_max_tokens,
        temperature=0,
        extra_body=extra_body,
    )


class LlmBackend:
    """Answers, streams, classifies and condenses with a chat model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = LlmClient(settings)
        encoding_for_model(settings.openai_model)  # load the tokenizer now, not in a request

    def _context(self, hits: list[Hit]) -> tuple[str, list[Hit]]:
        return pack_context(hits, self.settings.openai_model, self.settings.context_tokens)

    def answer_messages(
        self, question: str, history: list[Turn] | None, hits: list[Hit]
    ) -> tuple[list[dict[str, str]], list[Hit]]:
        """System rules, the conversation, then the context block with the question."""
        context, kept = self._context(hits)
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            *history_messages(history),
            user_message(context, "Question", question),
        ]
        return messages, kept

    def stream(
        self, question: str, history: list[Turn] | None, hits: list[Hit], deadline: Deadline
    ) -> tuple[ChatStream, list[Hit]]:
        """The streamed answer (iterate it for text) and the passages it was given. Answers
        are always streamed, so an abandoned request can close the upstream call at once."""
        messages, kept = self.answer_messages(question, history, hits)
        return self.client.stream(messages, deadline), kept

    def classify(
        self, initiative: str, hits: list[Hit], deadline: Deadline
    ) -> tuple[LlmClassification, list[Hit]]:
        """A classification, trying JSON schema, then JSON mode, then a parsed plain reply."""
        context, kept = self._context(hits)
        messages = [
            {"role": "system", "content": CLASSIFY_PROMPT},
            user_message(context, "Initiative", initiative),
        ]
        failures = []
        for name, response_format in RESPONSE_FORMATS:
            extra = {"response_format": response_format} if response_format else {}
            try:
                text = self.client.complete(messages, deadline, **extra)
                return parse_classification(text), kept
            except LlmError as exc:
                failures.append(f"{name}: {exc}")
                if deadline.stopped() or (exc.status is None and "no valid" not in str(exc)):
                    break  # out of time or no server: another format will not help
                log.info("classification with %s failed (%s); trying the next format", name, exc)
        raise LlmError("; ".join(failures))

    def condense(self, question: str, history: list[Turn], deadline: Deadline) -> str:
        """A standalone version of a follow-up question."""
        text = self.client.complete(condense_messages(question, history), deadline).strip()
        text = re.sub(r"^(standalone question|question)\s*:\s*", "", text, flags=re.I).strip()
        if not text or len(text) > 4 * len(question) + 400:
            raise LlmError("unusable condensed question")
        return text
