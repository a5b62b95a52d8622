"""The Slack front door: one Bolt app (HTTP at POST /slack/events, or Socket Mode) over `answer()`.

Every listener acks at once and answers in a lazy listener (Bolt's thread pool), so Slack
always gets its 200 within 3 seconds. Answers first show a "thinking…" placeholder (or the
assistant status) that the answer then replaces; any failure becomes a short apology.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, Assistant, BoltContext, BoltResponse
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.feedback import FeedbackStore, Vote
from bot.schema import Answer, Turn
from bot.service import KnowledgeBot, QuestionError
from bot.settings import Settings
from bot.slack_blocks import (
    APOLOGY,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    THINKING,
    escape,
    fallback_text,
    render_answer,
    render_apology,
    render_thinking,
)

if TYPE_CHECKING:
    from fastapi import FastAPI
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
# message subtypes that are still a person writing (edits, joins, bot posts… are not)
USER_SUBTYPES = (None, "file_share", "thread_broadcast")
HISTORY_MESSAGES = 20  # thread messages read back as conversation history
DEDUPE_TTL_S = 15 * 60.0  # Slack retries after ~0 s, 1 min and 5 min
DEDUPE_MAX = 10_000
USAGE = (
    "Ask me about IT and digital strategy, e.g. `/kb What is digital transformation?`, "
    "or classify an initiative with `/kb classify move payroll to a cloud HR suite`."
)
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
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


class SlackConfigError(RuntimeError):
    """Slack is not configured for the requested mode (says which variable is missing)."""


class SeenKeys:
    """A bounded, thread-safe set of recently seen keys that forgets them after `ttl` seconds."""

    def __init__(self, ttl: float = DEDUPE_TTL_S, max_size: int = DEDUPE_MAX) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        """Remember `key`; True if it was new (not seen within the TTL)."""
        now = time.monotonic()
        with self._lock:
            while self._seen and (
                len(self._seen) >= self.max_size or next(iter(self._seen.values())) < now - self.ttl
            ):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _plain(text: str) -> str:
    """Slack message text as plain text: user mentions removed, &amp; &lt; &gt; decoded."""
    return html.unescape(_MENTION.sub(" ", text)).strip()


class SlackListeners:
    """The listeners of the Bolt app; they only translate Slack ⇄ `KnowledgeBot`."""

    def __init__(self, bot: BotSource, store: FeedbackStore) -> None:
        self._bot = bot
        self.store = store
        self.events = SeenKeys()
        self.messages = SeenKeys()

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
        if event_id and not self.events.add(str(event_id)):
            retry = request.headers.get("x-slack-retry-num", ["?"])[0]
            log.info("event %s already received (retry %s): acked, not processed", event_id, retry)
            return BoltResponse(status=200, body="")
        return next()

    def claim(self, channel: str, ts: str) -> bool:
        """True once per user message, whichever event (mention, message, retry) brings it."""
        return self.messages.add(f"{channel}:{ts}")

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
            message = self._failure_text(exc, channel=command.get("channel_id"), thread_ts=None)
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
                fallback_answer=_plain(message.get("text", "")),
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
                history = self._history(client, context, channel, thread_ts, skip)
            question = event.get("text") or ""
            answer = self.bot.answer(question, history)
            answer_id = self.store.save_answer(
                _plain(question), answer, channel=channel, thread_ts=thread_ts, history=history
            )
            self._publish(
                client,
                channel,
                thread_ts,
                placeholder_ts,
                text=escape(fallback_text(answer)),
                blocks=render_answer(answer, answer_id),
            )
            self._log_answer(answer, channel, thread_ts)
        except Exception as exc:
            message = self._failure_text(exc, channel=channel, thread_ts=thread_ts)
            try:
                blocks = render_apology() if message == APOLOGY else None
                self._publish(
                    client, channel, thread_ts, placeholder_ts, text=message, blocks=blocks
                )
            except Exception:
                log.exception("could not post the apology in %s/%s", channel, thread_ts)

    @staticmethod
    def _publish(
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
                client.chat_update(
                    channel=channel, ts=placeholder_ts, text=text, blocks=blocks or []
                )
                return
            except SlackApiError as exc:
                log.warning("chat.update failed (%s); posting the answer instead", exc)
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks)

    @staticmethod
    def _history(
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
            text = _plain(msg.get("text") or "")
            if not text or text in (_plain(THINKING), _plain(APOLOGY)):
                continue
            own = msg.get("user") == context.bot_user_id or (
                msg.get("bot_id") is not None and msg.get("bot_id") == context.bot_id
            )
            if msg.get("bot_id") and not own:
                continue  # other bots are neither the user nor us
            turns.append(Turn(role="assistant" if own else "user", content=text))
        return turns[-HISTORY_MESSAGES:]

    @staticmethod
    def _failure_text(exc: Exception, *, channel: str | None, thread_ts: str | None) -> str:
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

    @staticmethod
    def _log_answer(answer: Answer, channel: str, thread_ts: str | None) -> None:
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


def build_slack_app(
    settings: Settings, bot: BotSource, *, store: FeedbackStore | None = None
) -> App:
    """The Bolt app with every listener; the same app serves HTTP and Socket Mode."""
    token = _secret(settings.slack_bot_token)
    if not token:
        raise SlackConfigError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…)")
    signing_secret = _secret(settings.slack_signing_secret)
    app = App(
        # the token travels in the client only: Bolt warns when given both
        client=WebClient(token=token, base_url=settings.slack_api_url),
        signing_secret=signing_secret or "",
        token_verification_enabled=False,
        process_before_response=False,
        # Socket Mode messages are not signed HTTP requests; HTTP mode always verifies
        request_verification_enabled=bool(signing_secret),
        listener_executor=ThreadPoolExecutor(max_workers=8, thread_name_prefix="kb-slack"),
        logger=logging.getLogger("bot.slack.bolt"),
    )
    listeners = SlackListeners(bot, store or FeedbackStore(settings.feedback_path))
    app.use(listeners.dedupe_events)

    assistant = Assistant(logger=logging.getLogger("bot.slack.assistant"))
    # Assistant's decorators drop `lazy` when the ack function is passed positionally
    assistant.thread_started(lazy=[listeners.on_assistant_thread_started])(listeners.ack_now)
    assistant.user_message(lazy=[listeners.on_assistant_message])(listeners.ack_now)
    app.assistant(assistant)

    app.event("app_mention")(ack=listeners.ack_now, lazy=[listeners.on_mention])
    app.event("message", matchers=[listeners.is_question_message])(
        ack=listeners.ack_now, lazy=[listeners.on_message]
    )
    app.command("/kb")(ack=listeners.ack_command, lazy=[listeners.on_command])
    app.action(re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$"))(
        ack=listeners.ack_now, lazy=[listeners.on_feedback]
    )
    # Answer 200 to every other event so Slack does not retry (and then disable) delivery.
    app.event(re.compile(".*"))(listeners.on_other_event)
    app.error(_log_listener_error)
    return app


class ThreadedRequestHandler(SlackRequestHandler):
    """Bolt's FastAPI handler, dispatching in a worker thread.

    The stock handler calls the synchronous `App.dispatch` on the event loop, which would stall
    every other request (e.g. /ask) while Bolt calls auth.test or waits for an ack.
    """

    async def handle(
        self, req: Request, addition_context_properties: dict[str, Any] | None = None
    ) -> Response:
        """The Bolt response to one Slack request."""
        if req.method != "POST":
            return await super().handle(req, addition_context_properties)
        body = await req.body()
        bolt_req = to_bolt_request(req, body, addition_context_properties)
        return to_starlette_response(await run_in_threadpool(self.app.dispatch, bolt_req))


def _log_listener_error(error: Exception, body: dict[str, Any]) -> None:
    log.error("Slack listener failed (%s): %s", body.get("type"), error, exc_info=error)


def mount_slack(app: FastAPI, settings: Settings, bot: KnowledgeBot | None = None) -> bool:
    """Add POST /slack/events to the FastAPI app when the bot token and signing secret are set.

    Without `bot`, the listeners use `app.state.bot` (set by the app's start-up).
    """
    if not (settings.slack_bot_token and settings.slack_signing_secret):
        log.info("Slack not mounted: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not both set")
        return False
    source: BotSource = bot if bot is not None else (lambda: getattr(app.state, "bot", None))
    slack_app = build_slack_app(settings, source)
    handler = ThreadedRequestHandler(slack_app)

    @app.post(SLACK_EVENTS_PATH, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    public_paths = getattr(app.state, "public_paths", None)
    if isinstance(public_paths, set):
        public_paths.add(SLACK_EVENTS_PATH)  # Slack signs its requests; no bearer key
    app.state.slack_app = slack_app
    log.info("Slack events mounted at %s", SLACK_EVENTS_PATH)
    return True


def socket_mode_handler(settings: Settings, bot: KnowledgeBot) -> SocketModeHandler:
    """A Socket Mode handler around `build_slack_app` (not yet connected)."""
    app_token = _secret(settings.slack_app_token)
    if not app_token:
        raise SlackConfigError(
            "Socket Mode needs SLACK_APP_TOKEN: an app-level token (xapp-…) with the "
            "connections:write scope, from your Slack app's Basic Information page"
        )
    if not app_token.startswith("xapp-"):
        raise SlackConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app = build_slack_app(settings, bot)
    return SocketModeHandler(
        app, app_token=app_token, web_client=WebClient(base_url=settings.slack_api_url)
    )


def run_socket_mode(settings: Settings, bot: KnowledgeBot) -> None:
    """Connect to Slack over Socket Mode and serve until interrupted (what `kb slack` runs)."""
    handler = socket_mode_handler(settings, bot)
    try:
        if bot.ensure_index():
            log.info("ingested the bundled corpus into an empty index")
    except Exception:
        # stay up like `kb serve`: each question gets an apology until the store is back
        log.exception("loading the knowledge bot failed")
    log.info("Socket Mode: connecting to Slack")
    try:
        handler.start()
    finally:
        handler.close()
