"""Self-tests: the stand-in servers speak the wire protocol the real clients expect."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from .openai_server import Error, FakeOpenAI, Hang, Malformed, Reply, ToolCall
from .slack_api import FakeSlack, signed_headers


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def _client(fake: FakeOpenAI, **kwargs: object) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=fake.base_url, api_key="test", **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- OpenAI


def test_models_and_non_streaming_reply(fake_openai: FakeOpenAI) -> None:
    client = _client(fake_openai)
    assert [m.id for m in client.models.list()] == [fake_openai.model]
    fake_openai.enqueue(Reply("Hello [1]."))
    resp = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi there"}]
    )
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "Hello [1]."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens > 0
    # queue empty -> default reply
    resp2 = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}]
    )
    assert resp2.choices[0].message.content == "Default answer [1]."
    assert fake_openai.last_messages() == [{"role": "user", "content": "again"}]
    req = fake_openai.chat_requests[0]
    assert req.headers["authorization"] == "Bearer test"
    assert req.body["model"] == "gpt-4o-mini"


def test_streaming_reply_with_usage(fake_openai: FakeOpenAI) -> None:
    client = _client(fake_openai)
    fake_openai.enqueue(Reply("The answer is 42 [2].\nSecond line."))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "q"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The answer is 42 [2].\nSecond line."
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_callable_reply(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(lambda req: "echo: " + req["messages"][-1]["content"])
    resp = _client(fake_openai).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "ping"}]
    )
    assert resp.choices[0].message.content == "echo: ping"


def test_429_then_success_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Error(429), Reply("after retry"))
    resp = _client(fake_openai, max_retries=1).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert resp.choices[0].message.content == "after retry"
    assert len(fake_openai.chat_requests) == 2


def test_500_raises_internal_server_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Error(500))
    with pytest.raises(openai.InternalServerError) as info:
        _client(fake_openai).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 500
    assert isinstance(info.value.body, dict) and info.value.body.get("type") == "server_error"


def test_hang_raises_timeout_without_blocking_others(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Hang(3.0))
    with pytest.raises(openai.APITimeoutError):
        _client(fake_openai, timeout=0.5).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    # the hung handler is still sleeping; other requests are served meanwhile
    started = time.monotonic()
    resp = _client(fake_openai).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "y"}]
    )
    assert resp.choices[0].message.content == "Default answer [1]."
    assert time.monotonic() - started < 1.0


def test_malformed_body(fake_openai: FakeOpenAI) -> None:
    # quirk: openai surfaces an invalid 200 body as a bare json.JSONDecodeError, not APIError
    fake_openai.enqueue(Malformed())
    with pytest.raises(json.JSONDecodeError):
        _client(fake_openai).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )


def test_embeddings_are_deterministic(fake_openai: FakeOpenAI) -> None:
    client = _client(fake_openai)
    resp = client.embeddings.create(model="text-embedding-3-small", input=["a", "b", "a"])
    vecs = [d.embedding for d in resp.data]
    assert [len(v) for v in vecs] == [8, 8, 8]
    assert vecs[0] == vecs[2] != vecs[1]
    b64 = client.embeddings.create(model="e", input="a", encoding_format="base64")
    raw = base64.b64decode(b64.data[0].embedding)  # returned undecoded when asked for
    assert list(struct.unpack("<8f", raw)) == pytest.approx(vecs[0], abs=1e-6)


def test_langchain_invoke_and_stream(fake_openai: FakeOpenAI) -> None:
    llm = ChatOpenAI(base_url=fake_openai.base_url, api_key="test", model="gpt-4o-mini")
    fake_openai.enqueue(Reply("Invoked [1]."), Reply("Streamed answer [3]."))
    assert llm.invoke("hello").content == "Invoked [1]."
    parts = [chunk.content for chunk in llm.stream("hello", stream_usage=True)]
    assert "".join(parts) == "Streamed answer [3]."
    assert fake_openai.chat_requests[1].body["stream"] is True


class Label(BaseModel):
    label: str
    confidence: float


def test_langchain_structured_output_json_schema(fake_openai: FakeOpenAI) -> None:
    llm = ChatOpenAI(base_url=fake_openai.base_url, api_key="test", model="gpt-4o-mini")
    fake_openai.enqueue(Reply('{"label": "billing", "confidence": 0.9}'))
    out = llm.with_structured_output(Label).invoke("classify me")
    assert out == Label(label="billing", confidence=0.9)
    assert fake_openai.chat_requests[-1].body["response_format"]["type"] == "json_schema"


def test_langchain_structured_output_function_calling(fake_openai: FakeOpenAI) -> None:
    llm = ChatOpenAI(base_url=fake_openai.base_url, api_key="test", model="gpt-4o-mini")
    fake_openai.enqueue(ToolCall("Label", {"label": "hr", "confidence": 0.5}))
    structured = llm.with_structured_output(Label, method="function_calling")
    assert structured.invoke("classify me") == Label(label="hr", confidence=0.5)
    assert fake_openai.chat_requests[-1].body["tools"][0]["function"]["name"] == "Label"


# --------------------------------------------------------------------------- Slack


def test_slack_auth_test_and_not_authed(fake_slack: FakeSlack) -> None:
    resp = WebClient(token="xoxb-test", base_url=fake_slack.base_url).auth_test()
    assert resp["user_id"] == "UBOT" and resp["bot_id"] == "BBOT" and resp["team_id"] == "T1"
    assert fake_slack.calls_to("auth.test")[0].token == "xoxb-test"
    with pytest.raises(SlackApiError) as info:
        WebClient(base_url=fake_slack.base_url).auth_test()
    assert info.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as info:
        WebClient(token="x", base_url=fake_slack.base_url).api_call("no.such")
    assert info.value.response["error"] == "unknown_method"


def test_slack_post_message_and_replies(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    fake_slack.set_replies("C1", "1.000", [{"user": "U1", "text": "question?", "ts": "1.000"}])
    r1 = client.chat_postMessage(channel="C1", text="hi", blocks=blocks, thread_ts="1.000")
    r2 = client.chat_postMessage(channel="C1", text="more", thread_ts="1.000")
    assert float(r2["ts"]) > float(r1["ts"])
    assert r1["message"]["thread_ts"] == "1.000"
    method, params = fake_slack.calls_to("chat.postMessage")[0]
    assert method == "chat.postMessage" and params["blocks"] == blocks
    replies = client.conversations_replies(channel="C1", ts="1.000")
    assert [m["text"] for m in replies["messages"]] == ["question?", "hi", "more"]
    # form-encoded methods decode JSON-string params too
    client.chat_update(channel="C1", ts=r1["ts"], text="edited", blocks=blocks)
    form = {"channel": "C1", "ts": r1["ts"], "blocks": json.dumps(blocks)}
    client.api_call("chat.update", data=form)
    assert all(p["blocks"] == blocks for _, p in fake_slack.calls_to("chat.update"))
    client.reactions_add(channel="C1", timestamp=r1["ts"], name="eyes")
    client.chat_postEphemeral(channel="C1", user="U1", text="psst")
    client.assistant_threads_setStatus(channel_id="C1", thread_ts="1.000", status="thinking")
    assert client.users_info(user="U1")["user"]["id"] == "U1"


def test_slack_wait_for_across_threads(fake_slack: FakeSlack) -> None:
    def later() -> None:
        time.sleep(0.1)
        client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
        for i in range(2):
            client.chat_postMessage(channel="C2", text=f"async {i}")

    worker = threading.Thread(target=later)
    worker.start()
    calls = fake_slack.wait_for("chat.postMessage", count=2, timeout=5.0)
    worker.join()
    assert [p["text"] for _, p in calls] == ["async 0", "async 1"]
    with pytest.raises(TimeoutError):
        fake_slack.wait_for("chat.delete", timeout=0.05)
    fake_slack.reset()
    assert fake_slack.calls == []


def test_slack_async_client_get_with_query_string(fake_slack: FakeSlack) -> None:
    fake_slack.set_replies("D1", "5.0", [{"user": "U1", "text": "q", "ts": "5.0"}])

    async def run() -> list[dict[str, object]]:
        client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url)
        resp = await client.conversations_replies(channel="D1", ts="5.0")
        return list(resp["messages"])

    assert asyncio.run(run()) == [{"user": "U1", "text": "q", "ts": "5.0"}]


def test_slack_fail_next(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
    fake_slack.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C9", text="x")
    assert client.chat_postMessage(channel="C9", text="x")["ok"] is True


def test_response_url_post(fake_slack: FakeSlack) -> None:
    url = fake_slack.response_url("cmd1")
    resp = httpx.post(url, json={"response_type": "ephemeral", "text": "Working..."})
    assert resp.status_code == 200 and resp.text == "ok"
    assert fake_slack.responses_posted == [{"response_type": "ephemeral", "text": "Working..."}]
    assert fake_slack.responses_to("cmd1")[0]["text"] == "Working..."


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"type":"event_callback","event":{"text":"hé"}}', "application/json"),
        (b"command=%2Fkb&text=hello+world", "application/x-www-form-urlencoded"),
    ],
)
def test_signed_headers_match_slack_sdk(body: str | bytes, content_type: str) -> None:
    headers = signed_headers("s3cret", body, content_type=content_type)
    assert headers["Content-Type"] == content_type
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    old = signed_headers("s3cret", body, timestamp=int(time.time()) - 3600)
    assert not verifier.is_valid_request(body, old)
