"""A recording stand-in for the Slack Web API, plus Slack request-signing helpers.

Usage::

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        (method, params), = fake.wait_for("chat.postMessage")

Requests are decoded the way slack_sdk sends them: the sync WebClient always POSTs,
with a JSON body for chat.* / assistant.* and a form body for the others (even
"GET" methods such as conversations.replies); AsyncWebClient uses real GETs with
a query string. Query string, form and JSON parameters are all merged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "FakeSlack",
    "SlackCall",
    "block_problem",
    "signed_headers",
]

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"

# Parameters Slack clients send as JSON-encoded strings inside form bodies.
JSON_PARAMS = frozenset(
    {
        "blocks",
        "user_auth_blocks",
        "attachments",
        "metadata",
        "view",
        "prompts",
        "unfurls",
        "chunks",
        "loading_messages",
        "user_auth_message",
    }
)

Handler = Callable[[dict[str, Any]], dict[str, Any]]

# Slack's documented limits, enforced so that tests catch payloads Slack would reject.
MAX_TEXT = 40_000  # chat.postMessage `text`: longer is msg_too_long
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_ACTIONS = 5
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000
MAX_BLOCKS_CHARS = 13_200  # total text in one message's blocks: msg_blocks_too_long beyond
MAX_STREAM_TEXT = 12_000  # markdown_text per chat.*Stream call
MAX_PROMPTS = 4  # assistant.threads.setSuggestedPrompts
STREAM_MIN_INTERVAL = 0.9  # appends to one stream closer than this are rate limited (~1/s)
KNOWN_BLOCKS = {
    "actions",
    "context",
    "context_actions",
    "divider",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
}


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def _element_problem(element: dict[str, Any]) -> str | None:
    kind = element.get("type")
    if kind == "button":
        if len(_text_of(element.get("text"))) > MAX_BUTTON_TEXT:
            return "button text over 75 characters"
        if len(str(element.get("value", ""))) > MAX_VALUE:
            return "button value over 2000 characters"
    if kind == "feedback_buttons":
        for side in ("positive_button", "negative_button"):
            button = element.get(side)
            if not isinstance(button, dict) or "value" not in button:
                return f"feedback_buttons without {side}"
            if len(_text_of(button.get("text"))) > MAX_BUTTON_TEXT:
                return "feedback button text over 75 characters"
            if len(str(button["value"])) > MAX_VALUE:
                return "feedback button value over 2000 characters"
    return None


def block_problem(blocks: Any) -> str | None:
    """Why Slack would reject these blocks (`invalid_blocks`), or None if they are valid."""
    if blocks in (None, ""):
        return None
    if not isinstance(blocks, list):
        return "blocks is not an array"
    if len(blocks) > MAX_BLOCKS:
        return f"{len(blocks)} blocks; the limit is {MAX_BLOCKS}"
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in KNOWN_BLOCKS:
            return f"unknown block type {kind!r}"
        elements = block.get("elements", [])
        if kind == "section" and len(_text_of(block.get("text"))) > MAX_SECTION_TEXT:
            return "section text over 3000 characters"
        if kind == "context" and not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            return "context block needs 1 to 10 elements"
        if kind == "context_actions":
            if not 1 <= len(elements) <= MAX_CONTEXT_ACTIONS:
                return "context_actions block needs 1 to 5 elements"
            if any(e.get("type") not in ("feedback_buttons", "icon_button") for e in elements):
                return "context_actions takes only feedback_buttons and icon_button"
        if kind == "actions" and not 1 <= len(elements) <= MAX_ACTIONS:
            return "actions block needs 1 to 25 elements"
        for element in elements if isinstance(elements, list) else []:
            if kind == "context" and len(_text_of(element.get("text"))) > MAX_SECTION_TEXT:
                return "context element text over 3000 characters"
            if problem := _element_problem(element):
                return problem
    return None


def blocks_chars(blocks: Any) -> int:
    """Characters of text in a message's blocks."""
    total = 0
    for block in blocks if isinstance(blocks, list) else []:
        total += len(_text_of(block.get("text")))
        for element in block.get("elements", []) or []:
            total += len(_text_of(element.get("text")))
    return total


def message_problem(params: dict[str, Any]) -> str | None:
    """The error Slack gives for this message payload, or None."""
    if len(str(params.get("text", ""))) > MAX_TEXT:
        return "msg_too_long"
    if block_problem(params.get("blocks")) is not None:
        return "invalid_blocks"
    if blocks_chars(params.get("blocks")) > MAX_BLOCKS_CHARS:
        return "msg_blocks_too_long"
    return None


def signed_headers(
    signing_secret: str,
    body: str | bytes,
    timestamp: int | None = None,
    *,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Headers Slack sends with a v0-signed request for ``body`` (timestamp defaults to now)."""
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    raw = body.encode() if isinstance(body, str) else bytes(body)
    base = b"v0:" + ts.encode("ascii") + b":" + raw
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


class SlackCall(tuple):
    """A recorded Web API call: unpacks as ``(method, params)``; has ``.headers`` and ``.token``."""

    headers: dict[str, str]
    token: str | None
    at: float  # time.monotonic() when the fake received it (to check rate limits)

    def __new__(
        cls, method: str, params: dict[str, Any], headers: dict[str, str], token: str | None
    ) -> SlackCall:
        obj = super().__new__(cls, (method, params))
        obj.headers = headers
        obj.token = token
        obj.at = time.monotonic()
        return obj

    @property
    def method(self) -> str:
        """Slack method name, e.g. ``chat.postMessage``."""
        return str(self[0])

    @property
    def params(self) -> dict[str, Any]:
        """Decoded parameters (token removed)."""
        return dict(self[1])


def _decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in JSON_PARAMS & out.keys():
        value = out[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                out[key] = json.loads(value)
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeSlack


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass

    def _params(self, raw: bytes) -> tuple[dict[str, Any], Any]:
        url = urlsplit(self.path)
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        parsed: Any = None
        if raw:
            text = raw.decode("utf-8", "replace")
            if ctype == "application/json" or (not ctype and text.lstrip()[:1] in "{["):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    params.update(parsed)
            elif ctype.startswith("multipart/"):
                params["_multipart"] = raw  # file uploads: kept raw, not decoded
            else:
                params.update(parse_qsl(text, keep_blank_values=True))
        return params, parsed

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        params, parsed = self._params(raw)
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner = self.server.owner
        if path.startswith("/response/"):
            body = parsed if parsed is not None else params
            owner._record_response(path.removeprefix("/response/"), body)
            self._send(200, b"ok", "text/plain; charset=utf-8", None)
            return
        if not path.startswith("/api/"):
            self._send(404, b"Not Found", "text/plain", None)
            return
        method = path.removeprefix("/api/").strip("/")
        status, payload, extra = owner._handle(method, params, headers)
        data = json.dumps(payload).encode()
        self._send(status, data, "application/json; charset=utf-8", extra)

    def do_GET(self) -> None:
        """Handle GET requests."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST requests."""
        self._dispatch()


class FakeSlack:
    """Real HTTP server on 127.0.0.1 answering Slack Web API methods and recording every call."""

    def __init__(self, *, tokens: Collection[str] | None = None) -> None:
        """``tokens``: if given, any other token gets ``invalid_auth`` (none: ``not_authed``)."""
        self.tokens = set(tokens) if tokens is not None else None
        self._cond = threading.Condition()
        self._calls: list[SlackCall] = []
        self._responses: list[tuple[str, Any]] = []
        self._scripted: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._posted: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self._users: dict[str, dict[str, Any]] = {}
        self._handlers: dict[str, Handler] = {}
        self._failures: dict[str, deque[tuple[str, int, dict[str, str] | None]]] = defaultdict(
            deque
        )
        self._ts_counter = 0
        self._streams: dict[str, dict[str, Any]] = {}  # ts -> {"state", "last", "text"}
        self.views: list[dict[str, Any]] = []  # views opened with views.open
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeSlack:
        """Start serving on a free port in a daemon thread."""
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.owner = self
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="FakeSlack",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the server thread."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
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
            raise RuntimeError("FakeSlack is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/`` — pass as ``WebClient(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "default") -> str:
        """A ``response_url`` pointing at this fake; posts land in ``responses_posted``."""
        return f"http://127.0.0.1:{self.port}/response/{name}"

    # -- scripting
    def set_replies(self, channel: str, thread_ts: str, messages: list[dict[str, Any]]) -> None:
        """Script the messages conversations.replies returns for a thread (before bot posts)."""
        with self._cond:
            self._scripted[(channel, thread_ts)] = [dict(m) for m in messages]

    def set_user(self, user_id: str, **fields: Any) -> None:
        """Override/extend the users.info ``user`` object for ``user_id``."""
        with self._cond:
            self._users[user_id] = fields

    def on(self, method: str, handler: Handler | None) -> None:
        """Answer ``method`` with ``handler(params) -> response dict`` (None removes it)."""
        with self._cond:
            if handler is None:
                self._handlers.pop(method, None)
            else:
                self._handlers[method] = handler

    def fail_next(
        self,
        method: str,
        error: str = "internal_error",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next call to ``method`` answer ``{"ok": false, "error": error}``.

        Use ``status=429, headers={"Retry-After": "1"}`` for a rate limit.
        """
        with self._cond:
            self._failures[method].append((error, status, headers))

    def reset(self) -> None:
        """Forget recorded calls/responses and scripted state (ts keep increasing)."""
        with self._cond:
            self._calls.clear()
            self._responses.clear()
            self._scripted.clear()
            self._posted.clear()
            self._users.clear()
            self._handlers.clear()
            self._failures.clear()
            self._streams.clear()
            self.views.clear()

    # -- recording
    @property
    def calls(self) -> list[SlackCall]:
        """Snapshot of all recorded Web API calls as ``(method, params)`` tuples."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        """Recorded calls to one method, oldest first."""
        with self._cond:
            return [c for c in self._calls if c[0] == method]

    @property
    def responses_posted(self) -> list[Any]:
        """JSON bodies POSTed to ``response_url(...)`` URLs, oldest first."""
        with self._cond:
            return [body for _, body in self._responses]

    def responses_to(self, name: str) -> list[Any]:
        """Bodies posted to ``response_url(name)``."""
        with self._cond:
            return [body for n, body in self._responses if n == name]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[SlackCall]:
        """Block until ``count`` calls to ``method`` are recorded; return all calls to it."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for c in self._calls if c[0] == method) >= count, timeout
            )
            calls = [c for c in self._calls if c[0] == method]
            if not ok:
                seen = [c[0] for c in self._calls]
                raise TimeoutError(
                    f"waited {timeout}s for {count} call(s) to {method}, got {len(calls)}; "
                    f"calls so far: {seen}"
                )
            return calls

    def wait_for_responses(self, count: int = 1, timeout: float = 5.0) -> list[Any]:
        """Block until ``count`` response_url posts are recorded; return their bodies."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._responses) >= count, timeout):
                raise TimeoutError(
                    f"waited {timeout}s for {count} response_url post(s), "
                    f"got {len(self._responses)}"
                )
            return [body for _, body in self._responses]

    # -- internals (handler threads)
    def _record_response(self, name: str, body: Any) -> None:
        problem = message_problem(body) if isinstance(body, dict) else None
        if problem:
            body = {**body, "_rejected": problem}  # Slack answers 400 on such a response_url post
        with self._cond:
            self._responses.append((name, body))
            self._cond.notify_all()

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = 1_700_000_000_000_000 + self._ts_counter * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        auth = headers.get("authorization", "")
        token: str | None = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        body_token = params.pop("token", None)
        token = token or body_token or None
        params = _decode_json_params(params)
        with self._cond:
            self._calls.append(SlackCall(method, params, headers, token))
            self._cond.notify_all()
            if not token:
                return 200, {"ok": False, "error": "not_authed"}, None
            if self.tokens is not None and token not in self.tokens:
                return 200, {"ok": False, "error": "invalid_auth"}, None
            if self._failures.get(method):
                error, status, extra = self._failures[method].popleft()
                return status, {"ok": False, "error": error}, extra
            handler = self._handlers.get(method)
            if handler is None:
                builtin = getattr(self, "_m_" + method.replace(".", "_"), None)
                if builtin is None:
                    return 200, {"ok": False, "error": "unknown_method"}, None
                return 200, builtin(params), None
        # custom handlers run outside the lock so they may call back into the fake
        return 200, handler(params), None

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": "AAPP",
            "team": TEAM_ID,
            "text": params.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if params.get(key) not in (None, ""):
                msg[key] = params[key]
        return msg

    # -- built-in methods (called with the lock held)
    def _m_api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "args": params}

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "kb",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        if problem := message_problem(params):
            return {"ok": False, "error": problem}
        ts = self._next_ts()
        msg = self._message(params, ts)
        thread_ts = str(params.get("thread_ts") or "")
        if thread_ts:
            self._posted[(channel, thread_ts)].append(msg)
        else:
            self._posted[(channel, ts)].append(msg)  # becomes the parent of its own thread
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel or not ts:
            return {"ok": False, "error": "message_not_found"}
        if problem := message_problem(params):
            return {"ok": False, "error": problem}
        updated: dict[str, Any] | None = None
        for msgs in self._posted.values():
            for msg in msgs:
                if msg["ts"] == ts:
                    for key in ("text", "blocks", "attachments", "metadata"):
                        if key in params:
                            msg[key] = params[key]
                    msg["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
                    updated = msg
        message = updated or self._message(params, str(ts))
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": params.get("text", message.get("text", "")),
            "message": message,
        }

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        if problem := message_problem(params):
            return {"ok": False, "error": problem}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        if not channel or not ts:
            return {"ok": False, "error": "message_not_found"}
        for key, msgs in self._posted.items():
            self._posted[key] = [m for m in msgs if m["ts"] != ts]
        return {"ok": True, "channel": channel, "ts": ts}

    def _m_chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel", ""), str(params.get("message_ts", ""))
        link = f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _m_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("name"):
            return {"ok": False, "error": "invalid_name"}
        return {"ok": True}

    def _m_reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._m_reactions_add(params)

    def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if not channel or not ts:
            return {"ok": False, "error": "invalid_arguments"}
        messages = [dict(m) for m in self._scripted.get((channel, ts), [])]
        messages += [dict(m) for m in self._posted.get((channel, ts), [])]
        limit = int(params.get("limit") or 0)
        has_more = bool(limit) and len(messages) > limit
        if limit:
            messages = messages[:limit]
        return {
            "ok": True,
            "messages": messages,
            "has_more": has_more,
            "response_metadata": {"next_cursor": ""},
        }

    def _m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_im": channel.startswith("D"),
                "is_channel": channel.startswith("C"),
                "is_private": channel.startswith("G"),
            },
        }

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user", ""))
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        name = user_id.lower()
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": f"User {user_id}",
            "deleted": False,
            "is_bot": user_id == BOT_USER_ID,
            "is_admin": False,
            "tz": "UTC",
            "profile": {"real_name": f"User {user_id}", "display_name": name},
        }
        user.update(self._users.get(user_id, {}))
        return {"ok": True, "user": user}

    @staticmethod
    def _assistant_problem(params: dict[str, Any]) -> str | None:
        if not params.get("channel_id") or not params.get("thread_ts"):
            return "invalid_arguments"
        return None

    def _m_assistant_threads_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        if problem := self._assistant_problem(params):
            return {"ok": False, "error": problem}
        if "status" not in params:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    def _m_assistant_threads_setSuggestedPrompts(self, params: dict[str, Any]) -> dict[str, Any]:
        prompts = params.get("prompts")
        if not params.get("channel_id") or not isinstance(prompts, list):
            return {"ok": False, "error": "invalid_arguments"}
        if not 1 <= len(prompts) <= MAX_PROMPTS:
            return {"ok": False, "error": "invalid_arguments"}  # at most 4 prompts
        if any(not p.get("title") or not p.get("message") for p in prompts):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    def _m_assistant_threads_setTitle(self, params: dict[str, Any]) -> dict[str, Any]:
        if problem := self._assistant_problem(params):
            return {"ok": False, "error": problem}
        if not params.get("title"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    def _m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            return {"ok": False, "error": "invalid_arguments"}
        if block_problem(view.get("blocks")) is not None:
            return {"ok": False, "error": "invalid_blocks"}
        if (
            len(_text_of(view.get("title"))) > 24
            or len(str(view.get("private_metadata", ""))) > 3000
        ):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = f"V{len(self.views) + 1:06d}"
        self.views.append(view)
        return {"ok": True, "view": {**view, "id": view_id}}

    # -- streaming (chat.startStream / appendStream / stopStream, October 2025)
    @staticmethod
    def _chunks_text(params: dict[str, Any]) -> tuple[str, str | None]:
        """The markdown text a stream call carries (markdown_text and markdown_text chunks)."""
        text = str(params.get("markdown_text") or "")
        chunks = params.get("chunks") or []
        if not isinstance(chunks, list):
            return text, "invalid_chunks"
        for chunk in chunks:
            if not isinstance(chunk, dict) or not chunk.get("type"):
                return text, "invalid_chunks"
            if chunk["type"] == "markdown_text":
                text += str(chunk.get("text", ""))
        if len(text) > MAX_STREAM_TEXT:
            return text, "msg_too_long"
        return text, None

    def _m_chat_startStream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("thread_ts"):
            return {"ok": False, "error": "invalid_arguments"}  # streams reply in a thread
        if channel[:1] in "CG" and not (
            params.get("recipient_user_id") and params.get("recipient_team_id")
        ):
            return {"ok": False, "error": "invalid_arguments"}  # required in channels
        text, problem = self._chunks_text(params)
        if problem:
            return {"ok": False, "error": problem}
        ts = self._next_ts()
        msg = self._message({"text": text, "thread_ts": params["thread_ts"]}, ts)
        self._posted[(channel, str(params["thread_ts"]))].append(msg)
        self._streams[ts] = {"state": "streaming", "last": None, "msg": msg}  # last append
        return {"ok": True, "channel": channel, "ts": ts}

    def _stream(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        stream = self._streams.get(str(params.get("ts") or ""))
        if not params.get("channel") or stream is None:
            return None, "message_not_found"
        if stream["state"] != "streaming":
            return None, "message_not_in_streaming_state"
        return stream, None

    def _m_chat_appendStream(self, params: dict[str, Any]) -> dict[str, Any]:
        stream, problem = self._stream(params)
        if stream is None:
            return {"ok": False, "error": problem}
        text, problem = self._chunks_text(params)
        if problem or not text:
            return {"ok": False, "error": problem or "invalid_arguments"}
        now = time.monotonic()
        if stream["last"] is not None and now - stream["last"] < STREAM_MIN_INTERVAL:
            return {"ok": False, "error": "ratelimited"}
        stream["last"] = now
        stream["msg"]["text"] += text
        return {"ok": True, "channel": params["channel"], "ts": params["ts"]}

    def _m_chat_stopStream(self, params: dict[str, Any]) -> dict[str, Any]:
        stream, problem = self._stream(params)
        if stream is None:
            return {"ok": False, "error": problem}
        text, problem = self._chunks_text(params)
        if problem is None and block_problem(params.get("blocks")) is not None:
            problem = "invalid_blocks"
        if problem:
            return {"ok": False, "error": problem}
        stream["state"] = "completed"
        stream["msg"]["text"] += text
        if params.get("blocks"):
            stream["msg"]["blocks"] = params["blocks"]
        return {
            "ok": True,
            "channel": params["channel"],
            "ts": params["ts"],
            "message": dict(stream["msg"]),
        }

    def streamed_text(self, ts: str) -> str:
        """The whole text of a streamed message so far."""
        with self._cond:
            return str(self._streams[ts]["msg"]["text"])
