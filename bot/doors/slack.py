"""The Slack front door's listeners: they translate Slack events, commands and actions into
answers (delivered by `slack_answering`; the app itself is wired in `slack_app`).

Every listener acks at once and answers in a lazy listener (Bolt's thread pool), so Slack
always gets its 200 within 3 seconds. What a channel gets (answer on mention, automatic
answers, nothing; public or private) comes from the channel file (`slack_policy`).
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
from bot.doors.feedback import FeedbackStore
from bot.doors.slack_answering import Answerer, BotSource
from bot.doors.slack_blocks import THINKING, escape, fallback_text
from bot.doors.slack_policy import ChannelPolicy, ChannelRule, RateLimiter, slow_down_text
from bot.doors.slack_thread import (
    DEDUPE_TTL_S,
    USAGE,
    USER_SUBTYPES,
    failure_text,
    plain_text,
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
][:4]  # Slack shows at most four
TITLE_CHARS = 80

__all__ = ["BotSource", "SlackListeners"]


class SlackListeners:
    """The listeners of the Bolt app; they only translate Slack ⇄ `KnowledgeBot`."""

    def __init__(
        self,
        bot: BotSource,
        store: FeedbackStore,
        *,
        policy: ChannelPolicy | None = None,
        limiter: RateLimiter | None = None,
        private_default: bool = False,
        stream: bool = True,
    ) -> None:
        self.store = store
        self.policy = policy or ChannelPolicy()
        self.private_default = private_default
        self.answerer = Answerer(bot, store, limiter or RateLimiter(0), stream=stream)

    @property
    def bot(self) -> KnowledgeBot:
        """The answering service."""
        return self.answerer.bot

    def rule(self, channel: str | None) -> ChannelRule:
        """The channel file's rule for a channel."""
        return self.policy.rule(channel)

    def private(self, event: dict[str, Any]) -> bool:
        """Whether answers in this event's channel are only visible to the asker."""
        if event.get("channel_type") == "im":
            return False
        rule = self.rule(event.get("channel"))
        return self.private_default if rule.private is None else rule.private

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
        """A DM, a thread reply without @mention, or any message in an `auto` channel."""
        if not self.is_user_message(event, context):
            return False
        if event.get("channel_type") == "im":
            return True
        mention = f"<@{context.bot_user_id}" if context.bot_user_id else "<@"
        if mention in event["text"]:
            return False  # the mention has its own event
        thread_ts = event.get("thread_ts")
        if thread_ts and thread_ts != event.get("ts"):
            return True
        return self.rule(event.get("channel")).mode == "auto"

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
        if self.rule(event["channel"]).mode == "ignore":
            log.info("mention in ignored channel %s: not answered", event["channel"])
            return
        self.answerer.answer_event(
            client,
            context,
            event,
            with_history=bool(event.get("thread_ts")),
            private=self.private(event),
        )

    def on_message(self, event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """A DM, a thread reply where the bot already answered, or a message in an auto channel."""
        channel, thread_ts = event["channel"], event.get("thread_ts")
        if event.get("channel_type") == "im":
            if self.claim(channel, event["ts"]):
                self.answerer.answer_event(client, context, event, with_history=bool(thread_ts))
            return
        rule = self.rule(channel)
        if rule.mode == "ignore":
            return
        if thread_ts and thread_ts != event.get("ts"):
            if self.store.answered_in_thread(channel, thread_ts) and self.claim(
                channel, event["ts"]
            ):
                self.answerer.answer_event(
                    client, context, event, with_history=True, private=self.private(event)
                )
            return
        if rule.mode == "auto" and self.claim(channel, event["ts"]):
            self.answerer.auto_answer(client, event, rule, self.private(event))

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
        """A message in an assistant thread: title, "thinking…" status, then the answer."""
        if not self.is_user_message(event, context) or not self.claim(
            event["channel"], event["ts"]
        ):
            return
        thread_ts = event.get("thread_ts")
        if thread_ts and self._claim(f"slack:titled:{event['channel']}:{thread_ts}"):
            title = " ".join(plain_text(event.get("text") or "").split())
            if len(title) > TITLE_CHARS:
                title = title[: TITLE_CHARS - 1].rstrip() + "…"
            try:
                client.assistant_threads_setTitle(
                    channel_id=event["channel"], thread_ts=thread_ts, title=title or "Question"
                )
            except SlackApiError as exc:
                log.info("assistant title unavailable: %s", exc)
        status_set = False
        if set_status is not None:
            try:
                set_status(status="thinking…")
                status_set = True
            except SlackApiError as exc:
                log.info("assistant status unavailable (%s); using a placeholder", exc)
        self.answerer.answer_event(
            client, context, event, with_history=True, placeholder=not status_set
        )

    def on_other_event(self) -> None:
        """Events the bot subscribes to but ignores (edits, joins, …): acked, nothing else."""

    # ------------------------------------------------------------------ slash command
    def on_command(self, command: dict[str, Any], respond: Callable[..., Any]) -> None:
        """`/kb <question>` or `/kb classify <initiative>`: a private answer with "Share"."""
        text = (command.get("text") or "").strip()
        if not text or text.lower() in ("help", "classify"):
            return
        channel = command.get("channel_id")
        if wait := self.answerer.limiter.check(command.get("user_id")):
            respond(response_type="ephemeral", text=slow_down_text(wait))
            return
        classify = re.match(r"(?i)classify\s+(.+)", text, re.DOTALL)
        try:
            bot = self.bot
            answer = bot.classify(classify.group(1)) if classify else bot.answer(text)
            answer_id = self.store.save_answer(text, answer, channel=channel, thread_ts=None)
            render = self.answerer.renderer(answer, answer_id, private=True)
            for number, blocks in enumerate(render(False)):
                respond(
                    response_type="ephemeral",
                    replace_original=False,
                    text=escape(fallback_text(answer)) if number == 0 else "(continued)",
                    blocks=blocks,
                )
        except Exception as exc:
            message = failure_text(exc, channel=channel, thread_ts=None)
            try:
                respond(response_type="ephemeral", text=message)
            except Exception:
                log.exception("could not post the apology through response_url")

    def on_share(
        self,
        body: dict[str, Any],
        action: dict[str, Any],
        client: WebClient,
        respond: Callable[..., Any] | None = None,
    ) -> None:
        """ "Share in channel" on a private answer."""
        try:
            self.answerer.share(client, body, action, respond)
        except Exception:
            log.exception("sharing answer %s failed", action.get("value"))
