"""The public data contracts: what every front door (CLI, HTTP, Slack) sends and receives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Label = Literal["it", "digital", "both"]
Role = Literal["user", "assistant"]


class Turn(BaseModel):
    """One earlier message of a conversation."""

    role: Role
    content: str


class Citation(BaseModel):
    """A numbered source behind an answer; `quote` is verbatim text of the cited chunk."""

    n: int
    source: str = Field(description="Corpus path, e.g. corpus/000_a56ff1d7635db02c.txt")
    title: str
    quote: str
    score: float
    section: str = ""


class Classification(BaseModel):
    """Whether an initiative is an IT, a digital, or a both-sides initiative."""

    label: Label
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str


class Answer(BaseModel):
    """The answer contract of DESIGN.md: `POST /ask`, `kb ask --json`, and what Slack renders."""

    answer: str
    citations: list[Citation] = Field(default_factory=list)
    classification: Classification | None = None
    abstained: bool = False
    backend: Literal["local", "openai"] = "local"
    degraded: bool = False
    degraded_reason: str | None = Field(
        None, description="Why the answer is degraded (LLM failed, deadline ran out…)."
    )
    latency_ms: float = 0.0
