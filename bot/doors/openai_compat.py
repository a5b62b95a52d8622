"""An OpenAI-compatible face of kb (`/v1/models`, `/v1/chat/completions`), so any chat UI or
SDK that speaks the OpenAI API can ask the knowledge base. The reply text carries the sources;
the full Answer rides along in an extra top-level field `kb`."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from bot.doors.http_guard import new_deadline, ready_bot, run_guarded
from bot.doors.http_models import VISIBLE, VISIBLE_HINT
from bot.doors.http_support import (
    SSE_HEADERS,
    ApiError,
    CleanText,
    prefetched,
    request_id_of,
    run_blocking,
    sse,
)
from bot.runtime.render import as_markdown
from bot.runtime.schema import Answer, Turn

log = logging.getLogger("kb.http")

MODEL_ID = "kb"
SOURCES_HEADING = "\n\nSources:\n"

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: CleanText | None = None


class ChatMessage(BaseModel):
    """A chat message. System/developer/tool messages are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: CleanText | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    """OpenAI `stream_options`."""

    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


# "Some user message has text with a letter or digit", as JSON Schema; `_has_question`
# enforces exactly this, so the published schema and the server agree.
_VISIBLE_TEXT = {"type": "string", "pattern": VISIBLE}
_USER_WITH_TEXT = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"const": "user"},
        "content": {
            "anyOf": [
                _VISIBLE_TEXT,
                {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "required": ["text"],
                        "properties": {"type": {"const": "text"}, "text": _VISIBLE_TEXT},
                    },
                },
            ]
        },
    },
}


class ChatCompletionRequest(BaseModel):
    """The subset of the OpenAI chat request kb reads (other fields are accepted, ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(
        min_length=1,
        description=f"The conversation; the last user message whose text {VISIBLE_HINT} "
        "is the question.",
        json_schema_extra={"contains": _USER_WITH_TEXT},
    )
    stream: StrictBool = False  # strict: as published (boolean), 0/"true" are refused
    stream_options: StreamOptions | None = None

    @model_validator(mode="after")
    def _has_question(self) -> ChatCompletionRequest:
        if not any(_asks(m) for m in self.messages):
            raise PydanticCustomError(
                "empty_question", "no user message to answer (one {hint})", {"hint": VISIBLE_HINT}
            )
        return self


def _asks(message: ChatMessage) -> bool:
    """A user message whose text has a letter or digit (`_USER_WITH_TEXT`)."""
    if message.role != "user" or message.content is None:
        return False
    if isinstance(message.content, str):
        return re.search(VISIBLE, message.content) is not None
    return any(
        p.type == "text" and p.text is not None and re.search(VISIBLE, p.text)
        for p in message.content
    )


def text_of(message: ChatMessage) -> str:
    """The plain text of a message."""
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(part.text or "" for part in message.content if part.type == "text")


def split_conversation(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """(question, history): the last user message with text (`_asks`), and the user/assistant
    turns before it. The request model guarantees there is one."""
    kept = [m for m in messages if m.role in ("user", "assistant")]
    turns = [(m.role, text_of(m)) for m in kept]
    last_user = max(i for i, m in enumerate(kept) if _asks(m))
    history = [
        # our own earlier replies carry a sources block that would only add noise
        Turn(role=role, content=text.split(SOURCES_HEADING, 1)[0])  # type: ignore[arg-type]
        for role, text in turns[:last_user]
        if text.strip()
    ]
    return turns[last_user][1], history


def sources_block(answer: Answer) -> str:
    """The "Sources:" block appended to the reply text (empty without citations)."""
    if not answer.citations:
        return ""
    return SOURCES_HEADING + "\n".join(f"[{c.n}] {c.title} ({c.source})" for c in answer.citations)


def reply_text(answer: Answer) -> str:
    """The assistant message: the answer as Markdown, then its sources."""
    return as_markdown(answer) + sources_block(answer)


def _tokens(text: str) -> int:
    from bot.runtime.tokens import count_tokens

    try:
        return count_tokens(text)
    except Exception:  # usage is informative only; never fail an answer over it
        return len(text.split())


def usage(messages: list[ChatMessage], completion: str) -> dict[str, int]:
    """Token counts (cl100k_base) in the OpenAI `usage` shape."""
    prompt = _tokens("\n".join(text_of(m) for m in messages))
    done = _tokens(completion)
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def _model_card(request: Request) -> dict[str, Any]:
    created = int(getattr(request.app.state, "started_at", 0))
    return {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "kb"}


@router.get("/models", summary="List models (one: `kb`)")
async def list_models(request: Request) -> dict[str, Any]:
    """The OpenAI model list: a single model, `kb`."""
    return {"object": "list", "data": [_model_card(request)]}


@router.get("/models/{model_id}", summary="Retrieve a model")
async def get_model(
    model_id: Annotated[str, Path(examples=[MODEL_ID])], request: Request
) -> dict[str, Any]:
    """The `kb` model card."""
    if model_id != MODEL_ID:
        raise ApiError(404, "model_not_found", f"no such model; the only model is {MODEL_ID!r}")
    return _model_card(request)


@router.post(
    "/chat/completions",
    summary="Chat completion over the knowledge base (OpenAI wire format)",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "JSON, or SSE chunks when `stream` is true",
        }
    },
)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
    """Answer the last user message from the knowledge base; earlier turns are the history.
    Any `model` name is accepted and answered by `kb`."""
    question, history = split_conversation(body.messages)
    bot = await ready_bot(request)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        deadline = new_deadline(request)
        items = await prefetched(request, bot.stream(question, history, deadline=deadline))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = _chunks(request, items, body.messages, completion_id, created, include_usage)
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)

    answer = await run_guarded(request, bot.answer, question, history)

    def complete() -> dict[str, Any]:
        text = reply_text(answer)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL_ID,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage(body.messages, text),
            "kb": answer.model_dump(mode="json"),
        }

    return await run_blocking(request, complete)


async def _chunks(
    request: Request,
    items: AsyncIterator[str | Answer],
    messages: list[ChatMessage],
    completion_id: str,
    created: int,
    include_usage: bool,
) -> AsyncIterator[str]:
    """`chat.completion.chunk` events, then `data: [DONE]`."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "system_fingerprint": None,
            "choices": [choice],
            **extra,
        }
        return sse(body)

    yield chunk({"role": "assistant", "content": ""})
    sent: list[str] = []
    try:
        async for item in items:
            if isinstance(item, Answer):
                tail = sources_block(item)
                if tail:
                    sent.append(tail)
                    yield chunk({"content": tail})
                yield chunk({}, "stop", kb=item.model_dump(mode="json"))
                break
            sent.append(item)
            yield chunk({"content": item})
    except Exception:
        rid = request_id_of(request)
        log.exception("chat completion stream failed rid=%s", rid)
        error = {
            "code": "internal_error",
            "message": f"internal error; quote request id {rid}",
            "request_id": rid,
        }
        yield sse({"error": error})
    if include_usage:
        counts = await anyio.to_thread.run_sync(usage, messages, "".join(sent))
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [],
            "usage": counts,
        }
        yield sse(body)
    yield "data: [DONE]\n\n"
