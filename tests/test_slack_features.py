"""Slack features over real HTTP (uvicorn on loopback, signed requests, FakeSlack for the Web
API, FakeOpenAI for the LLM): streaming, per-channel modes, private answers and sharing, long
answers split into messages, the rate limit, assistant titles, and replies to huge messages."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.doors.slack_app import SlackConfigError, build_slack_app
from bot.doors.slack_blocks import MAX_BLOCKS, MESSAGE_CHARS, citation_line
from bot.doors.slack_reply import doc_info
from bot.runtime.settings import BUNDLED_CORPUS, Settings
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.slack_api import BOT_USER_ID, STREAM_MIN_INTERVAL, FakeSlack, blocks_chars
from tests.test_slack import (
    calls_in,
    envelope,
    kb_app,
    mention,
    message,
    next_ts,
    post_event,
    post_form,
    serving,
    slack_settings,
    texts,
    wait_in,
)

ON_TOPIC = "What is digital transformation?"
OFF_TOPIC = "Which pizza place near the office has the best margherita?"
CHANNELS = """
[default]
mode = "mention"

[channels.CAUTO]
mode = "auto"
react = "thinking_face"

[channels.CQUIET]
mode = "auto"

[channels.CIGNORE]
mode = "ignore"

[channels.CPRIVATE]
private = true
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeSlack) -> None:
    fake.reset()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def local_url(
    indexed_settings: Settings, fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The local backend, with a channel file and a rate limit of 3 questions a minute."""
    tmp = tmp_path_factory.mktemp("slack-local")
    (tmp / "channels.toml").write_text(CHANNELS, encoding="utf-8")
    settings = slack_settings(
        indexed_settings, fake, tmp, slack_channels=tmp / "channels.toml", slack_rate_limit=3
    )
    with serving(kb_app(settings, KnowledgeBot(settings))) as url:
        yield url


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def llm_url(
    indexed_settings: Settings,
    fake: FakeSlack,
    llm: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The LLM backend (FakeOpenAI), streaming on."""
    tmp = tmp_path_factory.mktemp("slack-llm")
    settings = slack_settings(
        indexed_settings,
        fake,
        tmp,
        llm="openai",
        openai_base_url=llm.base_url,
        openai_api_key=SecretStr("sk-test"),
        llm_max_retries=0,
        llm_timeout=10.0,
    )
    with serving(kb_app(settings, KnowledgeBot(settings))) as url:
        yield url


def command(channel: str, text: str, response_url: str, user: str = "U1") -> dict[str, str]:
    return {
        "token": "t",
        "team_id": "T1",
        "channel_id": channel,
        "user_id": user,
        "command": "/kb",
        "text": text,
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


def share_value(blocks: list[dict[str, Any]]) -> str:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == "kb_share":
                return str(element["value"])
    raise AssertionError("no Share in channel button")


def click_share(
    http: httpx.Client, url: str, channel: str, value: str, response_url: str, user: str = "U1"
) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T1"},
        "api_app_id": "AAPP",
        "token": "t",
        "trigger_id": "1.2.9",
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": "kb_share",
                "block_id": "kb_share",
                "value": value,
                "action_ts": "1",
            }
        ],
    }
    assert post_form(http, url, {"payload": json.dumps(payload)}).status_code == 200


def within_limits(blocks: list[dict[str, Any]]) -> bool:
    return len(blocks) <= MAX_BLOCKS and blocks_chars(blocks) <= 13_000


# ------------------------------------------------------------------------------ streaming
def test_llm_answer_is_streamed_start_append_stop_within_the_rate_limit(
    fake: FakeSlack, http: httpx.Client, llm_url: str, llm: FakeOpenAI
) -> None:
    words = "Digital transformation changes how the business operates and competes [1]. " * 6
    llm.enqueue(Reply(words.strip(), chunk_delay=0.06))  # ~60 pieces over ~3.5 s
    event = mention("C2000", f"<@{BOT_USER_ID}> {ON_TOPIC}")
    assert post_event(http, llm_url, envelope(event)).status_code == 200
    (stop,) = wait_in(fake, "chat.stopStream", "C2000")

    calls = [c for c in fake.calls if c.params.get("channel") == "C2000"]
    methods = [c.method for c in calls]
    assert methods[0] == "chat.startStream" and methods[-1] == "chat.stopStream"
    assert set(methods[1:-1]) == {"chat.appendStream"} and len(methods) >= 4
    appends = [c for c in calls if c.method == "chat.appendStream"]
    gaps = [b.at - a.at for a, b in itertools.pairwise(appends)]
    assert min(gaps) >= STREAM_MIN_INTERVAL, gaps  # never faster than Slack allows
    start = calls[0].params
    assert start["thread_ts"] == event["ts"]
    assert start["recipient_user_id"] == "U1" and start["recipient_team_id"] == "T1"
    assert "chat.postMessage" not in methods and "chat.update" not in methods  # no placeholder

    streamed = "".join(c.params["markdown_text"] for c in appends) + stop.get("markdown_text", "")
    assert streamed.split() == words.split()  # every word arrived, once, in order
    assert fake.streamed_text(stop["ts"]).split() == words.split()  # the stand-in accepted all
    closing = stop["blocks"]
    assert "*Sources*" in texts(closing) and closing[-1]["type"] == "context_actions"
    assert closing[-1]["elements"][0]["type"] == "feedback_buttons"


def test_workspace_without_streaming_gets_the_placeholder_then_the_answer(
    fake: FakeSlack, http: httpx.Client, llm_url: str, llm: FakeOpenAI
) -> None:
    llm.enqueue(Reply("Digital transformation changes how the business competes [1]."))
    fake.fail_next("chat.startStream", "unknown_method")
    event = mention("C2100", f"<@{BOT_USER_ID}> {ON_TOPIC}")
    post_event(http, llm_url, envelope(event))
    update = wait_in(fake, "chat.update", "C2100")[0]
    assert "business competes [1]" in update["text"] and "*Sources*" in texts(update["blocks"])
    assert not calls_in(fake, "chat.appendStream", "C2100")


def test_a_13k_character_answer_is_split_into_accepted_messages(
    fake: FakeSlack, http: httpx.Client, llm_url: str, llm: FakeOpenAI
) -> None:
    sentence = "Digital transformation reshapes operating models, channels and culture [1]. "
    long_answer = (sentence * 180).strip()  # ~13,700 characters
    assert len(long_answer) > 13_000
    llm.enqueue(Reply(long_answer))
    event = message("D2200", ON_TOPIC)  # a DM, not in a thread: placeholder, then messages
    post_event(http, llm_url, envelope(event))
    update = wait_in(fake, "chat.update", "D2200")[0]
    rest = wait_in(fake, "chat.postMessage", "D2200", count=2)[1:]
    messages = [update, *rest]
    assert all(within_limits(m["blocks"]) for m in messages)
    body = [
        t
        for m in messages
        for b in m["blocks"]
        if b["type"] == "section"
        for t in [b["text"]["text"]]
    ]
    assert " ".join(body).split() == long_answer.split()  # nothing lost, nothing repeated
    assert all(len(m["text"]) <= 3000 for m in messages)
    assert messages[-1]["blocks"][-1]["type"] == "context_actions"  # feedback closes it
    assert MESSAGE_CHARS < 13_000


# ------------------------------------------------------------------------------ channels
def test_auto_channel_answers_on_topic_and_stays_silent_or_reacts_off_topic(
    fake: FakeSlack, http: httpx.Client, local_url: str
) -> None:
    off = message("CQUIET", OFF_TOPIC, user="U31")
    post_event(http, local_url, envelope(off))
    on = message("CQUIET", ON_TOPIC, user="U31")
    post_event(http, local_url, envelope(on))
    (answer,) = wait_in(fake, "chat.postMessage", "CQUIET")
    assert answer["thread_ts"] == on["ts"] and "*Sources*" in texts(answer["blocks"])
    assert "Digital transformation" in answer["text"]
    assert not calls_in(fake, "reactions.add", "CQUIET")  # silent on the off-topic one

    reacted = message("CAUTO", OFF_TOPIC, user="U32")
    post_event(http, local_url, envelope(reacted))
    (reaction,) = wait_in(fake, "reactions.add", "CAUTO")
    assert reaction["timestamp"] == reacted["ts"] and reaction["name"] == "thinking_face"
    assert not calls_in(fake, "chat.postMessage", "CAUTO")


def test_mention_only_and_ignored_channels(
    fake: FakeSlack, http: httpx.Client, local_url: str
) -> None:
    post_event(http, local_url, envelope(message("CPLAIN", ON_TOPIC, user="U33")))
    post_event(http, local_url, envelope(mention("CIGNORE", f"<@{BOT_USER_ID}> {ON_TOPIC}")))
    asked = mention("CPLAIN", f"<@{BOT_USER_ID}> {ON_TOPIC}", user="U33")
    post_event(http, local_url, envelope(asked))
    update = wait_in(fake, "chat.update", "CPLAIN")[0]
    assert "Digital transformation" in update["text"]
    assert len(calls_in(fake, "chat.postMessage", "CPLAIN")) == 1  # the placeholder only
    assert not calls_in(fake, "chat.postMessage", "CIGNORE")


def test_rate_limit_gets_a_polite_private_reply(
    fake: FakeSlack, http: httpx.Client, local_url: str
) -> None:
    for _ in range(4):
        post_event(
            http, local_url, envelope(mention("C2400", f"<@{BOT_USER_ID}> {ON_TOPIC}", user="U40"))
        )
    (polite,) = wait_in(fake, "chat.postEphemeral", "C2400")
    assert polite["user"] == "U40" and "try again in" in polite["text"]
    wait_in(fake, "chat.update", "C2400", count=3)
    assert len(calls_in(fake, "chat.update", "C2400")) == 3  # three answered, one told to wait


# ------------------------------------------------------------------------------ private
def test_slash_command_is_private_and_share_posts_the_same_answer_publicly(
    fake: FakeSlack, http: httpx.Client, local_url: str
) -> None:
    form = command("C2500", "What is an IT strategy?", fake.response_url("ask"), user="U50")
    assert post_form(http, local_url, form).status_code == 200
    (private,) = fake.wait_for_responses(1)
    assert private["response_type"] == "ephemeral" and "_rejected" not in private
    assert "Only visible to you" in " ".join(texts(private["blocks"]))
    value = share_value(private["blocks"])

    click_share(http, local_url, "C2500", value, fake.response_url("share"), user="U50")
    (public,) = wait_in(fake, "chat.postMessage", "C2500")
    shown = " ".join(texts(public["blocks"]))
    first = next(b["text"]["text"] for b in private["blocks"] if b["type"] == "section")
    assert first in shown  # the same answer…
    assert "Only visible to you" not in shown and "kb_share" not in json.dumps(public["blocks"])
    assert public["text"].startswith("<@U50> shared")  # …said who shared it
    fake.wait_for_responses(2)
    (removed,) = fake.responses_to("share")
    assert removed["delete_original"] is True  # the private copy is removed


def test_private_channel_answers_are_ephemeral_with_a_share_button(
    fake: FakeSlack, http: httpx.Client, local_url: str
) -> None:
    event = mention("CPRIVATE", f"<@{BOT_USER_ID}> {ON_TOPIC}", user="U51")
    post_event(http, local_url, envelope(event))
    (private,) = wait_in(fake, "chat.postEphemeral", "CPRIVATE")
    assert private["user"] == "U51" and private["thread_ts"] == event["ts"]
    value = share_value(private["blocks"])
    assert value.endswith(f":{event['ts']}")
    assert not calls_in(fake, "chat.postMessage", "CPRIVATE")

    click_share(http, local_url, "CPRIVATE", value, fake.response_url("p"), user="U51")
    (public,) = wait_in(fake, "chat.postMessage", "CPRIVATE")
    assert public["thread_ts"] == event["ts"] and "*Sources*" in texts(public["blocks"])


# ------------------------------------------------------------------------------ never silent
@pytest.mark.parametrize(("channel", "text"), [("D2600", "😀" * 40_000), ("C2601", "é" * 40_000)])
def test_a_40000_character_message_gets_a_too_long_reply(
    fake: FakeSlack, http: httpx.Client, local_url: str, channel: str, text: str
) -> None:
    event = (
        message(channel, text, user="U60")
        if channel.startswith("D")
        else mention(channel, f"<@{BOT_USER_ID}> {text}", user="U61")
    )
    raw = json.dumps(envelope(event))
    assert len(raw.encode()) > 64_000  # more than the API's body limit
    response = post_event(http, local_url, json.loads(raw))
    assert response.status_code == 200
    (reply,) = wait_in(fake, "chat.postMessage", channel)
    assert "40,000 characters" in reply["text"] and "2,000" in reply["text"]


# ------------------------------------------------------------------------------ assistant
def test_assistant_thread_gets_a_title_from_its_first_question(
    fake: FakeSlack, http: httpx.Client, local_url: str
) -> None:
    thread_ts = next_ts()
    first = message("D2700", ON_TOPIC, thread_ts=thread_ts, user="U70")
    first["assistant_thread"] = {"channel_id": "D2700", "thread_ts": thread_ts}
    post_event(http, local_url, envelope(first))
    (title,) = fake.wait_for("assistant.threads.setTitle")
    assert title.params["title"] == ON_TOPIC and title.params["thread_ts"] == thread_ts
    wait_in(fake, "chat.postMessage", "D2700")


def test_bad_channel_file_is_a_clear_start_up_error(
    indexed_settings: Settings, fake: FakeSlack, tmp_path: Path
) -> None:
    bad = tmp_path / "channels.toml"
    bad.write_text('[channels.C1]\nmode = "sometimes"\n', encoding="utf-8")
    settings = slack_settings(indexed_settings, fake, tmp_path, slack_channels=bad)
    with pytest.raises(SlackConfigError, match=r"channels\.toml"):
        build_slack_app(settings, KnowledgeBot(settings))


# ------------------------------------------------------------------------------ citations
def test_citations_show_section_link_from_the_manifest_and_date_when_indexed(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    source = next(BUNDLED_CORPUS.glob("004_*.txt"))
    shutil.copy(source, corpus / source.name)
    (corpus / "manifest.toml").write_text(
        f'[documents."{source.name}"]\ntitle = "IT vs Digital Transformation"\n'
        'url = "https://wiki.example.com/it-vs-digital?a=1&b=2"\n',
        encoding="utf-8",
    )
    settings = make_settings(tmp_path / "data", corpus_dir=corpus)
    bot = KnowledgeBot(settings)
    bot.ensure_index()
    answer = bot.answer(ON_TOPIC)
    assert answer.citations and not answer.abstained

    docs = doc_info(bot, answer.citations)
    line = citation_line(answer.citations[0], docs.get(answer.citations[0].source))
    assert line.startswith(
        "[1] <https://wiki.example.com/it-vs-digital?a=1&amp;b=2|*IT vs Digital Transformation*>"
    )
    assert "updated" not in line  # this ingest records no date: the line goes without
    sectioned = next(c for c in answer.citations if c.section)
    assert f" › {sectioned.section}" in citation_line(sectioned, docs.get(sectioned.source))

    # an index whose chunks carry the document's last-modified date shows it
    coll = bot.store.collection()
    assert coll is not None
    got = coll.get(include=["metadatas"])
    coll.update(
        ids=got["ids"],
        metadatas=[{**m, "modified": "2025-03-01T10:00:00Z"} for m in got["metadatas"] or []],
    )
    dated = doc_info(bot, answer.citations)[answer.citations[0].source]
    assert "· updated 2025-03-01 —" in citation_line(answer.citations[0], dated)


def test_workspace_refusing_feedback_buttons_gets_the_classic_ones(
    fake: FakeSlack, http: httpx.Client, local_url: str
) -> None:
    fake.fail_next("chat.update", "invalid_blocks")
    post_event(
        http, local_url, envelope(mention("C2800", f"<@{BOT_USER_ID}> {ON_TOPIC}", user="U80"))
    )
    refused, accepted = wait_in(fake, "chat.update", "C2800", count=2)
    assert refused["blocks"][-1]["type"] == "context_actions"
    classic = accepted["blocks"][-1]
    assert classic["type"] == "actions"
    assert [e["action_id"] for e in classic["elements"]] == ["kb_feedback_up", "kb_feedback_down"]
    assert "*Sources*" in texts(accepted["blocks"])
