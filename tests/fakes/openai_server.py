"""A scriptable stand-in for the OpenAI HTTP API (chat completions, embeddings, models).

Usage::

    with FakeOpenAI() as fake:
        fake.enqueue(Reply("Hello [1]."), Error(429), Hang(2.0))
        client = openai.OpenAI(base_url=fake.base_url, api_key="test")

The server speaks the real wire format (JSON and SSE streaming), so the real
``openai`` and ``langchain-openai`` clients can talk to it unchanged.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import re
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "Behaviour",
    "Drop",
    "Error",
    "FakeOpenAI",
    "Hang",
    "Malformed",
    "RecordedRequest",
    "Reply",
    "ToolCall",
]


# --------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Reply:
    """Answer ``content`` after ``delay`` s; when streaming, ``chunk_delay`` s between chunks.

    ``finish_reason=None`` ends a stream after the content with neither a finish reason nor
    ``[DONE]`` (the connection just closes, as when a server dies mid-answer)."""

    content: str
    delay: float = 0.0
    chunk_delay: float = 0.0
    finish_reason: str | None = "stop"


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering (a server that dies before the first token)."""


@dataclass(frozen=True)
class Error:
    """Answer with HTTP ``status`` and an OpenAI-shaped error body.

    When ``headers`` is None, retryable statuses (408/409/429/5xx) get
    ``retry-after-ms: 1`` so the real client retries almost immediately
    (the openai client ignores ``Retry-After: 0`` and would back off ~0.5 s).
    """

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Hang:
    """Sleep ``seconds`` before answering (with the default reply) to trigger client timeouts."""

    seconds: float


@dataclass(frozen=True)
class Malformed:
    """Answer 200 with a body that is not valid JSON (or a broken SSE event when streaming)."""

    body: str = '{"id": "chatcmpl-broken", "choices": [ this is not json'


@dataclass(frozen=True)
class ToolCall:
    """Answer with an assistant message carrying one function tool call."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None


ReplyFn = Callable[[dict[str, Any]], str | Reply | Error | Hang | Malformed | ToolCall | Drop]
Behaviour = Reply | Error | Hang | Malformed | ToolCall | Drop | ReplyFn
_CONCRETE = (Reply, Error, Hang, Malformed, ToolCall, Drop)


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request received by the fake (header names are lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def json(self) -> Any:
        """Alias of ``body`` (the parsed JSON body, or None)."""
        return self.body


_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    408: ("Request timed out.", "server_error", None),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Build OpenAI's ``{"error": {...}}`` body for an HTTP status."""
    fallback = ("Error.", "server_error" if status >= 500 else "invalid_request_error", None)
    msg, etype, code = _DEFAULT_ERRORS.get(status, fallback)
    return {"error": {"message": message or msg, "type": etype, "param": None, "code": code}}


def _is_retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def fake_embedding(text: Any, dimensions: int) -> list[float]:
    """Deterministic unit-length vector derived from a SHA-256 of the input."""
    seed = json.dumps(text, sort_keys=True).encode()
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        for i in range(0, len(digest), 4):
            (n,) = struct.unpack(">I", digest[i : i + 4])
            values.append(n / 0xFFFFFFFF * 2.0 - 1.0)
        counter += 1
    values = values[:dimensions]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def _count_tokens(value: Any) -> int:
    """Very rough token count (whitespace words) of any JSON-ish value."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        if all(isinstance(v, int) for v in value):
            return len(value)  # token ids
        return sum(_count_tokens(v) for v in value)
    if isinstance(value, dict):
        return sum(_count_tokens(v) for v in value.values())
    return 1


def _split_chunks(content: str) -> list[str]:
    """Split content into word-sized pieces whose concatenation is ``content``."""
    return re.findall(r"\s*\S+\s*|\s+", content) if content else []


# --------------------------------------------------------------------------- HTTP handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    # -- plumbing
    def _read_json(self) -> tuple[Any, bytes]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, raw
        try:
            return json.loads(raw), raw
        except ValueError:
            return None, raw

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_raw(status, data, "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        owner = self.server.owner
        body, _raw = self._read_json() if method == "POST" else (None, b"")
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner._record(RecordedRequest(method, path, headers, body))
        route = path.rstrip("/")
        try:
            expected_auth = f"Bearer {owner.api_key}"
            if owner.api_key is not None and headers.get("authorization") != expected_auth:
                self._send_json(401, error_body(401))
            elif method == "GET" and route == "/v1/models":
                self._send_json(200, {"object": "list", "data": [owner._model_obj(owner.model)]})
            elif method == "GET" and path.startswith("/v1/models/"):
                self._send_json(200, owner._model_obj(path.removeprefix("/v1/models/")))
            elif method == "POST" and route == "/v1/chat/completions":
                self._chat(body if isinstance(body, dict) else {})
            elif method == "POST" and route == "/v1/embeddings":
                self._embeddings(body if isinstance(body, dict) else {})
            else:
                self._send_json(404, error_body(404, f"Invalid URL ({method} {path})"))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            owner._disconnected()  # the client gave up (timeout, cancellation)

    def do_GET(self) -> None:
        """Handle GET requests."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Handle POST requests."""
        self._dispatch("POST")

    # -- endpoints
    def _embeddings(self, body: dict[str, Any]) -> None:
        owner = self.server.owner
        inp = body.get("input")
        if isinstance(inp, str) or (
            isinstance(inp, list) and inp and all(isinstance(t, int) for t in inp)
        ):
            items: list[Any] = [inp]
        elif isinstance(inp, list):
            items = list(inp)
        else:
            self._send_json(400, error_body(400, "'input' is a required property"))
            return
        dims = int(body.get("dimensions") or owner.embedding_dim)
        data = []
        for i, item in enumerate(items):
            vec = fake_embedding(item, dims)
            emb: Any = vec
            if body.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode("ascii")
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(_count_tokens(it) for it in items)
        model = body.get("model", owner.embedding_model)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._send_json(200, {"object": "list", "data": data, "model": model, "usage": usage})

    def _chat(self, body: dict[str, Any]) -> None:
        owner = self.server.owner
        response_format = body.get("response_format") or {}
        if owner.reject_json_schema and response_format.get("type") == "json_schema":
            # What llama.cpp's server does with a JSON-schema response format.
            self._send_json(500, error_body(500, "json_schema is not supported"))
            return
        behaviour = owner._next_behaviour()
        if callable(behaviour) and not isinstance(behaviour, _CONCRETE):
            try:
                result = behaviour(body)
            except Exception as exc:  # surfaced to the client as a 500
                self._send_json(500, error_body(500, f"fake reply function raised: {exc!r}"))
                return
            behaviour = Reply(result) if isinstance(result, str) else result
        stream = bool(body.get("stream"))
        if isinstance(behaviour, Drop):
            self.close_connection = True
            self.connection.shutdown(2)  # socket.SHUT_RDWR: no status line, no body
            return
        if isinstance(behaviour, Error):
            headers = behaviour.headers
            if headers is None and _is_retryable(behaviour.status):
                headers = {"retry-after-ms": "1"}
            payload = behaviour.body if behaviour.body is not None else error_body(behaviour.status)
            self._send_json(behaviour.status, payload, headers)
            return
        if isinstance(behaviour, Malformed):
            if stream:
                self._start_sse()
                self.wfile.write(f"data: {behaviour.body}\n\n".encode())
            else:
                self._send_raw(200, behaviour.body.encode(), "application/json")
            return
        if isinstance(behaviour, Hang):
            if owner._sleep(behaviour.seconds):
                return  # server shutting down
            behaviour = Reply(owner.default_reply)
        if isinstance(behaviour, Reply) and behaviour.delay and owner._sleep(behaviour.delay):
            return
        assert isinstance(behaviour, (Reply, ToolCall)), behaviour
        if stream:
            self._stream(body, behaviour)
        else:
            self._send_json(200, owner._completion(body, behaviour))

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
        self.end_headers()

    def _stream(self, body: dict[str, Any], behaviour: Reply | ToolCall) -> None:
        owner = self.server.owner
        self._start_sse()
        chunk_delay = behaviour.chunk_delay if isinstance(behaviour, Reply) else 0.0
        for i, chunk in enumerate(owner._chunks(body, behaviour)):
            if i and chunk_delay and owner._sleep(chunk_delay):
                return
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        if isinstance(behaviour, Reply) and behaviour.finish_reason is None:
            return  # cut off: no finish reason, no [DONE]
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


# --------------------------------------------------------------------------- public class


class FakeOpenAI:
    """Real HTTP server on 127.0.0.1 answering like the OpenAI API, scripted via ``enqueue``."""

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        embedding_model: str = "text-embedding-3-small",
        embedding_dim: int = 8,
        default_reply: str = "Default answer [1].",
        api_key: str | None = None,
    ) -> None:
        """Configure the fake; the server starts on ``__enter__`` (or ``start()``)."""
        self.model = model
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim
        self.default_reply = default_reply
        self.api_key = api_key  # when set, other bearer tokens get 401
        self.reject_json_schema = False  # when True, json_schema response formats get 500
        self.disconnects = 0  # responses the client walked away from
        self._lock = threading.Lock()
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeOpenAI:
        """Start serving on a free port in a daemon thread."""
        if self._server is not None:
            return self
        self._stop.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeOpenAI",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the server thread."""
        if self._server is None:
            return
        self._stop.set()  # wake sleeping Hang/Reply(delay) handlers
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Port the server listens on."""
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — pass as ``base_url`` to the clients."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting
    def enqueue(self, *behaviours: Behaviour | str) -> None:
        """Queue behaviours for the next chat requests (a bare str means ``Reply(str)``)."""
        with self._lock:
            for b in behaviours:
                self._queue.append(Reply(b) if isinstance(b, str) else b)

    @property
    def pending(self) -> int:
        """Number of queued behaviours not yet consumed."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued behaviours and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self.reject_json_schema = False
            self.disconnects = 0

    # -- recording
    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of all recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Recorded POST /v1/chat/completions requests."""
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        """Recorded POST /v1/embeddings requests."""
        return [r for r in self.requests if r.path.rstrip("/").endswith("/embeddings")]

    def last_messages(self) -> list[dict[str, Any]]:
        """``messages`` of the most recent chat request (LookupError if there is none)."""
        chats = self.chat_requests
        if not chats:
            raise LookupError("no chat completion request recorded")
        return list((chats[-1].body or {}).get("messages") or [])

    # -- internals (called from handler threads)
    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _disconnected(self) -> None:
        with self._lock:
            self.disconnects += 1

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            return Reply(self.default_reply)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True means 'stopping'."""
        return self._stop.wait(seconds)

    def _model_obj(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "fake"}

    @staticmethod
    def _tool_call(behaviour: ToolCall) -> dict[str, Any]:
        return {
            "id": behaviour.call_id or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": behaviour.name, "arguments": json.dumps(behaviour.arguments)},
        }

    @staticmethod
    def _usage(body: dict[str, Any], completion_text: str) -> dict[str, Any]:
        prompt = _count_tokens(body.get("messages")) or 1
        completion = len(completion_text.split())
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _completion(self, body: dict[str, Any], behaviour: Reply | ToolCall) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "refusal": None, "annotations": []}
        if isinstance(behaviour, ToolCall):
            call = self._tool_call(behaviour)
            message.update(content=None, tool_calls=[call])
            finish, text = "tool_calls", call["function"]["arguments"]
        else:
            message["content"] = behaviour.content
            finish, text = behaviour.finish_reason, behaviour.content
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": self._usage(body, text),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def _chunks(
        self, body: dict[str, Any], behaviour: Reply | ToolCall
    ) -> Iterator[dict[str, Any]]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            out = {**base, "choices": [choice]}
            if include_usage:
                out["usage"] = None
            return out

        if isinstance(behaviour, ToolCall):
            call = self._tool_call(behaviour)
            text = call["function"]["arguments"]
            first: dict[str, Any] = {"index": 0, "id": call["id"], "type": "function"}
            first["function"] = {"name": behaviour.name, "arguments": ""}
            head = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [first]}
            yield chunk(head)
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": text}}]})
            finish = "tool_calls"
        else:
            text = behaviour.content
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            for piece in _split_chunks(text):
                yield chunk({"content": piece})
            finish = behaviour.finish_reason
            if finish is None:
                return  # a stream cut off before its finish reason
        yield chunk({}, finish)
        if include_usage:
            yield {**base, "choices": [], "usage": self._usage(body, text)}
