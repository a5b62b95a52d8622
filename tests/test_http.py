"""The HTTP API against a real uvicorn server on 127.0.0.1 and the real KnowledgeBot."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import SecretStr

from bot.answer import KnowledgeBot
from bot.doors.http import create_app
from bot.runtime.schema import Answer
from bot.runtime.settings import Settings
from tests.conftest import make_settings
from tests.live_server import running

API_KEY = "s3cret-test-key-7f1c"
CLOUD_QUESTION = "Is migrating our data center to the cloud an IT or a digital initiative?"


@pytest.fixture(scope="module")
def url(indexed_settings: Settings, kb: KnowledgeBot) -> Iterator[str]:
    """The API without auth, over the session index."""
    with running(create_app(indexed_settings, kb)) as base:
        yield base


@pytest.fixture(scope="module")
def auth_url(indexed_settings: Settings, kb: KnowledgeBot) -> Iterator[str]:
    """The API with KB_API_KEY set (same bot)."""
    settings = indexed_settings.model_copy(update={"api_key": SecretStr(API_KEY)})
    with running(create_app(settings, kb)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as c:
        yield c


def parse_sse(lines: Iterator[str]) -> list[tuple[str | None, str]]:
    """(event, data) pairs of a Server-Sent Events stream, per the SSE line rules."""
    events: list[tuple[str | None, str]] = []
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                events.append((event, "\n".join(data)))
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        events.append((event, "\n".join(data)))
    return events


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is our error shape with this status and code; returns `error`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------- answers
def test_ask_answers_with_citations(client: httpx.Client) -> None:
    response = client.post("/ask", json={"question": "What is digital transformation?"})
    assert response.status_code == 200, response.text
    answer = Answer.model_validate(response.json())
    assert not answer.abstained and answer.backend == "local"
    assert answer.citations and "[1]" in answer.answer
    for citation in answer.citations:
        assert citation.source.startswith("corpus/") and citation.quote and citation.title
    assert answer.classification is None
    assert response.headers["x-request-id"]


def test_ask_with_history_answers_a_follow_up(client: httpx.Client) -> None:
    history = [
        {"role": "user", "content": "What is IT strategy?"},
        {"role": "assistant", "content": "IT strategy covers infrastructure decisions. [1]"},
    ]
    response = client.post("/ask", json={"question": "And who owns it?", "history": history})
    assert response.status_code == 200, response.text
    Answer.model_validate(response.json())


def test_ask_classifies_an_it_or_digital_question(client: httpx.Client) -> None:
    response = client.post("/ask", json={"question": CLOUD_QUESTION})
    assert response.status_code == 200, response.text
    answer = Answer.model_validate(response.json())
    assert answer.classification is not None
    assert answer.classification.label in {"it", "digital", "both"}
    assert answer.classification.rationale and answer.citations


def test_classify(client: httpx.Client) -> None:
    response = client.post(
        "/classify", json={"initiative": "Migrating our data center to the cloud"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "label",
        "confidence",
        "rationale",
        "citations",
        "degraded",
        "degraded_reason",
    }
    assert body["label"] in {"it", "digital", "both"} and 0.0 <= body["confidence"] <= 1.0
    assert body["rationale"] and body["citations"][0]["source"].startswith("corpus/")


def test_health_sources_and_docs(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert ready.json()["documents"] >= 1 and ready.json()["chunks"] >= ready.json()["documents"]
    assert ready.json()["embedding_model"]
    sources = client.get("/sources").json()["sources"]
    assert sources and all(
        s["source"].startswith("corpus/") and s["title"] and s["chunks"] > 0 for s in sources
    )
    assert ready.json()["documents"] == len(sources)
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/ask", "/classify", "/sources", "/v1/chat/completions"} <= set(paths)


# ---------------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("how", ["body", "accept"])
def test_ask_streams_deltas_then_one_answer(client: httpx.Client, how: str) -> None:
    payload: dict[str, Any] = {"question": "What is digital transformation?"}
    headers = {"Accept": "text/event-stream"} if how == "accept" else {}
    if how == "body":
        payload["stream"] = True
    with client.stream("POST", "/ask", json=payload, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.iter_lines())
    kinds = [event for event, _ in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    assert kinds[:-1] and set(kinds[:-1]) == {"delta"}
    answer = Answer.model_validate(json.loads(events[-1][1]))
    streamed = "".join(json.loads(data)["text"] for _, data in events[:-1])
    assert streamed.strip() == answer.answer.strip()
    assert answer.citations


def test_stream_input_errors_come_before_the_stream(client: httpx.Client) -> None:
    response = client.post("/ask", json={"question": "  ", "stream": True})
    assert_error(response, 422, "empty_question")


# ---------------------------------------------------------------------------------- OpenAI
def test_openai_client_models_and_completion(url: str) -> None:
    oai = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in oai.models.list()] == ["kb"]
    completion = oai.chat.completions.create(
        model="kb",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "What is IT strategy?"},
        ],
    )
    text = completion.choices[0].message.content or ""
    assert completion.choices[0].finish_reason == "stop"
    assert "\n\nSources:\n[1] " in text and "(corpus/" in text
    kb = Answer.model_validate((completion.model_extra or {})["kb"])
    assert text.startswith(kb.answer) and kb.citations
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_openai_client_streams(url: str) -> None:
    oai = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "What is IT strategy?"}]
    stream = oai.chat.completions.create(model="kb", messages=messages, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert Answer.model_validate((chunks[-1].model_extra or {})["kb"]).citations
    expected = oai.chat.completions.create(model="kb", messages=messages).choices[0].message.content
    assert text == expected


def test_openai_conversation_uses_history(url: str) -> None:
    oai = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    completion = oai.chat.completions.create(
        model="kb",
        messages=[
            {"role": "user", "content": "What is digital strategy?"},
            {
                "role": "assistant",
                "content": "Digital strategy is... [1]\n\nSources:\n[1] X (corpus/x.txt)",
            },
            {
                "role": "user",
                "content": [{"type": "text", "text": "How does it differ from digital marketing?"}],
            },
        ],
    )
    assert completion.choices[0].message.content


# ---------------------------------------------------------------------------------- auth
def test_auth_required_when_key_set(auth_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with httpx.Client(base_url=auth_url, timeout=30) as c:
        question = {"question": "What is IT strategy?"}
        missing = c.post("/ask", json=question)
        assert_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_error(
            c.post("/ask", json=question, headers={"Authorization": "Bearer wrong"}),
            401,
            "unauthorized",
        )
        assert_error(
            c.post("/ask", json=question, headers={"Authorization": API_KEY}), 401, "unauthorized"
        )
        assert_error(c.get("/no-such-route"), 401, "unauthorized")  # no route discovery
        assert_error(c.get("/v1/models"), 401, "unauthorized")
        good = {"Authorization": f"Bearer {API_KEY}"}
        assert c.post("/ask", json=question, headers=good).status_code == 200
        assert c.get("/sources", headers=good).status_code == 200
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{auth_url}/v1", api_key="wrong", max_retries=0).models.list()
    oai = openai.OpenAI(base_url=f"{auth_url}/v1", api_key=API_KEY, max_retries=0)
    assert [m.id for m in oai.models.list()] == ["kb"]
    assert "POST /ask 401" in caplog.text
    assert API_KEY not in caplog.text


def test_auth_off_ignores_authorization(client: httpx.Client) -> None:
    response = client.get("/sources", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 200


# ---------------------------------------------------------------------------------- bad input
def _raw(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": content_type}}


BAD_INPUT: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("empty", "POST", "/ask", {"json": {"question": ""}}, 422, "empty_question"),
    ("blank", "POST", "/ask", {"json": {"question": " \n\t "}}, 422, "empty_question"),
    ("nul", "POST", "/ask", _raw(b'{"question": "\\u0000"}'), 422, "empty_question"),
    (
        "controls",
        "POST",
        "/ask",
        _raw(b'{"question": "\\u0001\\u001b\\u007f\\u200b"}'),
        422,
        "empty_question",
    ),
    # 422, not 413: the limit is in the published schema (maxLength), and schema-invalid is 422
    ("too long", "POST", "/ask", {"json": {"question": "x" * 2001}}, 422, "question_too_long"),
    (
        "body over limit",
        "POST",
        "/ask",
        {"json": {"question": "q", "pad": "x" * 70_000}},
        413,
        "body_too_large",
    ),
    (
        "chunked over limit",
        "POST",
        "/ask",
        {
            "content": (b"x" * 10_000 for _ in range(8)),
            "headers": {"Content-Type": "application/json"},
        },
        413,
        "body_too_large",
    ),
    ("invalid json", "POST", "/ask", _raw(b'{"question": '), 400, "invalid_json"),
    ("invalid utf-8", "POST", "/ask", _raw(b'{"question": "\xff\xfe"}'), 400, "invalid_json"),
    ("not an object", "POST", "/ask", {"json": ["question"]}, 422, "invalid_request"),
    ("missing question", "POST", "/ask", {"json": {"q": "hi"}}, 422, "invalid_request"),
    ("number question", "POST", "/ask", {"json": {"question": 42}}, 422, "invalid_request"),
    ("null question", "POST", "/ask", {"json": {"question": None}}, 422, "invalid_request"),
    (
        "bad history role",
        "POST",
        "/ask",
        {"json": {"question": "hi", "history": [{"role": "system", "content": "x"}]}},
        422,
        "invalid_request",
    ),
    ("no body", "POST", "/ask", {}, 422, "invalid_request"),
    (
        "text/plain",
        "POST",
        "/ask",
        _raw(b'{"question": "hi"}', "text/plain"),
        415,
        "unsupported_media_type",
    ),
    ("classify empty", "POST", "/classify", {"json": {"initiative": "   "}}, 422, "empty_question"),
    (
        "classify too long",
        "POST",
        "/classify",
        {"json": {"initiative": "y" * 5000}},
        422,
        "question_too_long",
    ),
    (
        "classify missing",
        "POST",
        "/classify",
        {"json": {"question": "cloud"}},
        422,
        "invalid_request",
    ),
    (
        "chat no messages",
        "POST",
        "/v1/chat/completions",
        {"json": {"model": "kb", "messages": []}},
        422,
        "invalid_request",
    ),
    (
        "chat system only",
        "POST",
        "/v1/chat/completions",
        {"json": {"model": "kb", "messages": [{"role": "system", "content": "hi"}]}},
        422,
        "empty_question",
    ),
    (
        "chat empty user",
        "POST",
        "/v1/chat/completions",
        {"json": {"model": "kb", "messages": [{"role": "user", "content": ""}]}},
        422,
        "empty_question",
    ),
    (
        "chat stream empty user",
        "POST",
        "/v1/chat/completions",
        {"json": {"model": "kb", "stream": True, "messages": [{"role": "user", "content": None}]}},
        422,
        "empty_question",
    ),
    (
        "chat bad role",
        "POST",
        "/v1/chat/completions",
        {"json": {"model": "kb", "messages": [{"role": "wizard", "content": "hi"}]}},
        422,
        "invalid_request",
    ),
    ("unknown model card", "GET", "/v1/models/gpt-4o", {}, 404, "model_not_found"),
    ("unknown route", "GET", "/nope", {}, 404, "not_found"),
    ("wrong method", "GET", "/ask", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "kwargs", "status", "code"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_matrix(
    client: httpx.Client,
    name: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    error = assert_error(client.request(method, path, **kwargs), status, code)
    if code == "question_too_long":
        assert "2,000" in error["message"]
    if code == "body_too_large":
        assert "64,000" in error["message"]


NASTY = [
    "\\ud800",
    "a\\udfffb",
    "\\ud83d\\ude00 what is IT strategy?",
    "\\u202eIT strategy\\u202c",
    "\\u001b[31mred",
    "<script>alert(1)</script>",
    "<@U123> what is IT?",
    "\\ufeff" * 50,
    "\\u0000" * 1999,
    "\\ud800" * 1999,
    "IT\\u0000strategy",
    "'; DROP TABLE x; --",
    "%s%n{0}",
]


@pytest.mark.parametrize("text", NASTY)
@pytest.mark.parametrize("path", ["/ask", "/classify", "/v1/chat/completions"])
def test_nasty_text_never_500s(client: httpx.Client, path: str, text: str) -> None:
    field = {"/ask": '"question"', "/classify": '"initiative"'}.get(path)
    if field:
        body = f'{{{field}: "{text}"}}'
    else:
        body = f'{{"model": "kb", "messages": [{{"role": "user", "content": "{text}"}}]}}'
    response = client.post(path, **_raw(body.encode("ascii")))
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["error"]["code"] == "empty_question"
    else:
        json.loads(response.text)  # valid JSON even when the input held lone surrogates


# ---------------------------------------------------------------------------------- operability
def test_request_id_echoed_or_generated(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kb.http")
    echoed = client.get("/healthz", headers={"X-Request-ID": "req-42.abc"})
    assert echoed.headers["x-request-id"] == "req-42.abc"
    for insane in ("has spaces", "x" * 300, "line\tbreak"):
        generated = client.get("/healthz", headers={"X-Request-ID": insane}).headers["x-request-id"]
        assert generated != insane and len(generated) == 32
    fresh = client.get("/nope")
    assert fresh.headers["x-request-id"] == fresh.json()["error"]["request_id"]
    client.post("/ask", json={"question": ""}, headers={"X-Request-ID": "trace-me-1"})
    deadline = time.monotonic() + 2
    while "rid=trace-me-1" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    line = next(r.getMessage() for r in caplog.records if "rid=trace-me-1" in r.getMessage())
    assert line.startswith("POST /ask 422 ") and "ms rid=trace-me-1" in line


class _BrokenBot:
    """A bot whose pipeline fails unexpectedly (never the case for user input)."""

    def load(self) -> None: ...

    def ready(self) -> dict[str, Any]:
        return {"ready": True, "reason": None}

    def answer(self, *args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("internal detail that must not leak")


def test_unexpected_error_is_500_json_with_request_id(indexed_settings: Settings) -> None:
    app = create_app(indexed_settings, _BrokenBot())  # type: ignore[arg-type]
    with running(app) as base, httpx.Client(base_url=base) as c:
        response = c.post("/ask", json={"question": "anything"}, headers={"X-Request-ID": "boom-1"})
    error = assert_error(response, 500, "internal_error")
    assert error["request_id"] == "boom-1" and "boom-1" in error["message"]
    assert "must not leak" not in response.text


def test_readyz_503_without_index_then_200(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # one tiny document: ingesting it takes well under a second
    (corpus / "tiny.md").write_text(
        "# IT strategy\n\nAn IT strategy aligns technology investments with the business "
        "objectives of the organization.\n\nIt covers infrastructure, security and operations.\n",
        encoding="utf-8",
    )
    settings = make_settings(tmp_path / "data", corpus_dir=corpus)
    app = create_app(settings)
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        before = c.get("/readyz")
        assert before.status_code == 503
        assert before.json()["ready"] is False and before.json()["reason"]
        assert before.json()["error"]["code"] == "not_ready"
        assert_error(c.post("/ask", json={"question": "What is IT strategy?"}), 503, "not_ready")
        assert app.state.bot.ensure_index() is True
        after = c.get("/readyz")
        assert after.status_code == 200, after.text
        assert after.json()["documents"] == 1 and after.json()["chunks"] >= 1
        answer = Answer.model_validate(
            c.post("/ask", json={"question": "What is IT strategy?"}).json()
        )
        assert answer.citations and answer.citations[0].source.endswith("tiny.md")
