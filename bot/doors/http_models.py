"""The HTTP API's request and response models: what the OpenAPI document publishes.

The published schema is what the server enforces (schemathesis checks both directions): a
question must contain a letter or digit (`VISIBLE`), so blank or invisible text is refused by
validation itself rather than slipping through the schema and failing later.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictBool

from bot.doors.http_support import CleanText
from bot.runtime.schema import Citation, Label, Turn

# A letter or digit of a major script. The same regex is checked by pydantic (Rust regex) and
# by clients validating against the schema (ECMA-262), so it is an explicit class of literal
# characters: `\w` and `\p{L}` differ between those engines. Every character in it survives
# the pipeline's question cleaning, so a matching question is never "empty" downstream.
VISIBLE = (
    "[0-9A-Za-z"
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"  # Latin-1 letters, Latin Extended-A/B
    "\u0391-\u03a1\u03a3-\u03c9"  # Greek
    "\u0400-\u0481\u048a-\u052f"  # Cyrillic
    "\u05d0-\u05ea\u0620-\u064a"  # Hebrew, Arabic
    "\u0905-\u0939\u0e01-\u0e30"  # Devanagari, Thai
    "\u3041-\u3096\u30a1-\u30fa"  # Hiragana, Katakana
    "\u4e00-\u9fff\uac00-\ud7a3"  # CJK ideographs, Hangul syllables
    "]"
)
VISIBLE_HINT = "must contain a letter or digit"


class HistoryTurn(Turn):
    """An earlier message of the conversation."""

    content: CleanText


class AskRequest(BaseModel):
    """`POST /ask` (DESIGN.md), plus `stream` for Server-Sent Events."""

    question: CleanText = Field(
        pattern=VISIBLE,
        description=f"The question ({VISIBLE_HINT}; at most KB_MAX_QUESTION_CHARS characters).",
        examples=["What is digital transformation?"],
    )
    history: list[HistoryTurn] = Field(
        default_factory=list, description="Earlier turns, oldest first."
    )
    # strict: the schema says boolean, so 0/"true" are refused rather than coerced
    stream: StrictBool = Field(
        False, description="Stream Server-Sent Events (also: `Accept: text/event-stream`)."
    )


class ClassifyRequest(BaseModel):
    """`POST /classify`."""

    initiative: CleanText = Field(
        pattern=VISIBLE,
        description=f"The initiative ({VISIBLE_HINT}; at most KB_MAX_QUESTION_CHARS characters).",
        examples=["Migrating our data center to the cloud"],
    )


class ClassifyResponse(BaseModel):
    """Whether an initiative is IT, digital or both, with the evidence. Text that is not an
    initiative gets `label: null` and a rationale saying so."""

    label: Label | None
    confidence: float
    rationale: str
    citations: list[Citation]
    degraded: bool = Field(False, description="The LLM failed and the local classifier answered.")
    degraded_reason: str | None = None


class SourceInfo(BaseModel):
    """One document of the knowledge base."""

    source: str
    title: str
    chunks: int


class SourcesResponse(BaseModel):
    """The documents of the knowledge base."""

    sources: list[SourceInfo]


class ErrorBody(BaseModel):
    """`error` of an error response."""

    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    """Every error: `{"error": {"code", "message", "request_id"}}`."""

    error: ErrorBody


class Readiness(BaseModel):
    """`/readyz`. With `KB_API_KEY` set only `ready` and the counts are shown (the endpoint is
    public); without it also where the index lives and, when not ready, why."""

    ready: bool
    documents: int = 0
    chunks: int = 0
    reason: str | None = None
    chroma: str | None = None
    collection: str | None = None
    embedding_model: str | None = None
    error: ErrorBody | None = Field(None, description="Set when not ready (503).")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries in the error shape for these statuses."""
    return {status: {"model": ErrorResponse, "description": ERRORS[status]} for status in statuses}


ERRORS = {
    400: "Malformed request: invalid JSON (or too deeply nested), bad Content-Length",
    401: "Missing or wrong API key",
    404: "No such endpoint or model",
    413: "Body larger than KB_MAX_BODY_BYTES",
    415: "Body not sent as application/json",
    422: "Invalid request: wrong fields or types, or a question that is empty after cleaning "
    "(e.g. only markup) or longer than KB_MAX_QUESTION_CHARS",
    503: "Knowledge base unavailable, not ready, or no answer within the request deadline",
}
