"""The Slack front door's wiring: one Bolt app with kb's listeners, served over HTTP at
POST /slack/events inside the FastAPI app, or over Socket Mode (`kb slack`)."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, Assistant
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.answer import KnowledgeBot
from bot.doors.slack import BotSource, SlackListeners
from bot.doors.slack_blocks import FEEDBACK, FEEDBACK_DOWN, FEEDBACK_UP, SHARE
from bot.doors.slack_feedback import REASON_VIEW, FeedbackListeners
from bot.doors.slack_policy import ChannelConfigError, RateLimiter, load_channel_policy
from bot.runtime.feedback_store import FeedbackStore, open_feedback_store
from bot.runtime.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"


class SlackConfigError(RuntimeError):
    """Slack is not configured for the requested mode (says which variable is missing)."""


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


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
        logger=logging.getLogger("bot.doors.slack.bolt"),
    )
    try:
        policy = load_channel_policy(settings.slack_channels)
    except ChannelConfigError as exc:
        raise SlackConfigError(str(exc)) from exc
    store = store or open_feedback_store(settings)
    listeners = SlackListeners(
        bot,
        store,
        policy=policy,
        limiter=RateLimiter(settings.slack_rate_limit),
        private_default=settings.slack_private_answers,
        stream=settings.slack_stream,
    )
    feedback = FeedbackListeners(store)
    app.use(listeners.dedupe_events)

    assistant = Assistant(logger=logging.getLogger("bot.doors.slack.assistant"))
    # Assistant's decorators drop `lazy` when the ack function is passed positionally
    assistant.thread_started(lazy=[listeners.on_assistant_thread_started])(listeners.ack_now)
    assistant.user_message(lazy=[listeners.on_assistant_message])(listeners.ack_now)
    app.assistant(assistant)

    app.event("app_mention")(ack=listeners.ack_now, lazy=[listeners.on_mention])
    app.event("message", matchers=[listeners.is_question_message])(
        ack=listeners.ack_now, lazy=[listeners.on_message]
    )
    app.command("/kb")(ack=listeners.ack_command, lazy=[listeners.on_command])
    app.action(re.compile(f"^({FEEDBACK}|{FEEDBACK_UP}|{FEEDBACK_DOWN})$"))(
        ack=listeners.ack_now, lazy=[feedback.on_feedback]
    )
    app.action(SHARE)(ack=listeners.ack_now, lazy=[listeners.on_share])
    app.view(REASON_VIEW)(feedback.on_reason)  # quick: stored while Slack waits for the ack
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

    # Slack's requests may be far larger than API bodies (a 40,000-character message of emoji
    # is ~0.5 MB of JSON); refusing one would leave its user without a reply
    limits = dict(getattr(app.state, "body_limits", None) or {})
    limits[SLACK_EVENTS_PATH] = settings.slack_max_body_bytes
    app.state.body_limits = limits
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
