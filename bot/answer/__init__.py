"""The answer pipeline as stages: understand the question → retrieve → compose (local) or
generate (LLM) → check → `Answer`. `KnowledgeBot` (in `pipeline`) orchestrates them.

May import: `bot.runtime` (and, only to ingest on first use, `ingest`). Never a door.
Public entry points for the doors: `KnowledgeBot`, `QuestionError` and `DeadlineExceeded`.
"""

from bot.answer.deadline import DeadlineExceeded
from bot.answer.pipeline import KnowledgeBot
from bot.answer.understand import QuestionError

__all__ = ["DeadlineExceeded", "KnowledgeBot", "QuestionError"]
