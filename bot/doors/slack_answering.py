"""Answering one Slack question end to end: rate limit, private or public, streamed or
placeholder, split into messages, saved for feedback; a failure becomes a short reply."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer import KnowledgeBot, QuestionError
from bot.doors.feedback import FeedbackStore
from bot.doors.slack_blocks import (
    APOLOGY,
    THINKING,
    escape,
    fallback_text,
    render_apology,
    render_messages,
    render_thinking,
)
from bot.doors.slack_policy import ChannelRule, RateLimiter, slow_down_text
from bot.doors.slack_reply import (
    Render,
    Streamer,
    doc_info,
    invalid_blocks,
    post_messages,
    post_private,
    stream_closing_blocks,
)
from bot.doors.slack_thread import failure_text, log_answer, plain_text, thread_history
from bot.runtime.schema import Answer, Turn

log = logging.getLogger(__name__)
BotSource = KnowledgeBot | Callable[[], KnowledgeBot | None]


class Answerer:
    """Turns a Slack question into a delivered answer (never silence for an addressed one)."""

    def __init__(
        self,
        bot: BotSource,
        store: FeedbackStore,
        limiter: RateLimiter,
        *,
        stream: bool = True,
    ) -> None:
        self._bot = bot
        self.store = store
        self.limiter = limiter
        self.stream = stream

    @property
    def bot(self) -> KnowledgeBot:
        """The answering service (looked up per use when given as a provider)."""
        if isinstance(self._bot, KnowledgeBot):
            return self._bot
        bot = self._bot()
        if bot is None:
            raise RuntimeError("the knowledge bot is still loading")
        return bot

    def renderer(
        self, answer: Answer, answer_id: str, *, private: bool = False, thread_ts: str | None = None
    ) -> Render:
        """The messages of an answer, for classic (True) or Slack's (False) feedback buttons."""
        docs = doc_info(self.bot, answer.citations)
        return lambda classic: render_messages(
            answer,
            answer_id,
            docs=docs,
            private=private,
            thread_ts=thread_ts,
            classic_feedback=classic,
        )

    # ------------------------------------------------------------------ addressed questions
    def answer_event(
        self,
        client: WebClient,
        context: BoltContext,
        event: dict[str, Any],
        *,
        with_history: bool,
        private: bool = False,
        placeholder: bool = True,
    ) -> None:
        """A question addressed to kb (mention, DM, thread follow-up, assistant thread)."""
        channel, user = event["channel"], event.get("user")
        # DMs are answered where they were asked; channel mentions always in a thread
        if event.get("channel_type") == "im":
            thread_ts = event.get("thread_ts")
        else:
            thread_ts = event.get("thread_ts") or event["ts"]
        if wait := self.limiter.check(user):
            self._slow_down(client, channel, user, thread_ts, wait, private_ok=not _is_dm(event))
            return
        question = plain_text(event.get("text") or "")
        placeholder_ts: str | None = None
        streamer: Streamer | None = None
        try:
            self.bot.validate(question)  # a too-long question is told so before anything else
            if private:
                history = None
                if with_history and thread_ts:
                    history = thread_history(client, context, channel, thread_ts, {event["ts"]})
                self._answer_privately(client, channel, user or "", thread_ts, question, history)
                return
            team = context.team_id or event.get("team")
            if self._can_stream(thread_ts):
                streamer = Streamer(client, channel, str(thread_ts))
                if not streamer.open(user, team):
                    streamer = None
            if streamer is None and placeholder:
                posted = client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=THINKING, blocks=render_thinking()
                )
                placeholder_ts = posted.get("ts")
            history = None
            if with_history and thread_ts:
                skip = {event["ts"], placeholder_ts, streamer.ts if streamer else None}
                history = thread_history(client, context, channel, thread_ts, skip)
            if streamer is not None:
                self._stream(streamer, question, history, channel, thread_ts)
                return
            answer = self.bot.answer(question, history)
            answer_id = self.store.save_answer(
                question, answer, channel=channel, thread_ts=thread_ts, history=history
            )
            render = self.renderer(answer, answer_id)
            post_messages(
                client, channel, thread_ts, placeholder_ts, render, escape(fallback_text(answer))
            )
            log_answer(answer, channel, thread_ts)
        except Exception as exc:
            message = failure_text(exc, channel=channel, thread_ts=thread_ts)
            self._apologise(client, channel, thread_ts, placeholder_ts, streamer, message)

    def _can_stream(self, thread_ts: str | None) -> bool:
        # streaming shows an LLM answer as it is written; local answers come all at once
        return bool(self.stream and thread_ts) and self.bot.llm_backend() == "openai"

    def _stream(
        self,
        streamer: Streamer,
        question: str,
        history: list[Turn] | None,
        channel: str,
        thread_ts: str | None,
    ) -> None:
        answer = streamer.feed(self.bot.stream(question, history))
        answer_id = self.store.save_answer(
            question, answer, channel=channel, thread_ts=thread_ts, history=history
        )
        docs = doc_info(self.bot, answer.citations)
        try:
            try:
                streamer.close(stream_closing_blocks(answer, answer_id, docs))
            except SlackApiError as exc:
                if not invalid_blocks(exc):
                    raise
                streamer.close(stream_closing_blocks(answer, answer_id, docs, classic=True))
        except SlackApiError as exc:
            # e.g. the stream expired: post the whole answer as ordinary messages
            log.warning("chat.stopStream failed (%s); posting the answer instead", exc)
            render = self.renderer(answer, answer_id)
            post_messages(
                client=streamer.client,
                channel=channel,
                thread_ts=thread_ts,
                placeholder_ts=None,
                render=render,
                text=escape(fallback_text(answer)),
            )
        log_answer(answer, channel, thread_ts)

    def _answer_privately(
        self,
        client: WebClient,
        channel: str,
        user: str,
        thread_ts: str | None,
        question: str,
        history: list[Turn] | None = None,
    ) -> None:
        answer = self.bot.answer(question, history)
        # saved without its thread: a private answer does not make kb follow the thread
        answer_id = self.store.save_answer(
            question, answer, channel=channel, thread_ts=None, history=history
        )
        render = self.renderer(answer, answer_id, private=True, thread_ts=thread_ts)
        post_private(client, channel, user, thread_ts, render, escape(fallback_text(answer)))
        log_answer(answer, channel, thread_ts)

    def _apologise(
        self,
        client: WebClient,
        channel: str,
        thread_ts: str | None,
        placeholder_ts: str | None,
        streamer: Streamer | None,
        message: str,
    ) -> None:
        try:
            if streamer is not None and streamer.ts:
                streamer.fail(message)
                return
            blocks = render_apology() if message == APOLOGY else None
            if placeholder_ts:
                try:
                    client.chat_update(
                        channel=channel, ts=placeholder_ts, text=message, blocks=blocks or []
                    )
                    return
                except SlackApiError as exc:
                    log.warning("chat.update failed (%s); posting the apology instead", exc)
            client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=message, blocks=blocks
            )
        except Exception:
            log.exception("could not post the failure reply in %s/%s", channel, thread_ts)

    def _slow_down(
        self,
        client: WebClient,
        channel: str,
        user: str | None,
        thread_ts: str | None,
        wait: float,
        *,
        private_ok: bool,
    ) -> None:
        log.info("rate limit: %s asked too often; %.0f s to wait", user, wait)
        try:
            if private_ok and user:
                client.chat_postEphemeral(
                    channel=channel, user=user, thread_ts=thread_ts, text=slow_down_text(wait)
                )
            else:
                client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=slow_down_text(wait)
                )
        except SlackApiError as exc:
            log.warning("could not send the rate-limit reply: %s", exc)

    # ------------------------------------------------------------------ auto channels
    def auto_answer(
        self, client: WebClient, event: dict[str, Any], rule: ChannelRule, private: bool
    ) -> None:
        """A message in an `auto` channel: post only a cited, non-abstained answer."""
        channel, user, ts = event["channel"], event.get("user"), event["ts"]
        if self.limiter.check(user):
            return  # nobody asked kb directly: no rate-limit reply either
        question = plain_text(event.get("text") or "")
        try:
            answer = self.bot.answer(question)
        except QuestionError as exc:
            log.info("auto channel %s: not a question kb can take (%s)", channel, exc)
            return
        except Exception:
            log.exception("auto channel %s: answering failed; staying silent", channel)
            return
        if answer.abstained or not answer.citations:
            log.info("auto channel %s: not confident, %s", channel, rule.react or "silent")
            if rule.react:
                try:
                    client.reactions_add(channel=channel, timestamp=ts, name=rule.react)
                except SlackApiError as exc:
                    log.warning("reactions.add failed: %s", exc)
            return
        try:
            if private and user:
                answer_id = self.store.save_answer(
                    question, answer, channel=channel, thread_ts=None
                )
                render = self.renderer(answer, answer_id, private=True, thread_ts=ts)
                post_private(client, channel, user, ts, render, escape(fallback_text(answer)))
            else:
                answer_id = self.store.save_answer(question, answer, channel=channel, thread_ts=ts)
                render = self.renderer(answer, answer_id)
                post_messages(client, channel, ts, None, render, escape(fallback_text(answer)))
            log_answer(answer, channel, ts)
        except Exception:
            log.exception("auto channel %s: could not post the answer", channel)

    # ------------------------------------------------------------------ sharing
    def share(
        self,
        client: WebClient,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Callable[..., Any] | None,
    ) -> None:
        """ "Share in channel": post the private answer publicly, then remove the private copy."""
        answer_id, _, thread_ts = str(action.get("value", "")).partition(":")
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        stored = self.store.get_answer(answer_id)
        if stored is None or not channel:
            log.warning("share: answer %s is not stored", answer_id)
            if respond is not None:
                respond(
                    response_type="ephemeral",
                    replace_original=False,
                    text="Sorry, that answer is no longer available to share.",
                )
            return
        question, answer = stored
        thread = thread_ts or None
        public_id = self.store.save_answer(question, answer, channel=channel, thread_ts=thread)
        render = self.renderer(answer, public_id)
        text = f"<@{user}> shared an answer to “{escape(question[:200])}”: " + escape(
            fallback_text(answer)
        )
        try:
            post_messages(client, channel, thread, None, render, text[:3000])
        except SlackApiError as exc:
            # the bot is not in the channel (a /kb answer): post through response_url
            log.info("share: chat.postMessage failed (%s); using response_url", exc)
            if respond is None:
                raise
            for blocks in render(False):
                respond(
                    response_type="in_channel",
                    replace_original=False,
                    text=text[:3000],
                    blocks=blocks,
                )
        if respond is not None:
            try:
                respond(delete_original=True)
            except Exception as exc:
                log.info("share: could not remove the private copy: %s", exc)


def _is_dm(event: dict[str, Any]) -> bool:
    return event.get("channel_type") == "im"
