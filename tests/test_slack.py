"""The Slack bot over real HTTP: Bolt mounted in the kb FastAPI app under uvicorn on loopback,
the Slack Web API played by FakeSlack, every request signed the way Slack signs it."""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from slack_bolt import App
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.answer import KnowledgeBot
from bot.doors.feedback import FeedbackStore, export_feedback
from bot.doors.http import create_app
from bot.doors.slack_app import (
    SLACK_EVENTS_PATH,
    SlackConfigError,
    build_slack_app,
    mount_slack,
    run_socket_mode,
    socket_mode_handler,
)
from bot.doors.slack_blocks import (
    APOLOGY,
    MAX_BLOCKS,
    SECTION_LIMIT,
    THINKING,
    render_answer,
    render_messages,
)
from bot.runtime.schema import Answer, Citation, Classification, Turn
from bot.runtime.settings import Settings
from tests.fakes.openai_server import Error, FakeOpenAI
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, FakeSlack, signed_headers
from tests.live_server import running

SECRET = "test-signing-secret"
TOKEN = "xoxb-fake"  # a stand-in value, never a real token
DATASETS = Path(__file__).resolve().parent.parent / "evals" / "datasets"
_ts = itertools.count(1)


class RecordingBot(KnowledgeBot):
    """The real bot, remembering what Slack asked it and optionally slowed down."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.asked: list[tuple[str, list[Turn] | None]] = []
        self.delay = 0.0

    def answer(self, question: str, history: list[Turn] | None = None, **kw: Any) -> Answer:
        self.asked.append((question, history))
        time.sleep(self.delay)
        return super().answer(question, history, **kw)


# ------------------------------------------------------------------------------ fixtures
@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` under a real uvicorn on 127.0.0.1; yields the /slack/events URL."""
    with running(app) as base_url:
        yield f"{base_url}{SLACK_EVENTS_PATH}"


def kb_app(settings: Settings, bot: KnowledgeBot | None) -> Any:
    """The real HTTP app, which mounts the Slack door itself when the tokens are set."""
    app = create_app(settings, bot)
    assert any(getattr(r, "path", None) == SLACK_EVENTS_PATH for r in app.routes)
    assert SLACK_EVENTS_PATH in app.state.public_paths
    return app


def slack_settings(base: Settings, fake: FakeSlack, tmp: Path, **update: Any) -> Settings:
    """`base` plus Slack credentials, the fake's URL and a fresh feedback database."""
    values = {
        "slack_bot_token": SecretStr(TOKEN),
        "slack_signing_secret": SecretStr(SECRET),
        "slack_api_url": fake.base_url,
        "feedback_db": tmp / "feedback.sqlite3",
        "api_key": SecretStr("http-api-key"),  # Slack's path must not need the bearer key
        **update,
    }
    return base.model_copy(update=values)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeSlack) -> None:
    fake.reset()


@pytest.fixture(scope="module")
def settings(
    indexed_settings: Settings, fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return slack_settings(indexed_settings, fake, tmp_path_factory.mktemp("slack"))


@pytest.fixture(scope="module")
def bot(settings: Settings) -> RecordingBot:
    return RecordingBot(settings)


@pytest.fixture(scope="module")
def url(settings: Settings, bot: RecordingBot) -> Iterator[str]:
    with serving(kb_app(settings, bot)) as events_url:
        yield events_url


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


# ------------------------------------------------------------------------------ helpers
def next_ts() -> str:
    return f"1700001{next(_ts):03d}.000100"


def mention(channel: str, text: str, ts: str | None = None, **extra: Any) -> dict[str, Any]:
    ts = ts or next_ts()
    return {
        "type": "app_mention",
        "user": "U1",
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **extra,
    }


def message(channel: str, text: str, ts: str | None = None, **extra: Any) -> dict[str, Any]:
    ts = ts or next_ts()
    channel_type = "im" if channel.startswith("D") else "channel"
    return {
        "type": "message",
        "channel_type": channel_type,
        "user": "U1",
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **extra,
    }


def envelope(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": "T1",
        "api_app_id": "AAPP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ts):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T1", "user_id": BOT_USER_ID, "is_bot": True}],
    }


def post_event(
    http: httpx.Client,
    url: str,
    body: dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    raw = json.dumps(body)
    signed = signed_headers(secret, raw, timestamp)
    return http.post(url, content=raw, headers={**signed, **(headers or {})})


def post_form(http: httpx.Client, url: str, form: dict[str, str]) -> httpx.Response:
    raw = urlencode(form)
    headers = signed_headers(SECRET, raw, content_type="application/x-www-form-urlencoded")
    return http.post(url, content=raw, headers=headers)


def calls_in(fake: FakeSlack, method: str, channel: str) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls_to(method) if c.params.get("channel") == channel]


def wait_in(fake: FakeSlack, method: str, channel: str, count: int = 1) -> list[dict[str, Any]]:
    """The calls to `method` for `channel`, once there are `count` of them."""
    deadline = time.monotonic() + 15
    while True:
        found = calls_in(fake, method, channel)
        if len(found) >= count:
            return found
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {method} for {channel}; calls: {[c.method for c in fake.calls]}"
        with suppress(TimeoutError):
            fake.wait_for(method, len(fake.calls_to(method)) + 1, timeout=remaining)


def assert_nothing_posted(fake: FakeSlack, within: float = 0.6) -> None:
    """No message is posted within `within` seconds."""
    with pytest.raises(TimeoutError):
        fake.wait_for("chat.postMessage", 1, timeout=within)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn/plain text in the blocks, in order."""
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text")
            if text:
                found.append(text["text"] if isinstance(text, dict) else text)
    return found


def listeners_of(app: App) -> list[tuple[str, ...]]:
    """Each listener's ack and lazy functions, by name, in dispatch order."""
    return [
        (ls.ack_function.__name__, *(f.__name__ for f in ls.lazy_functions))
        for ls in app._listeners
    ]


def feedback_value(blocks: list[dict[str, Any]], side: str) -> str:
    """The value of Slack's feedback button `side` ("positive" / "negative")."""
    for block in blocks:
        if block["type"] == "context_actions":
            for element in block["elements"]:
                if element["type"] == "feedback_buttons":
                    return str(element[f"{side}_button"]["value"])
    raise AssertionError("no feedback_buttons")


def button_value(blocks: list[dict[str, Any]], action_id: str) -> str:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button")


# ------------------------------------------------------------------------------ conversations
def test_mention_is_acked_at_once_and_answered_in_its_thread_with_sources(
    fake: FakeSlack,
    http: httpx.Client,
    url: str,
    bot: RecordingBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    event = mention("C100", f"<@{BOT_USER_ID}> What is digital transformation?")
    bot.delay = 3.0  # a slow answer must not delay the ack
    response = post_event(http, url, envelope(event))
    assert response.status_code == 200
    # Acked while the answer was still being written: Slack got its 200 first.
    assert not calls_in(fake, "chat.update", "C100"), "the ack waited for the answer"

    placeholder = wait_in(fake, "chat.postMessage", "C100")[0]
    assert placeholder["thread_ts"] == event["ts"] and placeholder["text"] == THINKING
    update = wait_in(fake, "chat.update", "C100")[0]
    bot.delay = 0.0
    assert fake.calls[0].method == "auth.test"  # Bolt's lazy token check, before anything else
    assert all(c.token == TOKEN for c in fake.calls)

    shown = texts(update["blocks"])
    assert any("Digital transformation" in t and "[1]" in t for t in shown)
    sources_at = shown.index("*Sources*")
    assert any(
        t.startswith("[1] *IT Transformation vs Digital Transformation*")
        for t in shown[sources_at:]
    )
    up, down = (
        feedback_value(update["blocks"], "positive"),
        feedback_value(update["blocks"], "negative"),
    )
    assert up.startswith("up:") and down == "down:" + up.removeprefix("up:")
    assert "Digital transformation" in update["text"]  # notification / fallback text
    assert bot.asked[-1] == ("What is digital transformation?", None)  # the mention removed
    assert "slack_sdk" in caplog.text  # Web API calls were logged at DEBUG …
    assert TOKEN not in caplog.text and SECRET not in caplog.text  # … without the secrets


def test_direct_message_is_answered_in_the_dm(
    fake: FakeSlack, http: httpx.Client, url: str
) -> None:
    event = message("D200", "what is an IT strategy?")
    assert post_event(http, url, envelope(event)).status_code == 200
    placeholder = wait_in(fake, "chat.postMessage", "D200")[0]
    assert placeholder.get("thread_ts") in (None, "")  # a DM is answered in the DM itself
    update = wait_in(fake, "chat.update", "D200")[0]
    assert update["ts"] and "IT strategy" in update["text"]
    assert "*Sources*" in texts(update["blocks"])


def test_thread_follow_up_without_mention_uses_the_thread_as_history(
    fake: FakeSlack, http: httpx.Client, url: str, bot: RecordingBot
) -> None:
    first = mention("C300", f"<@{BOT_USER_ID}> What is digital transformation?")
    fake.set_replies("C300", first["ts"], [{**first, "type": "message"}])
    post_event(http, url, envelope(first))
    first_answer = wait_in(fake, "chat.update", "C300")[0]["text"]

    follow_up = message("C300", "and who owns it?", thread_ts=first["ts"])
    assert post_event(http, url, envelope(follow_up)).status_code == 200
    update = wait_in(fake, "chat.update", "C300", count=2)[-1]

    replies = fake.calls_to("conversations.replies")
    assert replies and replies[-1].params["ts"] == first["ts"]
    question, history = bot.asked[-1]
    assert question == "and who owns it?"
    assert history is not None and [t.role for t in history] == ["user", "assistant"]
    assert history[0].content == "What is digital transformation?"  # the @mention stripped
    assert history[1].content[:60] == first_answer[:60]
    # alone, "and who owns it?" is out of scope; with the thread it is about digital transformation
    assert KnowledgeBot.answer(bot, "and who owns it?").abstained
    assert "digital transformation" in update["text"].lower()
    assert "CEO" in update["text"] or "cross-functional" in update["text"]  # corpus 004: Ownership
    assert "Not in the knowledge base" not in " ".join(texts(update["blocks"]))


def test_thread_reply_where_the_bot_never_answered_is_left_alone(
    fake: FakeSlack, http: httpx.Client, url: str
) -> None:
    reply = message("C310", "what is an IT strategy?", thread_ts=next_ts())
    assert post_event(http, url, envelope(reply)).status_code == 200
    assert_nothing_posted(fake)


def test_slash_command_acks_then_answers_through_response_url(
    fake: FakeSlack, http: httpx.Client, url: str
) -> None:
    form = {
        "token": "t",
        "team_id": "T1",
        "channel_id": "C400",
        "user_id": "U1",
        "command": "/kb",
        "text": "What is an IT strategy?",
        "response_url": fake.response_url("ask"),
        "trigger_id": "1.2.3",
    }
    response = post_form(http, url, form)
    assert response.status_code == 200 and response.text == THINKING  # ephemeral
    (body,) = fake.wait_for_responses(1)
    assert body["response_type"] == "ephemeral" and "_rejected" not in body
    assert "IT strategy" in body["text"] and "*Sources*" in texts(body["blocks"])

    form.update(
        text="classify move our payroll servers to the cloud",
        response_url=fake.response_url("classify"),
    )
    assert post_form(http, url, form).status_code == 200
    fake.wait_for_responses(2)
    (classified,) = fake.responses_to("classify")
    assert any(
        t.startswith(":gear: *IT initiative* · confidence") for t in texts(classified["blocks"])
    )

    form.update(text="", response_url=fake.response_url("help"))
    assert "classify" in post_form(http, url, form).text  # usage, answered in the ack


def test_assistant_thread_gets_prompts_then_status_then_answer(
    fake: FakeSlack, http: httpx.Client, url: str
) -> None:
    thread_ts = next_ts()
    started = {
        "type": "assistant_thread_started",
        "event_ts": thread_ts,
        "assistant_thread": {
            "user_id": "U1",
            "channel_id": "D500",
            "thread_ts": thread_ts,
            "context": {},
        },
    }
    assert post_event(http, url, envelope(started)).status_code == 200
    (prompts,) = fake.wait_for("assistant.threads.setSuggestedPrompts")
    assert prompts.params["thread_ts"] == thread_ts and len(prompts.params["prompts"]) >= 2

    question = message("D500", "What is digital transformation?", thread_ts=thread_ts)
    assert post_event(http, url, envelope(question)).status_code == 200
    (status,) = fake.wait_for("assistant.threads.setStatus")
    assert status.params["status"] == "thinking…" and status.params["thread_ts"] == thread_ts
    answer = wait_in(fake, "chat.postMessage", "D500", count=2)[-1]
    assert answer["thread_ts"] == thread_ts and "*Sources*" in texts(answer["blocks"])


# ------------------------------------------------------------------------------ feedback
def test_thumbs_up_and_down_are_stored_and_exported(
    fake: FakeSlack, http: httpx.Client, url: str, settings: Settings
) -> None:
    event = mention("C600", f"<@{BOT_USER_ID}> What is digital transformation?")
    post_event(http, url, envelope(event))
    posted = wait_in(fake, "chat.update", "C600")[0]

    def click(user: str, side: str) -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": "T1"},
            "api_app_id": "AAPP",
            "token": "t",
            "trigger_id": "1.2.3",
            "channel": {"id": "C600"},
            "container": {
                "type": "message",
                "message_ts": posted["ts"],
                "channel_id": "C600",
                "thread_ts": event["ts"],
                "is_ephemeral": False,
            },
            "message": {
                "type": "message",
                "ts": posted["ts"],
                "thread_ts": event["ts"],
                "text": posted["text"],
                "blocks": posted["blocks"],
                "bot_id": BOT_ID,
            },
            "response_url": fake.response_url("click"),
            "actions": [
                {
                    "type": "feedback_buttons",
                    "action_id": "kb_feedback",
                    "block_id": "kb_feedback_x",
                    "value": feedback_value(posted["blocks"], side),
                    "text": {"type": "plain_text", "text": "👍" if side == "positive" else "👎"},
                    "action_ts": "1",
                }
            ],
        }
        assert post_form(http, url, {"payload": json.dumps(payload)}).status_code == 200

    click("U7", "positive")
    (thanks,) = wait_in(fake, "chat.postEphemeral", "C600")
    assert thanks["user"] == "U7" and thanks["thread_ts"] == event["ts"] and "👍" in thanks["text"]
    click("U8", "negative")
    (opened,) = fake.wait_for("views.open")  # 👎 asks what was wrong
    view = opened.params["view"]
    assert opened.params["trigger_id"] == "1.2.3" and view["callback_id"] == "kb_feedback_reason"
    choices = [o["value"] for o in view["blocks"][0]["element"]["options"]]
    assert choices == ["wrong", "incomplete", "outdated", "off-topic"]
    submitted = {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": "U8"},
        "api_app_id": "AAPP",
        "token": "t",
        "trigger_id": "1.2.4",
        "view": {
            **view,
            "id": "V1",
            "state": {
                "values": {
                    "reason": {
                        "reason": {
                            "type": "radio_buttons",
                            "selected_option": {"value": "outdated"},
                        }
                    },
                    "comment": {
                        "comment": {"type": "plain_text_input", "value": "The 2019 figures."}
                    },
                }
            },
        },
    }
    response = post_form(http, url, {"payload": json.dumps(submitted)})
    assert response.status_code == 200 and response.text == ""  # the modal closes
    wait_in(fake, "chat.postEphemeral", "C600", count=2)

    store = FeedbackStore(settings.feedback_path)
    mine = {r.user: r for r in store.records() if r.channel == "C600"}
    assert mine["U7"].vote == "up" and mine["U8"].vote == "down"
    assert mine["U8"].reason == "outdated" and mine["U8"].comment == "The 2019 figures."
    assert mine["U7"].reason is None
    up = mine["U7"]
    assert up.question == "What is digital transformation?" and up.thread_ts == event["ts"]
    assert up.answer.startswith(posted["text"][:50]) and up.citations[0]["source"].startswith(
        "corpus/"
    )
    assert up.voted_at

    exported = json.loads(export_feedback(settings.feedback_path, "json"))
    row = next(r for r in exported if r["user"] == "U7" and r["channel"] == "C600")
    assert row["vote"] == "up" and row["question"] == up.question and row["citations"]
    rows = list(csv.DictReader(io.StringIO(export_feedback(settings.feedback_path, "csv"))))
    row = next(r for r in rows if r["user"] == "U8" and r["channel"] == "C600")
    assert row["vote"] == "down" and json.loads(row["citations"])[0]["n"] == 1
    assert row["reason"] == "outdated"

    lines = export_feedback(settings.feedback_path, as_eval=True, datasets_dir=DATASETS)
    cases = [json.loads(line) for line in lines.splitlines()]
    case = next(c for c in cases if c["feedback"]["answer_id"] == up.answer_id)
    existing = {json.loads(line)["id"] for p in DATASETS.glob("*.jsonl") for line in p.open()}
    assert case["id"].startswith("k") and case["id"] not in existing
    assert case["kind"] == "knowledge" and case["split"] == "dev" and case["history"] == []
    assert case["question"] == up.question and case["key_facts"] == []
    assert case["expected_sources"] == list(dict.fromkeys(c["source"] for c in up.citations))
    assert all(c["feedback"]["vote"] == "down" for c in cases)
    mine_down = next(c for c in cases if c["feedback"]["answer_id"] == mine["U8"].answer_id)
    assert mine_down["feedback"]["reason"] == "outdated"


# ------------------------------------------------------------------------------ never duplicated
def test_retry_of_same_event_is_answered_once(
    fake: FakeSlack, http: httpx.Client, url: str
) -> None:
    body = envelope(mention("C700", f"<@{BOT_USER_ID}> What is an IT strategy?"))
    assert post_event(http, url, body).status_code == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    for _ in range(2):
        assert post_event(http, url, body, headers=retry).status_code == 200
    wait_in(fake, "chat.update", "C700")
    with pytest.raises(TimeoutError):
        fake.wait_for("chat.postMessage", 2, timeout=0.6)
    assert len(calls_in(fake, "chat.postMessage", "C700")) == 1


def test_mention_also_delivered_as_a_message_event_is_answered_once(
    fake: FakeSlack, http: httpx.Client, url: str
) -> None:
    ts = next_ts()
    text = f"<@{BOT_USER_ID}> What is an IT strategy?"
    post_event(http, url, envelope(mention("C710", text, ts=ts)))
    post_event(http, url, envelope(message("C710", text, ts=ts, thread_ts=ts)))
    wait_in(fake, "chat.update", "C710")
    with pytest.raises(TimeoutError):
        fake.wait_for("chat.postMessage", 2, timeout=0.6)


# ------------------------------------------------------------------------------ security
def test_forged_signature_and_stale_timestamp_get_401_and_nothing_is_posted(
    fake: FakeSlack, http: httpx.Client, url: str
) -> None:
    body = envelope(mention("C800", f"<@{BOT_USER_ID}> What is an IT strategy?"))
    assert post_event(http, url, body, secret="not-the-secret").status_code == 401
    stale = int(time.time()) - 6 * 60
    assert post_event(http, url, body, timestamp=stale).status_code == 401
    unsigned = http.post(
        url, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    assert_nothing_posted(fake)
    assert fake.calls == []


def test_bot_messages_and_message_subtypes_are_ignored(
    fake: FakeSlack, http: httpx.Client, url: str
) -> None:
    own = message("D900", "What is an IT strategy?", user=BOT_USER_ID, bot_id=BOT_ID)
    other_bot = message("D900", "What is an IT strategy?", bot_id="BOTHER", user="U2")
    edited = message(
        "D900",
        "",
        subtype="message_changed",
        message={"text": "What is an IT strategy?", "user": "U1"},
    )
    joined = message("C900", "<@U1> has joined the channel", subtype="channel_join")
    for event in (own, other_bot, edited, joined):
        assert post_event(http, url, envelope(event)).status_code == 200
    assert_nothing_posted(fake)


# ------------------------------------------------------------------------------ never silent
def test_llm_failure_posts_the_degraded_offline_answer(
    fake: FakeSlack, http: httpx.Client, indexed_settings: Settings, tmp_path: Path
) -> None:
    with FakeOpenAI() as llm:
        llm.enqueue(*[Error(500) for _ in range(20)])
        settings = slack_settings(
            indexed_settings,
            fake,
            tmp_path,
            llm="openai",
            openai_base_url=llm.base_url,
            openai_api_key=SecretStr("sk-test"),
            llm_max_retries=0,
            llm_timeout=3.0,
        )
        # no bot given: create_app builds it at start-up and Slack finds it on app.state
        with serving(kb_app(settings, None)) as events_url:
            event = mention("C1000", f"<@{BOT_USER_ID}> What is an IT strategy?")
            post_event(http, events_url, envelope(event))
            (stop,) = wait_in(fake, "chat.stopStream", "C1000")
        assert llm.chat_requests, "the LLM was never called"
    # the LLM path streams; its failure still ends in the offline answer, said so, with sources
    (start,) = calls_in(fake, "chat.startStream", "C1000")
    assert start["thread_ts"] == event["ts"] and start["recipient_user_id"] == "U1"
    appended = [c["markdown_text"] for c in calls_in(fake, "chat.appendStream", "C1000")]
    streamed = "".join(appended) + (stop.get("markdown_text") or "")
    assert "[1]" in streamed and "IT strategy" in streamed
    shown = " ".join(texts(stop["blocks"]))
    assert "offline answer" in shown and "*Sources*" in shown


@pytest.fixture(scope="module")
def chroma_down_url(
    indexed_settings: Settings, fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second app instance whose Chroma server (port 1) refuses connections."""
    tmp = tmp_path_factory.mktemp("chroma-down")
    settings = slack_settings(indexed_settings, fake, tmp, chroma_url="http://127.0.0.1:1")
    with serving(kb_app(settings, KnowledgeBot(settings))) as events_url:
        yield events_url


def test_chroma_failure_posts_an_apology_in_the_thread(
    fake: FakeSlack, http: httpx.Client, chroma_down_url: str
) -> None:
    event = mention("C1100", f"<@{BOT_USER_ID}> What is an IT strategy?")
    assert post_event(http, chroma_down_url, envelope(event)).status_code == 200
    placeholder = wait_in(fake, "chat.postMessage", "C1100")[0]
    update = wait_in(fake, "chat.update", "C1100")[0]
    assert placeholder["thread_ts"] == event["ts"]
    assert update["text"] == APOLOGY and "Sorry" in texts(update["blocks"])[0]


def test_slash_command_failure_is_an_ephemeral_apology(
    fake: FakeSlack, http: httpx.Client, chroma_down_url: str
) -> None:
    form = {
        "token": "t",
        "team_id": "T1",
        "channel_id": "C1200",
        "user_id": "U1",
        "command": "/kb",
        "text": "What is an IT strategy?",
        "response_url": fake.response_url("fail"),
        "trigger_id": "1",
    }
    assert post_form(http, chroma_down_url, form).status_code == 200
    (body,) = fake.wait_for_responses(1)
    assert body["response_type"] == "ephemeral" and body["text"] == APOLOGY


# ------------------------------------------------------------------------------ rendering
def test_long_answer_is_split_within_block_kit_limits() -> None:
    sentence = "Digital transformation changes how the business operates and competes [1]. "
    long_text = (sentence * 200)[:10_000]
    citations = [
        Citation(
            n=i,
            source=f"corpus/{i:03d}.txt",
            title=f"Title {i} " + "x" * 300,
            quote="A verbatim quote <b>&</b> " * 40,
            score=0.5,
        )
        for i in range(1, 61)
    ]
    classification = Classification(label="both", confidence=0.87, rationale="r")
    answer = Answer(answer=long_text, citations=citations, classification=classification)
    messages = render_messages(answer, "a1b2c3")
    assert len(messages) == 2  # 10,000 characters and 20 sources do not fit one message
    blocks = [b for m in messages for b in m]
    assert all(len(m) <= MAX_BLOCKS for m in messages)
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= SECTION_LIMIT for e in block["elements"])
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections[0].startswith(":link: *Both IT and Digital* · confidence 87%")
    assert len(sections) >= 5
    assert " ".join(sections[1:]).split() == long_text.split()  # split, nothing lost
    shown = " ".join(texts(blocks))
    assert "<b>" not in shown and "&lt;b&gt;" in shown
    assert "…and 41 more" in shown  # at most MAX_SOURCES lines of sources
    assert blocks[-1]["type"] == "context_actions"

    huge = render_messages(Answer(answer="word " * 200_000, citations=citations * 10), "id")
    assert len(huge) <= 4 and all(len(m) <= MAX_BLOCKS for m in huge)
    assert "truncated" in " ".join(t for m in huge for t in texts(m))
    assert huge[-1][-1]["type"] == "context_actions"  # the buttons survive the cut


def test_abstention_is_rendered_as_such_not_as_an_error() -> None:
    answer = Answer(answer="The knowledge base does not cover this.", abstained=True)
    shown = texts(render_answer(answer, "id"))
    assert ":grey_question: *Not in the knowledge base*" in shown
    assert not any("Sorry" in t for t in shown)


# ------------------------------------------------------------------------------ transports
def test_socket_mode_handler_runs_the_same_listeners(
    fake: FakeSlack, settings: Settings, bot: RecordingBot, url: str
) -> None:
    with pytest.raises(SlackConfigError, match="SLACK_APP_TOKEN"):
        run_socket_mode(settings, bot)
    handler = socket_mode_handler(
        settings.model_copy(update={"slack_app_token": SecretStr("xapp-1-A-1")}), bot
    )
    try:
        assert isinstance(handler.app, App)
        assert listeners_of(handler.app) == listeners_of(build_slack_app(settings, bot))
        acks: list[Any] = []
        handler.client.send_socket_mode_response = acks.append  # type: ignore[method-assign]
        event = mention("C1300", f"<@{BOT_USER_ID}> What is digital transformation?")
        request = SocketModeRequest(type="events_api", envelope_id="env-1", payload=envelope(event))
        handler.handle(handler.client, request)
        assert [a.envelope_id for a in acks] == ["env-1"]
        update = wait_in(fake, "chat.update", "C1300")[0]
        assert "*Sources*" in texts(update["blocks"])
    finally:
        handler.close()


def test_slack_is_not_mounted_without_credentials(indexed_settings: Settings) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    assert mount_slack(app, indexed_settings, None) is False
    assert all(getattr(r, "path", None) != SLACK_EVENTS_PATH for r in app.routes)
