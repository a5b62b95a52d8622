"""Reading and writing Slack threads for the Slack door: a thread as conversation history,
posting or replacing kb's message, and the user-facing failure text. (Retry de-duplication is
a claim in the state database, shared by replicas: `FeedbackStore.claim`.)"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer import QuestionError
from bot.doors.slack_blocks import APOLOGY, THINKING
from bot.runtime.schema import Answer, Turn

log = logging.getLogger(__name__)

# message subtypes that are still a person writing (edits, joins, bot posts… are not)
USER_SUBTYPES = (None, "file_share", "thread_broadcast")
HISTORY_MESSAGES = 20  # thread messages read back as conversation history
DEDUPE_TTL_S = 15 * 60.0  # Slack retries after ~0 s, 1 min and 5 min
USAGE = (
    "Ask me about IT and digital strategy, e.g. `/kb What is digital transformation?`, "
    "or classify an initiative with `/kb classify move payroll to a cloud HR suite`."
)
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def plain_text(text: str) -> str:
    """Slack message text as plain text: user mentions removed, &amp; &lt; &gt; decoded."""
    return html.unescape(_MENTION.sub(" ", text)).strip()


def publish(
    client: WebClient,
    channel: str,
    thread_ts: str | None,
    placeholder_ts: str | None,
    *,
    text: str,
    blocks: list[dict[str, Any]] | None,
) -> None:
    """Replace the placeholder with the final message (or post it if there is none)."""
    if placeholder_ts:
        try:
            client.chat_update(channel=channel, ts=placeholder_ts, text=text, blocks=blocks or [])
            return
        except SlackApiError as exc:
            log.warning("chat.update failed (%s); posting the answer instead", exc)
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks)


def thread_history(
    client: WebClient,
    context: BoltContext,
    channel: str,
    thread_ts: str,
    skip: set[str | None],
) -> list[Turn]:
    """The thread so far as turns: the bot's answers are assistant turns, people are users."""
    replies = client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
    turns: list[Turn] = []
    for msg in replies.get("messages") or []:
        if msg.get("ts") in skip or msg.get("subtype") not in USER_SUBTYPES:
            continue
        text = plain_text(msg.get("text") or "")
        if not text or text in (plain_text(THINKING), plain_text(APOLOGY)):
            continue
        own = msg.get("user") == context.bot_user_id or (
            msg.get("bot_id") is not None and msg.get("bot_id") == context.bot_id
        )
        if msg.get("bot_id") and not own:
            continue  # other bots are neither the user nor us
        turns.append(Turn(role="assistant" if own else "user", content=text))
    return turns[-HISTORY_MESSAGES:]


def failure_text(exc: Exception, *, channel: str | None, thread_ts: str | None) -> str:
    """The user-facing text for a failure; logs the cause (never tokens)."""
    if isinstance(exc, QuestionError):
        log.info("question rejected in %s/%s: %s", channel, thread_ts, exc)
        return f"I can't answer that as asked: {exc}. {USAGE}"
    log.error(
        "answering failed in %s/%s: %s: %s",
        channel,
        thread_ts,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    return APOLOGY


def log_answer(answer: Answer, channel: str, thread_ts: str | None) -> None:
    log.info(
        "answered in %s/%s backend=%s abstained=%s degraded=%s citations=%d latency_ms=%.1f",
        channel,
        thread_ts,
        answer.backend,
        answer.abstained,
        answer.degraded,
        len(answer.citations),
        answer.latency_ms,
    )
