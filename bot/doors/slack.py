"""The Slack front door's listeners: they translate Slack events, commands and actions into
`KnowledgeBot` calls and post the rendered answers (the app itself is wired in `slack_app`).

Every listener acks at once and answers in a lazy listener (Bolt's thread pool), so Slack
always gets its 200 within 3 seconds. Answers first show a "thinking…" placeholder (or the
assistant status) that the answer then replaces; any failure becomes a short apology.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer import KnowledgeBot
from bot.doors.feedback import FeedbackStore, Vote
from bot.doors.slack_blocks import (
    APOLOGY,
    FEEDBACK_UP,
    THINKING,
    escape,
    fallback_text,
    render_answer,
    render_apology,
    render_thinking,
)
from bot.doors.slack_thread import (
    DEDUPE_TTL_S,
    USAGE,
    USER_SUBTYPES,
    failure_text,
    log_answer,
    plain_text,
    publish,
    thread_history,
)

log = logging.getLogger(__name__)

SUGGESTED_PROMPTS = [
    {"title": "What is digital transformation?", "message": "What is digital transformation?"},
    {
        "title": "IT vs digital strategy",
        "message": "What is the difference between an IT strategy and a digital strategy?",
    },
    {
        "title": "Classify an initiative",
        "message": "Is a customer self-service mobile app an IT or a digital initiative?",
    },
]
THANKS = {
    "up": "Thanks for the 👍, glad it helped!",
    "down": "Thanks for the 👎. The answer has been logged so the knowledge base can be improved.",
}
# A bot, or a provider of one: `create_app` may build its bot only at start-up.
BotSource = KnowledgeBot | Callable[[], KnowledgeBot | None]


class SlackListeners:
    """The listeners of the Bolt app; they only translate Slack ⇄ `KnowledgeBot`."""

    def __init__(self, bot: BotSource, store: FeedbackStore) -> None:
        self._bot = bot
        self.store = store

    @property
    def bot(self) -> KnowledgeBot:
        """The answering service (looked up per use when given as a provider)."""
        if isinstance(self._bot, KnowledgeBot):
            return self._bot
        bot = self._bot()
        if bot is None:
            raise RuntimeError("the knowledge bot is still loading")
        return bot

    # ------------------------------------------------------------------ middleware
    def dedupe_events(self, body: dict[str, Any], request: Any, next: Callable[[], Any]) -> Any:
        """Ack a redelivered event (Slack retry, same event_id) without processing it again."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id and not self._claim(f"slack:event:{event_id}"):
            retry = request.headers.get("x-slack-retry-num", ["?"])[0]
            log.info("event %s already received (retry %s): acked, not processed", event_id, retry)
            return BoltResponse(status=200, body="")
        return next()

    def claim(self, channel: str, ts: str) -> bool:
        """True once per user message, whichever event (mention, message, retry) brings it."""
        return self._claim(f"slack:message:{channel}:{ts}")

    def _claim(self, key: str) -> bool:
        """Claim `key` in the state database, so only one replica handles it.

        If the database is unreachable, answer anyway: a rare duplicate beats silence.
        """
        try:
            return self.store.claim(key, DEDUPE_TTL_S)
        except Exception as exc:
            log.warning("retry de-duplication unavailable (%s); handling %s anyway", exc, key)
            return True

    # ------------------------------------------------------------------ matchers
    @staticmethod
    def is_user_message(event: dict[str, Any], context: BoltContext) -> bool:
        """A plain message from a person: no subtype (edits, joins…), not from a bot."""
        return (
            event.get("subtype") in USER_SUBTYPES
            and not event.get("bot_id")
            and event.get("user") not in (None, context.bot_user_id)
            and bool((event.get("text") or "").strip())
        )

    def is_question_message(self, event: dict[str, Any], context: BoltContext) -> bool:
        """A DM, or a reply without @mention in a channel thread (the mention has its own event)."""
        if not self.is_user_message(event, context):
            return False
        if event.get("channel_type") == "im":
            return True
        thread_ts = event.get("thread_ts")
        mention = f"<@{context.bot_user_id}" if context.bot_user_id else "<@"
        return bool(thread_ts) and thread_ts != event.get("ts") and mention not in event["text"]

    # ------------------------------------------------------------------ acks
    @staticmethod
    def ack_now(ack: Callable[..., Any]) -> None:
        """Acknowledge immediately; the lazy listener does the work."""
        ack()

    @staticmethod
    def ack_command(ack: Callable[..., Any], command: dict[str, Any]) -> None:
        """Acknowledge a slash command with usage help, or an ephemeral "thinking…"."""
        text = (command.get("text") or "").strip()
        if not text or text.lower() in ("help", "classify"):
            ack(text=USAGE)
        else:
            ack(text=THINKING)

    # ------------------------------------------------------------------ events
    def on_mention(self, event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """@kb in a channel: answer in the mention's thread (with its history if any)."""
        if not self.is_user_message(event, context) or not self.claim(
            event["channel"], event["ts"]
        ):
            return
        self._answer_message(client, context, event, with_history=bool(event.get("thread_ts")))

    def on_message(self, event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """A DM, or a thread reply where the bot already answered."""
        channel, thread_ts = event["channel"], event.get("thread_ts")
        if event.get("channel_type") != "im" and not (
            thread_ts and self.store.answered_in_thread(channel, thread_ts)
        ):
            return
        if self.claim(channel, event["ts"]):
            self._answer_message(client, context, event, with_history=bool(thread_ts))

    def on_assistant_thread_started(
        self, event: dict[str, Any], set_suggested_prompts: Callable[..., Any], client: WebClient
    ) -> None:
        """A new assistant thread: greet and offer suggested prompts."""
        thread = event.get("assistant_thread") or {}
        try:
            set_suggested_prompts(prompts=SUGGESTED_PROMPTS, title="Try asking:")
            client.chat_postMessage(
                channel=thread["channel_id"],
                thread_ts=thread["thread_ts"],
                text="Hi! Ask me anything about IT and digital strategy; I answer with sources.",
            )
        except (SlackApiError, KeyError) as exc:
            log.warning("assistant thread start failed: %s", exc)

    def on_assistant_message(
        self,
        event: dict[str, Any],
        context: BoltContext,
        client: WebClient,
        set_status: Callable[..., Any] | None = None,
    ) -> None:
        """A message in an assistant thread: "thinking…" status, then the answer."""
        if not self.is_user_message(event, context) or not self.claim(
            event["channel"], event["ts"]
        ):
            return
        status_set = False
        if set_status is not None:
            try:
                set_status(status="thinking…")
                status_set = True
            except SlackApiError as exc:
                log.info("assistant status unavailable (%s); using a placeholder", exc)
        self._answer_message(client, context, event, with_history=True, placeholder=not status_set)

    def on_other_event(self) -> None:
        """Events the bot subscribes to but ignores (edits, joins, …): acked, nothing else."""

    # ------------------------------------------------------------------ slash command
    def on_command(self, command: dict[str, Any], respond: Callable[..., Any]) -> None:
        """`/kb <question>` or `/kb classify <initiative>`: answer through response_url."""
        text = (command.get("text") or "").strip()
        if not text or text.lower() in ("help", "classify"):
            return
        classify = re.match(r"(?i)classify\s+(.+)", text, re.DOTALL)
        try:
            answer = self.bot.classify(classify.group(1)) if classify else self.bot.answer(text)
            answer_id = self.store.save_answer(
                text, answer, channel=command.get("channel_id"), thread_ts=None
            )
            respond(
                response_type="in_channel",
                text=escape(fallback_text(answer)),
                blocks=render_answer(answer, answer_id),
            )
        except Exception as exc:
            message = failure_text(exc, channel=command.get("channel_id"), thread_ts=None)
            try:
                respond(response_type="ephemeral", text=message)
            except Exception:
                log.exception("could not post the apology through response_url")

    # ------------------------------------------------------------------ feedback buttons
    def on_feedback(
        self,
        body: dict[str, Any],
        action: dict[str, Any],
        client: WebClient,
        respond: Callable[..., Any] | None,
    ) -> None:
        """👍 / 👎: record the vote with its question and answer, then thank the user."""
        vote: Vote = "up" if action.get("action_id") == FEEDBACK_UP else "down"
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        message = body.get("message") or {}
        thread_ts = (body.get("container") or {}).get("thread_ts") or message.get("thread_ts")
        try:
            self.store.record(
                str(action.get("value", "")),
                user,
                vote,
                channel=channel,
                thread_ts=thread_ts,
                fallback_answer=plain_text(message.get("text", "")),
            )
        except Exception:
            log.exception("could not record %s feedback from %s", vote, user)
            return
        log.info("feedback %s on answer %s from %s", vote, action.get("value"), user)
        try:
            client.chat_postEphemeral(
                channel=channel, user=user, thread_ts=thread_ts, text=THANKS[vote]
            )
        except SlackApiError as exc:
            # e.g. a slash-command answer in a channel the bot is not a member of
            log.info("chat.postEphemeral failed (%s); thanking through response_url", exc)
            if respond is not None:
                respond(response_type="ephemeral", replace_original=False, text=THANKS[vote])

    # ------------------------------------------------------------------ the answer pipeline
    def _answer_message(
        self,
        client: WebClient,
        context: BoltContext,
        event: dict[str, Any],
        *,
        with_history: bool,
        placeholder: bool = True,
    ) -> None:
        """Placeholder → history → answer() → replace the placeholder; an apology on failure."""
        channel = event["channel"]
        # DMs are answered where they were asked; channel mentions always in a thread
        if event.get("channel_type") == "im":
            thread_ts = event.get("thread_ts")
        else:
            thread_ts = event.get("thread_ts") or event["ts"]
        placeholder_ts: str | None = None
        try:
            if placeholder:
                posted = client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=THINKING, blocks=render_thinking()
                )
                placeholder_ts = posted.get("ts")
            history = None
            if with_history and thread_ts:
                skip = {event["ts"], placeholder_ts}
                history = thread_history(client, context, channel, thread_ts, skip)
            question = event.get("text") or ""
            answer = self.bot.answer(question, history)
            answer_id = self.store.save_answer(
                plain_text(question), answer, channel=channel, thread_ts=thread_ts, history=history
            )
            publish(
                client,
                channel,
                thread_ts,
                placeholder_ts,
                text=escape(fallback_text(answer)),
                blocks=render_answer(answer, answer_id),
            )
            log_answer(answer, channel, thread_ts)
        except Exception as exc:
            message = failure_text(exc, channel=channel, thread_ts=thread_ts)
            try:
                blocks = render_apology() if message == APOLOGY else None
                publish(client, channel, thread_ts, placeholder_ts, text=message, blocks=blocks)
            except Exception:
                log.exception("could not post the apology in %s/%s", channel, thread_ts)
